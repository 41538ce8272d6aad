package gateway

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"ikegate/kernel"
	"ikegate/policy"
)

// trapBackend is the "none" backend plus an event stream and trap
// bookkeeping, so the gateway's trap logic runs without a kernel.
type trapBackend struct {
	kernel.Backend
	evs chan kernel.Event // unbuffered: a send returns once the gateway took it

	mu    sync.Mutex
	traps map[string]uint32
}

func newTrapBackend(t *testing.T) *trapBackend {
	kb, err := kernel.New("none", nil)
	if err != nil {
		t.Fatal(err)
	}
	return &trapBackend{Backend: kb, evs: make(chan kernel.Event), traps: map[string]uint32{}}
}

func (b *trapBackend) Events() <-chan kernel.Event { return b.evs }

func (b *trapBackend) Capabilities() policy.Capabilities {
	return policy.Capabilities{Traps: true, Events: true}
}

func (b *trapBackend) InstallTrap(c *policy.Connection, reqid uint32) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.traps[c.Name] = reqid
	return nil
}

func (b *trapBackend) RemoveTrap(c *policy.Connection) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.traps, c.Name)
	return nil
}

func (b *trapBackend) trap(name string) uint32 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.traps[name]
}

// runGateway runs a gateway on b until the end of the test.
func runGateway(t *testing.T, cfg *policy.Config, log *zap.Logger, b policy.Dataplane) *Gateway {
	t.Helper()
	return runGatewayOpts(t, cfg, log, b)
}

// runGatewayOpts is runGateway with more options.
func runGatewayOpts(t *testing.T, cfg *policy.Config, log *zap.Logger, b policy.Dataplane, opts ...Option) *Gateway {
	t.Helper()
	g, err := New(cfg, log, append([]Option{WithBackend(b)}, opts...)...)
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	<-g.Ready()
	return g
}

// trapConfig has one trapped IKEv2 connection, site-b, to a peer that is
// not there (127.0.0.2), and retransmits slowly enough that its IKE SA
// stays CONNECTING for the whole test.
func trapConfig(t *testing.T) *policy.Config {
	cfg := testConfig(t)
	cfg.Gateway.Control = ""
	cfg.Gateway.RetransmitBase = 10 * time.Second
	c := cfg.Connections[0]
	c.Start = policy.StartTrap
	c.RemoteAddr = netip.MustParseAddr("127.0.0.2")
	return cfg
}

func ikeSAsOf(t *testing.T, g *Gateway, name string) []policy.IKESAInfo {
	t.Helper()
	sas, err := g.SAs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []policy.IKESAInfo
	for _, sa := range sas {
		if sa.Name == name {
			out = append(out, sa)
		}
	}
	return out
}

func TestTrapAcquireInitiatesOnce(t *testing.T) {
	cfg := trapConfig(t)
	b := newTrapBackend(t)
	g := runGateway(t, cfg, zaptest.NewLogger(t, zaptest.Level(zap.DebugLevel)), b)

	reqid := b.trap("site-b")
	if reqid != 1 {
		t.Fatalf("trap reqid %d, want %d (installed before Ready?)", reqid, 1)
	}
	if b.trap("legacy") != 0 {
		t.Fatal("a start = none connection was trapped")
	}
	if n := len(ikeSAsOf(t, g, "site-b")); n != 0 {
		t.Fatalf("%d IKE SAs before any traffic", n)
	}

	acq := kernel.Event{
		Kind: kernel.EventAcquire, ReqID: reqid, Proto: 17,
		Src: netip.MustParseAddr("127.0.0.1"), Dst: netip.MustParseAddr("127.0.0.2"),
		LocalTS: netip.MustParsePrefix("10.1.0.5/32"), RemoteTS: netip.MustParsePrefix("10.2.0.9/32"),
		LocalPort: 40000, RemotePort: 53,
	}
	b.evs <- acq
	waitFor(t, "an IKE SA for site-b and an IKE_SA_INIT sent", func() bool {
		sas := ikeSAsOf(t, g, "site-b")
		return len(sas) == 1 && sas[0].State == "CONNECTING" && sas[0].Initiator &&
			g.Stats(context.Background()).PacketsOut["ikev2"] >= 1
	})

	// More acquires while it negotiates: no second initiation. A send
	// on the unbuffered channel returns only after the previous event
	// was handled, so the last (a soft expire) fences the acquires.
	other := acq
	other.ReqID, other.RemoteTS = 12345, netip.MustParsePrefix("192.168.0.1/32")
	bySelector := acq
	bySelector.ReqID = 4242 // e.g. a CHILD SA's policy whose state expired
	for _, ev := range []kernel.Event{acq, acq, other, bySelector, {Kind: kernel.EventSoftExpire, SPI: 1}} {
		b.evs <- ev
	}
	if sas := ikeSAsOf(t, g, "site-b"); len(sas) != 1 {
		t.Fatalf("%d IKE SAs for site-b after repeated acquires, want 1", len(sas))
	}
	if out := g.Stats(context.Background()).PacketsOut["ikev2"]; out != 1 {
		t.Fatalf("packets_out ikev2 = %d, want 1 (one IKE_SA_INIT)", out)
	}
	if all, _ := g.SAs(context.Background()); len(all) != 1 {
		t.Fatalf("%d IKE SAs in all, want 1", len(all))
	}
}

