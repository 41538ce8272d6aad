package interop

// A spoofed first-message flood for the gateway's flood defence tests
// (flood_test.go): from inside an attacker namespace linked to the
// gateway's, UDP datagrams to the gateway's IKE port with random source
// addresses of FloodSpoofPrefix and random source ports, written with our
// own IPv4 header on a raw socket (IPPROTO_RAW implies IP_HDRINCL). The
// gateway's namespace routes FloodSpoofPrefix back over the attacker link,
// where an nftables counter counts whatever the gateway answers (it would
// reach the spoofed victims) and drops it.

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"ikegate/isakmp"
	"ikegate/oakley"
	"ikegate/policy"
)

// Addresses of the attacker link (added to a lab by AddFloodAttacker).
const (
	FloodAttackerAddr = "10.250.0.1" // in the attacker namespace, interface FloodIface
	FloodGateAddr     = "10.250.0.2" // in the gateway's namespace, interface FloodIface
	FloodIface        = "atk0"
	// FloodSpoofPrefix is the range spoofed sources are drawn from
	// (RFC 2544 benchmarking addresses): the gateway's namespace routes
	// it to the attacker, which counts and drops it.
	FloodSpoofPrefix = "198.18.0.0/15"
)

// FloodKind is the first message a flood sends.
type FloodKind int

const (
	FloodIKEv1Main       FloodKind = iota // IKEv1 Main Mode message 1 (SA)
	FloodIKEv1Aggressive                  // IKEv1 Aggressive Mode message 1 (SA, KE, Ni, IDii KEY_ID)
	FloodIKEv2Init                        // IKEv2 IKE_SA_INIT request (SA, KE, Ni)
)

func (k FloodKind) String() string {
	switch k {
	case FloodIKEv1Main:
		return "IKEv1 Main Mode message 1"
	case FloodIKEv1Aggressive:
		return "IKEv1 Aggressive Mode message 1"
	case FloodIKEv2Init:
		return "IKEv2 IKE_SA_INIT request"
	}
	return "flood kind " + strconv.Itoa(int(k))
}

// FloodConfig describes one flood.
type FloodConfig struct {
	Kind     FloodKind
	Dst      netip.Addr // the gateway's IKE address
	DstPort  uint16     // 0: 500
	Src      netip.Prefix
	Rate     int           // datagrams per second
	Duration time.Duration // how long to send
	// IKE is the proposal offered, strongSwan syntax (default
	// "aes256-sha256-modp2048"); its DH group must be a MODP or ECP
	// group oakley knows (the KE payload is computed once).
	IKE string
	// KeyID is the Aggressive Mode identity (ID_KEY_ID) of message 1.
	KeyID string
	// Payloads is how many distinct messages are precomputed (default
	// 256); every datagram also gets its own random initiator cookie/SPI.
	Payloads int
}

