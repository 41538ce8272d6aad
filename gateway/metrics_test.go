package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"ikegate/kernel"
	"ikegate/policy"
)

// metricsBackend is a "none" backend whose installed CHILD SAs have
// traffic counters the test sets (as xfrm and userspace count), and
// dataplane drop counters.
type metricsBackend struct {
	policy.Dataplane
	mu       sync.Mutex
	traffic  map[uint32]policy.ChildCounters
	unread   bool // Counters fails (as after the kernel expired the SA)
	installs map[uint32]bool
}

func newMetricsBackend(t *testing.T) *metricsBackend {
	dp, err := kernel.New("none", nil)
	if err != nil {
		t.Fatal(err)
	}
	return &metricsBackend{Dataplane: dp, traffic: map[uint32]policy.ChildCounters{}, installs: map[uint32]bool{}}
}

func (b *metricsBackend) Capabilities() policy.Capabilities {
	c := b.Dataplane.Capabilities()
	c.Counters, c.Drops = true, true
	return c
}

func (b *metricsBackend) AddChildSA(sa *policy.ChildSA) error {
	if err := b.Dataplane.AddChildSA(sa); err != nil {
		return err
	}
	b.mu.Lock()
	b.installs[sa.SPIIn] = true
	b.mu.Unlock()
	return nil
}

func (b *metricsBackend) DelChildSA(sa *policy.ChildSA) error {
	b.mu.Lock()
	delete(b.installs, sa.SPIIn)
	b.mu.Unlock()
	return b.Dataplane.DelChildSA(sa)
}

func (b *metricsBackend) Counters(spi uint32) (policy.ChildCounters, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.installs[spi] || b.unread {
		return policy.ChildCounters{}, false
	}
	return b.traffic[spi], true
}

func (b *metricsBackend) set(spi uint32, in, out uint64) {
	b.mu.Lock()
	b.traffic[spi] = policy.ChildCounters{InBytes: in, InPackets: in / 100, OutBytes: out, OutPackets: out / 100}
	b.mu.Unlock()
}

func (b *metricsBackend) Stats() policy.DataplaneStats {
	return policy.DataplaneStats{InUnknownSPI: 7, OutNoSA: 3}
}

// TUNQueueReads: two TUN queues (policy.TUNQueueCounter).
func (b *metricsBackend) TUNQueueReads() []uint64 { return []uint64{11, 13} }

// scrape GETs url and returns the exposition text.
func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, b)
	}
	return string(b)
}

