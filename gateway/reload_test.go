package gateway

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"ikegate/kernel"
	"ikegate/policy"
)

// TestReload: a reload keeps the SAs of unchanged connections (same
// SPIs), removes those of changed ones telling the peer, takes added
// connections, and refuses what needs a restart without changing
// anything.
func TestReload(t *testing.T) {
	gw, peer := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.7")
	port := freePortTB(t, gw, peer)
	ike, _ := ikev2ProposalTB("aes128gcm16-prfsha256-x25519")
	esp, _ := espProposalTB("aes128gcm16")
	psk := []byte("reload test secret")
	conn := func(name string) *policy.Connection {
		return &policy.Connection{
			Name: name, Version: policy.IKEv2, LocalAddr: gw, Auth: policy.AuthPSK, PSK: psk,
			LocalID:  policy.Identity{Type: policy.IDIPv4Addr, Data: gw.AsSlice()},
			RemoteID: policy.Identity{Any: true}, IKE: ike, ESP: esp,
			LocalTS: []netip.Prefix{netip.PrefixFrom(gw, 32)},
		}
	}
	gwCfg := policy.Gateway{Listen: []netip.Addr{gw}, IKEPort: port, NATTPort: port + 1, Dataplane: "none", Workers: 2,
		CookieThreshold: 1000, RetransmitTries: 3, RetransmitBase: time.Second}
	cfg := &policy.Config{File: "reload", Gateway: gwCfg, Connections: []*policy.Connection{conn("rw"), conn("gone")}}
	kb, _ := kernel.New("none", nil)
	g := runGateway(t, cfg, zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)), kb)
	ctx := context.Background()
	u := newUDPInitiator(t, peer, gw, port, psk)
	u.connect()
	spi := func() string {
		sas, err := g.SAs(ctx)
		if err != nil || len(sas) != 1 || sas[0].State != "ESTABLISHED" {
			return "" // none, or being deleted
		}
		return sas[0].LocalSPI
	}
	before := spi()
	if before == "" {
		t.Fatal("no SA before the reload")
	}

	// rw unchanged, gone removed, new added.
	res, err := g.Reload(ctx, &policy.Config{File: "reload", Gateway: gwCfg, Connections: []*policy.Connection{conn("rw"), conn("new")}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Unchanged, []string{"rw"}) || !slices.Equal(res.Added, []string{"new"}) || !slices.Equal(res.Removed, []string{"gone"}) {
		t.Fatalf("reload result %+v", res)
	}
	if got := spi(); got != before {
		t.Fatalf("the unchanged connection's SA: %q after the reload, %q before", got, before)
	}
	if g.dbNow().Lookup("new") == nil || g.dbNow().Lookup("gone") != nil {
		t.Error("the connections in force are not the new configuration's")
	}

	// A change of [gateway] needs a restart: refused, nothing changes.
	w := gwCfg
	w.Workers = 3
	if _, err := g.Reload(ctx, &policy.Config{File: "reload", Gateway: w, Connections: []*policy.Connection{conn("rw")}}); !errors.Is(err, ErrNeedsRestart) {
		t.Fatalf("reload with other workers: %v, want ErrNeedsRestart", err)
	}
	if g.dbNow().Lookup("new") == nil || spi() != before {
		t.Error("a refused reload changed something")
	}

	// rw changed (other ESP proposals): its SA goes, the peer is told.
	changed := conn("rw")
	changed.ESP, _ = espProposalTB("aes256gcm16")
	res, err = g.Reload(ctx, &policy.Config{File: "reload", Gateway: gwCfg, Connections: []*policy.Connection{changed}})
	if err != nil || !slices.Equal(res.Changed, []string{"rw"}) {
		t.Fatalf("reload with rw changed: %+v, %v", res, err)
	}
	if !waitUntil(3*time.Second, func() bool { return spi() == "" }) {
		t.Fatal("the changed connection's SA is still there")
	}
}

func waitUntil(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// TestLogLevel: loglevel shows and changes the level of the gateway's
// logger at run time; a bad level changes nothing.
func TestLogLevel(t *testing.T) {
	cfg := testConfig(t)
	level := zap.NewAtomicLevelAt(zap.InfoLevel)
	kb, _ := kernel.New("none", nil)
	g := runGatewayOpts(t, cfg, zap.NewNop(), kb, WithLogLevel(&level))
	c := &Client{Path: cfg.Gateway.Control}
	ctx := context.Background()
	if r, err := c.LogLevel(ctx, ""); err != nil || r.Message != "log level info" {
		t.Fatalf("show: %+v, %v", r, err)
	}
	if r, err := c.LogLevel(ctx, "debug"); err != nil || r.Message != "log level debug" || level.Level() != zap.DebugLevel {
		t.Fatalf("set debug: %+v, %v (level %v)", r, err, level.Level())
	}
	if _, err := c.LogLevel(ctx, "loud"); err == nil || level.Level() != zap.DebugLevel {
		t.Fatalf("bad level: %v (level %v)", err, level.Level())
	}
	_ = g
}
