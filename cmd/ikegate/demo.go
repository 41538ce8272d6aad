package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"ikegate/gateway"
	"ikegate/kernel"
	"ikegate/oakley"
	"ikegate/policy"
)

// demoTunnel is one tunnel the demo negotiates from A (initiator) to B
// (responder).
type demoTunnel struct {
	name    string
	version policy.Version
	ike     string // strongSwan-style proposal
	esp     string
	localTS string // A's side; B mirrors
	peerTS  string
}

var demoTunnels = []demoTunnel{
	{name: "demo-ikev2", version: policy.IKEv2, ike: "aes128gcm16-prfsha256-x25519", esp: "aes128gcm16",
		localTS: "10.1.0.0/24", peerTS: "10.2.0.0/24"},
	{name: "demo-ikev1", version: policy.IKEv1, ike: "aes256-sha256-modp2048", esp: "aes256-sha256",
		localTS: "10.1.1.0/24", peerTS: "10.2.1.0/24"},
}

type demoSide struct {
	label string
	addr  netip.Addr
	id    string
	g     *gateway.Gateway
}

func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo", stderr)
	addrA := fs.String("addr-a", "127.0.0.1", "`ADDRESS` of gateway A (initiator)")
	addrB := fs.String("addr-b", "127.0.0.2", "`ADDRESS` of gateway B (responder)")
	ikePort := fs.Int("ike-port", 15500, "IKE `PORT` of both gateways")
	nattPort := fs.Int("natt-port", 15501, "NAT-T `PORT` of both gateways")
	workers := fs.Int("workers", 2, "`N` SA shards per gateway")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the tunnels (a `DURATION`: 10s, 1m)")
	level := fs.String("log-level", "warn", "log `LEVEL` of both gateways (debug, info, warn, error)")
	if code, ok := noPositional(fs, args); !ok {
		return code
	}
	a, errA := netip.ParseAddr(*addrA)
	b, errB := netip.ParseAddr(*addrB)
	if err := errors.Join(errA, errB); err != nil {
		fmt.Fprintf(stderr, "ikegate demo: %v\n", err)
		return exitUsage
	}
	log, err := newLogger(*level, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "ikegate demo: %v\n", err)
		return exitUsage
	}
	defer log.Sync()

	sides := []*demoSide{{label: "A", addr: a, id: "a.demo.ikegate"}, {label: "B", addr: b, id: "b.demo.ikegate"}}
	var conns [2][]*policy.Connection
	for _, t := range demoTunnels {
		ca, cb, err := t.connections(sides[0], sides[1])
		if err != nil {
			fmt.Fprintf(stderr, "ikegate demo: %s: %v\n", t.name, err)
			return exitFailure
		}
		conns[0] = append(conns[0], ca)
		conns[1] = append(conns[1], cb)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for i, s := range sides {
		cfg := &policy.Config{
			File: "demo-" + s.label,
			Gateway: policy.Gateway{
				Listen: []netip.Addr{s.addr}, IKEPort: *ikePort, NATTPort: *nattPort,
				Dataplane: "none", LogLevel: *level,
				CookieThreshold: 100, RetransmitTries: 5, RetransmitBase: 500 * time.Millisecond,
				Workers: *workers,
			},
			Connections: conns[i],
		}
		glog := log.Named(s.label)
		kb, err := kernel.New("none", glog)
		if err != nil {
			fmt.Fprintf(stderr, "ikegate demo: %v\n", err)
			return exitFailure
		}
		g, err := gateway.New(cfg, glog, gateway.WithBackend(kb))
		if err != nil {
			kb.Close()
			fmt.Fprintf(stderr, "ikegate demo: gateway %s: %v\n", s.label, err)
			if strings.Contains(err.Error(), "assign requested address") {
				fmt.Fprintf(stderr, "(is %s a loopback address on this host? try --addr-b)\n", s.addr)
			}
			return exitFailure
		}
		s.g = g
		wg.Go(func() {
			if err := g.Run(ctx); err != nil {
				glog.Error("gateway stopped with an error", zap.Error(err))
			}
		})
	}
	for _, s := range sides {
		<-s.g.Ready()
	}

	fmt.Fprintf(stdout, "gateway A %s, gateway B %s, ports %d/%d\n", a, b, *ikePort, *nattPort)
	for _, t := range demoTunnels {
		fmt.Fprintf(stdout, "initiating %s (%s, ike %s, esp %s) from A to B\n", t.name, t.version, t.ike, t.esp)
		if err := sides[0].g.Up(ctx, t.name); err != nil {
			fmt.Fprintf(stderr, "ikegate demo: %v\n", err)
			return exitFailure
		}
	}

	deadline := time.Now().Add(*timeout)
	var missing []string
	for {
		missing = missing[:0]
		for _, s := range sides {
			sas, err := s.g.SAs(ctx)
			if err != nil {
				fmt.Fprintf(stderr, "ikegate demo: %v\n", err)
				return exitFailure
			}
			for _, t := range demoTunnels {
				if state := tunnelState(sas, t.name); state != "ESTABLISHED" {
					missing = append(missing, fmt.Sprintf("%s on %s is %s", t.name, s.label, state))
				}
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}

	for _, s := range sides {
		sas, err := s.g.SAs(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "ikegate demo: %v\n", err)
			return exitFailure
		}
		fmt.Fprintf(stdout, "\n== gateway %s (%s) ==\n", s.label, s.addr)
		writeSAs(stdout, sas)
	}
	if len(missing) > 0 {
		fmt.Fprintf(stderr, "\nikegate demo: not established after %v: %s\n", *timeout, strings.Join(missing, "; "))
		for _, s := range sides {
			st := s.g.Stats(ctx)
			fmt.Fprintf(stderr, "gateway %s: packets in %v, out %v, drops %v, ikev2 %v\n",
				s.label, nonZero(st.PacketsIn), nonZero(st.PacketsOut), nonZero(st.Drops), nonZero(st.IKEv2))
		}
		fmt.Fprintln(stderr, "(rerun with --log-level debug for the negotiation)")
		return exitFailure
	}
	fmt.Fprintf(stdout, "\nall %d demo tunnel(s) established\n", len(demoTunnels))
	return exitOK
}

// connections returns the two ends of t: A initiates, B responds.
func (t demoTunnel) connections(a, b *demoSide) (*policy.Connection, *policy.Connection, error) {
	ike, err := oakley.ParseProposal(t.ike, false)
	if err != nil {
		return nil, nil, err
	}
	esp, err := oakley.ParseProposal(t.esp, true)
	if err != nil {
		return nil, nil, err
	}
	psk := make([]byte, 32)
	if _, err := rand.Read(psk); err != nil {
		return nil, nil, err
	}
	lts, err := netip.ParsePrefix(t.localTS)
	if err != nil {
		return nil, nil, err
	}
	rts, err := netip.ParsePrefix(t.peerTS)
	if err != nil {
		return nil, nil, err
	}
	mk := func(self, peer *demoSide, own, other netip.Prefix) *policy.Connection {
		return &policy.Connection{
			Name:       t.name,
			Version:    t.version,
			LocalAddr:  self.addr,
			RemoteAddr: peer.addr,
			LocalID:    policy.Identity{Type: policy.IDFQDN, Data: []byte(self.id)},
			RemoteID:   policy.Identity{Type: policy.IDFQDN, Data: []byte(peer.id)},
			Auth:       policy.AuthPSK,
			PSK:        psk,
			IKE:        []oakley.Proposal{ike},
			ESP:        []oakley.Proposal{esp},
			LocalTS:    []netip.Prefix{own},
			RemoteTS:   []netip.Prefix{other},
			Start:      policy.StartNone, // the demo initiates explicitly
		}
	}
	return mk(a, b, lts, rts), mk(b, a, rts, lts), nil
}

// tunnelState is the state of the IKE SA of connection name ("no IKE SA"
// if there is none; ESTABLISHED wins if there are several).
func tunnelState(sas []policy.IKESAInfo, name string) string {
	state := "no IKE SA"
	for _, sa := range sas {
		if sa.Name != name {
			continue
		}
		if sa.State == "ESTABLISHED" {
			return sa.State
		}
		state = sa.State
	}
	return state
}

func nonZero(m map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}