// FloodPayloads precomputes the distinct first messages of cfg (IKE header
// on; bytes 0..7, the initiator cookie/SPI, are overwritten per datagram).
func FloodPayloads(cfg FloodConfig) ([][]byte, error) {
	ikeS := cfg.IKE
	if ikeS == "" {
		ikeS = "aes256-sha256-modp2048"
	}
	prop, err := oakley.ParseProposal(ikeS, false)
	if err != nil {
		return nil, err
	}
	n := cfg.Payloads
	if n <= 0 {
		n = 256
	}
	dhT, _ := prop.First(oakley.TransformDH)
	var pub []byte
	if cfg.Kind != FloodIKEv1Main {
		// One valid public value for every message: the gateway may
		// compute with it, and it costs the generator nothing per packet.
		dh, err := oakley.NewKeyExchange(dhT.ID, rand.Reader)
		if err != nil {
			return nil, err
		}
		pub = dh.PublicKey()
	}
	out := make([][]byte, 0, n)
	for range n {
		var spi [8]byte
		rand.Read(spi[:])
		nonce := make([]byte, 32)
		rand.Read(nonce)
		var b []byte
		switch cfg.Kind {
		case FloodIKEv1Main, FloodIKEv1Aggressive:
			trs, err := floodV1Transforms(prop)
			if err != nil {
				return nil, err
			}
			ps := []isakmp.V1Payload{&isakmp.V1SA{DOI: isakmp.V1DOIIPsec, Situation: isakmp.V1SitIdentityOnly,
				Proposals: []isakmp.V1Proposal{{Num: 1, ProtocolID: isakmp.V1ProtocolISAKMP, Transforms: trs}}}}
			x := isakmp.ExchangeV1Main
			if cfg.Kind == FloodIKEv1Aggressive {
				if cfg.KeyID == "" {
					return nil, fmt.Errorf("flood: Aggressive Mode needs a KeyID")
				}
				x = isakmp.ExchangeV1Aggressive
				ps = append(ps, &isakmp.V1KE{Data: pub}, &isakmp.V1Nonce{Data: nonce},
					&isakmp.V1ID{IDType: uint8(policy.IDKeyID), Data: []byte(cfg.KeyID)})
			} else {
				// Main Mode message 1 is the SA alone: a random vendor ID
				// makes the precomputed messages distinct.
				ps = append(ps, &isakmp.V1VendorID{Data: nonce[:16]})
			}
			m := isakmp.V1Message{Header: isakmp.Header{SPIi: binary.BigEndian.Uint64(spi[:]), MajorVersion: 1, Exchange: x},
				Payloads: ps}
			b, err = m.TryMarshal()
			if err != nil {
				return nil, err
			}
		case FloodIKEv2Init:
			wp := isakmp.Proposal{Num: 1, Protocol: isakmp.ProtocolIKE}
			for _, t := range prop.Transforms {
				wt := isakmp.Transform{Type: uint8(t.Type), ID: t.ID}
				if t.KeyLen != 0 {
					wt.Attrs = []isakmp.Attribute{{Type: isakmp.AttrKeyLength, TV: true, TVValue: t.KeyLen}}
				}
				wp.Transforms = append(wp.Transforms, wt)
			}
			m := isakmp.Message{Header: isakmp.Header{SPIi: binary.BigEndian.Uint64(spi[:]), MajorVersion: 2,
				Exchange: isakmp.ExchangeIKESAInit, Flags: isakmp.FlagInitiator},
				Payloads: []isakmp.Payload{&isakmp.SA{Proposals: []isakmp.Proposal{wp}},
					&isakmp.KE{Group: dhT.ID, Data: pub}, &isakmp.Nonce{Data: nonce}}}
			b, err = m.TryMarshal()
			if err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("flood: unknown kind %d", cfg.Kind)
		}
		out = append(out, b)
	}
	return out, nil
}

// floodV1Transforms is prop as one IKEv1 phase 1 transform with PSK
// authentication (as ikev1's phase1Transforms writes it).
func floodV1Transforms(prop oakley.Proposal) ([]isakmp.V1Transform, error) {
	encr, _ := prop.First(oakley.TransformENCR)
	prf, _ := prop.First(oakley.TransformPRF)
	dh, _ := prop.First(oakley.TransformDH)
	encID, keyLen, err := oakley.V1EncrFromTransform(encr)
	if err != nil {
		return nil, err
	}
	hash, err := oakley.V1HashFromPRF(prf.ID)
	if err != nil {
		return nil, err
	}
	attrs := []isakmp.Attribute{isakmp.V1AttrTV(isakmp.V1IKEAttrEncryption, encID)}
	if keyLen != 0 {
		attrs = append(attrs, isakmp.V1AttrTV(isakmp.V1IKEAttrKeyLength, keyLen))
	}
	attrs = append(attrs,
		isakmp.V1AttrTV(isakmp.V1IKEAttrHash, hash),
		isakmp.V1AttrTV(isakmp.V1IKEAttrAuthMethod, oakley.V1AuthPSK),
		isakmp.V1AttrTV(isakmp.V1IKEAttrGroupDesc, dh.ID),
		isakmp.V1AttrTV(isakmp.V1IKEAttrLifeType, isakmp.V1LifeSeconds),
		isakmp.V1AttrUint(isakmp.V1IKEAttrLifeDuration, 28800),
	)
	return []isakmp.V1Transform{{Num: 1, ID: isakmp.V1KeyIKE, Attrs: attrs}}, nil
}