// sample returns the value of the sample with exactly this name and
// labels (sorted by name, as client_golang writes them), or "" if absent.
func sample(text, series string) string {
	for line := range strings.SplitSeq(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

// TestMetricsEndpoint brings an IKEv2 SA up with a gateway serving
// metrics_listen and checks what /metrics reports, before and after the
// CHILD SA goes away.
func TestMetricsEndpoint(t *testing.T) {
	gw, peer := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.3")
	port := freePortTB(t, gw, peer)
	ike, _ := ikev2ProposalTB("aes128gcm16-prfsha256-x25519")
	esp, _ := espProposalTB("aes128gcm16")
	psk := []byte("metrics test secret")
	cfg := &policy.Config{File: "metrics", Gateway: policy.Gateway{
		Listen: []netip.Addr{gw}, IKEPort: port, NATTPort: port + 1, Dataplane: "none", Workers: 2,
		CookieThreshold: 1000, RetransmitTries: 3, RetransmitBase: time.Second,
		MetricsListen: "127.0.0.1:0", // any port (the loader wants a real one)
	}, Connections: []*policy.Connection{{
		Name: "rw", Version: policy.IKEv2, LocalAddr: gw, Auth: policy.AuthPSK, PSK: psk,
		LocalID:  policy.Identity{Type: policy.IDIPv4Addr, Data: gw.AsSlice()},
		RemoteID: policy.Identity{Any: true}, IKE: ike, ESP: esp,
		LocalTS: []netip.Prefix{netip.PrefixFrom(gw, 32)},
	}, {
		Name: "idle", Version: policy.IKEv1, RemoteAddr: netip.MustParseAddr("192.0.2.9"), Auth: policy.AuthPSK, PSK: psk,
		IKE: ike, ESP: esp,
	}}}
	b := newMetricsBackend(t)
	g := runGateway(t, cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), b)
	url := "http://" + g.metricsLn.Addr().String() + "/metrics"

	text := scrape(t, url)
	for series, want := range map[string]string{
		`ipsec_ike_sas{state="ESTABLISHED",version="ikev2"}`:   "0",
		`ipsec_ike_sas{state="ESTABLISHED",version="ikev1"}`:   "0",
		`ipsec_child_sas{conn="rw"}`:                           "0",
		`ipsec_child_sas{conn="idle"}`:                         "0",
		`ipsec_child_bytes_total{conn="idle",direction="in"}`:  "0",
		`ipsec_ike_established_total{version="ikev2"}`:         "0",
		`ipsec_dataplane_drops_total{reason="in_unknown_spi"}`: "7",
		`ipsec_dataplane_drops_total{reason="out_no_sa"}`:      "3",
		`ipsec_dataplane_tun_queues`:                           "2",
		`ipsec_dataplane_tun_queue_packets_total{queue="0"}`:   "11",
		`ipsec_dataplane_tun_queue_packets_total{queue="1"}`:   "13",
		`ipsec_gateway_drops_total{reason="queue_full"}`:       "0",
		`ipsec_cookies_sent_total`:                             "0",
		`ipsec_ike_half_open{version="ikev1"}`:                 "0",
	} {
		if got := sample(text, series); got != want {
			t.Errorf("before: %s = %q, want %q", series, got, want)
		}
	}
	if !strings.Contains(text, "ipsec_ikegate_info{") || !strings.Contains(text, "go_goroutines ") {
		t.Errorf("no build info or Go metrics:\n%s", text)
	}
	if strings.Contains(text, "ipsec_pool_addresses") {
		t.Error("pool metrics without pools")
	}

	u := newUDPInitiator(t, peer, gw, port, psk)
	u.connect()
	var spi uint32
	deadline := time.Now().Add(3 * time.Second)
	for spi == 0 && time.Now().Before(deadline) {
		for _, sa := range b.Installed() {
			if sa.ConnName == "rw" {
				spi = sa.SPIIn
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if spi == 0 {
		t.Fatal("no CHILD SA of rw installed on the gateway")
	}
	b.set(spi, 1000, 2500)

	text = scrape(t, url)
	for series, want := range map[string]string{
		`ipsec_ike_sas{state="ESTABLISHED",version="ikev2"}`:   "1",
		`ipsec_child_sas{conn="rw"}`:                           "1",
		`ipsec_child_bytes_total{conn="rw",direction="in"}`:    "1000",
		`ipsec_child_bytes_total{conn="rw",direction="out"}`:   "2500",
		`ipsec_child_packets_total{conn="rw",direction="in"}`:  "10",
		`ipsec_child_packets_total{conn="rw",direction="out"}`: "25",
		`ipsec_ike_established_total{version="ikev2"}`:         "1",
		`ipsec_auth_failures_total{version="ikev2"}`:           "0",
		`ipsec_messages_dropped_total{version="ikev2"}`:        "0",
		`ipsec_datagrams_received_total{kind="ikev2"}`:         "2",
		`ipsec_datagrams_sent_total{kind="ikev2"}`:             "2",
	} {
		if got := sample(text, series); got != want {
			t.Errorf("up: %s = %q, want %q", series, got, want)
		}
	}
	for _, help := range []string{"# TYPE ipsec_ike_sas gauge", "# TYPE ipsec_child_bytes_total counter", "# HELP ipsec_ike_half_open "} {
		if !strings.Contains(text, help) {
			t.Errorf("no %q", help)
		}
	}

	// More traffic, then the SA goes: its traffic stays in the totals
	// (the kernel already expired it: the removal cannot read its
	// counters, the last scrape's count stands).
	b.set(spi, 1500, 3000)
	if got := sample(scrape(t, url), `ipsec_child_bytes_total{conn="rw",direction="in"}`); got != "1500" {
		t.Errorf("more traffic: bytes in = %q, want 1500", got)
	}
	b.mu.Lock()
	b.unread = true
	b.mu.Unlock()
	if _, err := g.Down(context.Background(), "rw"); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(3 * time.Second)
	for {
		text = scrape(t, url)
		if sample(text, `ipsec_child_sas{conn="rw"}`) == "0" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for series, want := range map[string]string{
		`ipsec_child_sas{conn="rw"}`:                         "0",
		`ipsec_child_bytes_total{conn="rw",direction="in"}`:  "1500",
		`ipsec_child_bytes_total{conn="rw",direction="out"}`: "3000",
	} {
		if got := sample(text, series); got != want {
			t.Errorf("down: %s = %q, want %q", series, got, want)
		}
	}
}

// TestConnTrafficMonotonic: a connection's traffic only grows across
// rekeys, whether the removal reads the SA's counters or not.
func TestConnTrafficMonotonic(t *testing.T) {
	b := newMetricsBackend(t)
	defer b.Close()
	g := newSelectorGuard(b)
	add := func(spi uint32) *policy.ChildSA {
		sa := &policy.ChildSA{ConnName: "c", Owner: "peer", SPIIn: spi, SPIOut: spi + 1, Tunnel: true,
			Local: netip.MustParseAddr("192.0.2.1"), Remote: netip.MustParseAddr("192.0.2.2"),
			RemoteTS: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}}
		if err := g.AddChildSA(sa); err != nil {
			t.Fatal(err)
		}
		return sa
	}
	check := func(what string, in uint64) {
		t.Helper()
		if got := g.connTraffic()["c"].InBytes; got != in {
			t.Errorf("%s: in bytes %d, want %d", what, got, in)
		}
	}
	sa1 := add(0x100)
	b.set(0x100, 100, 0)
	check("first SA", 100)
	sa2 := add(0x200) // the rekey
	b.set(0x100, 150, 0)
	b.set(0x200, 10, 0)
	g.DelChildSA(sa1)
	check("rekeyed", 160)
	b.set(0x200, 40, 0)
	check("new SA", 190)
	b.unread = true
	g.DelChildSA(sa2) // expired by the kernel: the last read counts
	check("gone", 190)
	b.unread = false
	add(0x300)
	b.set(0x300, 5, 0)
	check("again", 195)
	if n := fmt.Sprint(g.connTraffic()["c"].InPackets); n != "1" {
		t.Errorf("packets %s, want 1 (1+0+0)", n)
	}
	// What connTraffic saw is kept only for SAs with traffic, and only
	// while they are installed.
	add(0x400)
	g.connTraffic()
	g.mu.Lock()
	_, quiet := g.seen[0x400]
	_, busy := g.seen[0x300]
	_, gone := g.seen[0x200]
	g.mu.Unlock()
	if quiet || !busy || gone {
		t.Errorf("seen: SA without traffic %v, with traffic %v, removed %v; want false, true, false", quiet, busy, gone)
	}
}