func TestTrapMatch(t *testing.T) {
	c := &policy.Connection{
		Name: "x", LocalAddr: netip.MustParseAddr("192.0.2.1"), RemoteAddr: netip.MustParseAddr("192.0.2.2"),
		LocalTS:  []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")},
		RemoteTS: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/16")},
	}
	h := &policy.Connection{Name: "h", LocalAddr: netip.MustParseAddr("192.0.2.1"), RemoteAddr: netip.MustParseAddr("192.0.2.3")}
	tt := &trapTable{byReqID: map[uint32]*policy.Connection{1: c, 2: h}}
	ev := func(reqid uint32, src, dst, l, r string) kernel.Event {
		return kernel.Event{Kind: kernel.EventAcquire, ReqID: reqid, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst),
			LocalTS: netip.MustParsePrefix(l), RemoteTS: netip.MustParsePrefix(r)}
	}
	for _, tc := range []struct {
		name string
		ev   kernel.Event
		want string
	}{
		{"by reqid", ev(1, "192.0.2.1", "192.0.2.2", "10.9.0.1/32", "10.9.0.2/32"), "x"},
		{"by selector", ev(7, "192.0.2.1", "192.0.2.2", "10.1.3.4/32", "10.2.0.0/24"), "x"},
		{"host-to-host by selector", ev(7, "192.0.2.1", "192.0.2.3", "192.0.2.1/32", "192.0.2.3/32"), "h"},
		{"selector wider than the trap", ev(7, "192.0.2.1", "192.0.2.2", "10.1.0.0/15", "10.2.0.1/32"), ""},
		{"other endpoints", ev(7, "192.0.2.1", "192.0.2.9", "10.1.3.4/32", "10.2.0.1/32"), ""},
		{"outside the selectors", ev(7, "192.0.2.1", "192.0.2.2", "10.1.3.4/32", "10.3.0.1/32"), ""},
	} {
		got := ""
		if c := tt.match(tc.ev); c != nil {
			got = c.Name
		}
		if got != tc.want {
			t.Errorf("%s: matched %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestTrapNeedsXfrm: a backend without traps (here "none") logs, per
// trapped connection, that start = "trap" needs dataplane = "xfrm".
func TestTrapNeedsXfrm(t *testing.T) {
	cfg := trapConfig(t)
	core, logs := observer.New(zapcore.InfoLevel)
	kb, err := kernel.New("none", nil)
	if err != nil {
		t.Fatal(err)
	}
	runGateway(t, cfg, zap.New(core), kb)
	waitFor(t, "the trap error", func() bool {
		for _, e := range logs.FilterLevelExact(zapcore.ErrorLevel).All() {
			if strings.Contains(e.Message, `start = "trap" needs dataplane = "xfrm"`) && e.ContextMap()["conn"] == "site-b" &&
				e.ContextMap()["dataplane"] == "none" {
				return true
			}
		}
		return false
	})
}