// FloodResult is what a flood did.
type FloodResult struct {
	Sent    uint64 // datagrams the kernel took
	Bytes   uint64 // their IKE bytes (from the IKE header on)
	Errors  uint64 // sendto failures (e.g. ENOBUFS)
	Elapsed time.Duration
	Err     error // the flood could not run at all
}

// Flood is a running flood.
type Flood struct {
	Cfg  FloodConfig
	sent atomic.Uint64
	stop chan struct{}
	once sync.Once
	done chan struct{}
	res  FloodResult
}

// Sent is the number of datagrams sent so far.
func (f *Flood) Sent() uint64 { return f.sent.Load() }

// Stop ends the flood early; Wait still returns its result.
func (f *Flood) Stop() { f.once.Do(func() { close(f.stop) }) }

// Wait waits until the flood is over.
func (f *Flood) Wait() FloodResult { <-f.done; return f.res }

// StartFlood opens a raw socket in namespace ns and sends cfg's datagrams
// from a goroutine until cfg.Duration has passed or Stop is called.
func StartFlood(ns string, cfg FloodConfig) (*Flood, error) {
	if cfg.DstPort == 0 {
		cfg.DstPort = 500
	}
	if !cfg.Dst.Is4() || !cfg.Src.Addr().Is4() || cfg.Src.Bits() < 1 || cfg.Rate <= 0 {
		return nil, fmt.Errorf("flood: need an IPv4 Dst, an IPv4 Src prefix and a Rate: %+v", cfg)
	}
	payloads, err := FloodPayloads(cfg)
	if err != nil {
		return nil, err
	}
	var fd int
	if err := InNetns(ns, func() error {
		var err error
		// IPPROTO_RAW: send only, IP_HDRINCL implied (raw(7)); the
		// kernel fills in the total length, the header checksum and an
		// ID of 0, and routes by the destination; it does not check the
		// source address.
		fd, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.IPPROTO_RAW)
		return err
	}); err != nil {
		return nil, fmt.Errorf("flood: raw socket in %s: %w", ns, err)
	}
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4<<20)
	// Whole packets, built once: IPv4 header (20), UDP header (8), IKE.
	pkts := make([][]byte, len(payloads))
	dst := cfg.Dst.As4()
	for i, p := range payloads {
		b := make([]byte, 28+len(p))
		b[0], b[8], b[9] = 0x45, 64, syscall.IPPROTO_UDP
		copy(b[16:20], dst[:])
		binary.BigEndian.PutUint16(b[22:], cfg.DstPort)
		binary.BigEndian.PutUint16(b[24:], uint16(8+len(p)))
		// UDP checksum 0: none (allowed over IPv4), so patching the
		// source and the cookie needs no recomputation.
		copy(b[28:], p)
		pkts[i] = b
	}
	f := &Flood{Cfg: cfg, stop: make(chan struct{}), done: make(chan struct{})}
	go f.run(fd, pkts)
	return f, nil
}

func (f *Flood) run(fd int, pkts [][]byte) {
	defer close(f.done)
	defer syscall.Close(fd)
	cfg := f.Cfg
	rng := mrand.New(mrand.NewPCG(mrand.Uint64(), mrand.Uint64()))
	base := binary.BigEndian.Uint32(cfg.Src.Masked().Addr().AsSlice())
	hostMask := uint32(1)<<(32-cfg.Src.Bits()) - 1
	to := &syscall.SockaddrInet4{Addr: cfg.Dst.As4()}
	start := time.Now()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	var sent, errs, nbytes uint64
	for {
		el := time.Since(start)
		if el >= cfg.Duration {
			break
		}
		want := uint64(el.Seconds() * float64(cfg.Rate))
		for sent+errs < want {
			b := pkts[rng.IntN(len(pkts))]
			host := rng.Uint32() & hostMask
			if host == 0 || host == hostMask {
				host = 1
			}
			binary.BigEndian.PutUint32(b[12:], base|host)
			sport := uint16(1024 + rng.IntN(65535-1024))
			if sport == 4500 {
				sport = 4501
			}
			binary.BigEndian.PutUint16(b[20:], sport)
			cky := rng.Uint64() | 1 // never zero
			binary.BigEndian.PutUint64(b[28:], cky)
			if err := syscall.Sendto(fd, b, 0, to); err != nil {
				errs++
				if errs > 1000 && sent == 0 {
					f.res = FloodResult{Errors: errs, Elapsed: time.Since(start), Err: fmt.Errorf("flood: sendto: %w", err)}
					return
				}
				continue
			}
			sent++
			nbytes += uint64(len(b) - 28)
			f.sent.Store(sent)
		}
		select {
		case <-f.stop:
			f.res = FloodResult{Sent: sent, Bytes: nbytes, Errors: errs, Elapsed: time.Since(start)}
			return
		case <-tick.C:
		}
	}
	f.res = FloodResult{Sent: sent, Bytes: nbytes, Errors: errs, Elapsed: time.Since(start)}
}

// FloodAttacker is the attacker namespace of a lab.
type FloodAttacker struct {
	NS string
	// GateNS is the namespace it is linked to (the gateway's).
	GateNS string
}

// AddFloodAttacker creates an attacker namespace linked to gateNS
// (FloodAttackerAddr === FloodGateAddr on FloodIface), routes the lab
// subnet from the attacker and FloodSpoofPrefix from gateNS over the
// link, and installs in the attacker namespace an nftables counter of the
// packets arriving for FloodSpoofPrefix, which are then dropped.
func (l *Lab) AddFloodAttacker(t testing.TB, gateNS string) *FloodAttacker {
	t.Helper()
	ns := l.NewNamespace(t, "a")
	l.Link(t, ns, FloodIface, FloodAttackerAddr+"/30", gateNS, FloodIface, FloodGateAddr+"/30")
	MustRun(t, IPCmd, "-n", ns, "route", "add", fmt.Sprintf("10.200.0.0/%d", LabPrefix), "via", FloodGateAddr)
	MustRun(t, IPCmd, "-n", gateNS, "route", "add", FloodSpoofPrefix, "via", FloodAttackerAddr)
	// Spoofed sources arrive where their route points, so even a strict
	// reverse path filter lets them in; no forwarding in the attacker.
	rules := fmt.Sprintf(`table ip ikgflood {
	counter reflected { }
	chain pre {
		type filter hook prerouting priority raw; policy accept;
		ip daddr %s counter name "reflected" drop
	}
}
`, FloodSpoofPrefix)
	dir := shortTempDir(t, "flood-")
	path := filepath.Join(dir, "attacker.nft")
	if err := os.WriteFile(path, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	MustRun(t, IPCmd, "netns", "exec", ns, "nft", "-f", path)
	return &FloodAttacker{NS: ns, GateNS: gateNS}
}

var nftCounterRE = regexp.MustCompile(`packets (\d+) bytes (\d+)`)

// Reflected returns the packets and bytes that reached the attacker for
// FloodSpoofPrefix: what the gateway sent to the spoofed sources.
func (a *FloodAttacker) Reflected() (pkts, bytes uint64, err error) {
	out, err := runOut(IPCmd, "netns", "exec", a.NS, "nft", "list", "counter", "ip", "ikgflood", "reflected")
	if err != nil {
		return 0, 0, fmt.Errorf("nft list counter: %v: %s", err, out)
	}
	m := nftCounterRE.FindStringSubmatch(out)
	if m == nil {
		return 0, 0, fmt.Errorf("nft list counter: no packets/bytes in %q", out)
	}
	pkts, _ = strconv.ParseUint(m[1], 10, 64)
	bytes, _ = strconv.ParseUint(m[2], 10, 64)
	return pkts, bytes, nil
}

// Start starts a flood from the attacker namespace to dst with sources
// from FloodSpoofPrefix.
func (a *FloodAttacker) Start(cfg FloodConfig) (*Flood, error) {
	if !cfg.Src.IsValid() {
		cfg.Src = netip.MustParsePrefix(FloodSpoofPrefix)
	}
	return StartFlood(a.NS, cfg)
}
