package ikev1

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"ikegate/oakley"
)

// observe makes n's engine log to an observer as well (at Info), for
// checking the lines a case must write.
func observe(n *node) *observer.ObservedLogs {
	core, logs := observer.New(zapcore.InfoLevel)
	n.eng.Log = zap.New(zapcore.NewTee(n.eng.Log.Core(), core))
	return logs
}

// logged returns the first message of logs containing every one of subs.
func logged(logs *observer.ObservedLogs, subs ...string) (string, bool) {
	for _, e := range logs.All() {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(e.Message, s)
		}
		if all {
			return e.Message, true
		}
	}
	return "", false
}

// TestQuickModePFSLeniency: a Quick Mode responder (b) whose esp names no
// DH group takes the initiator's PFS offer by default (pfs = "lenient"):
// it answers with a KE in the offered group and both ends derive the same
// keys with it; with pfs = "strict" it refuses with NO-PROPOSAL-CHOSEN and
// says why. A weak group (MODP-1024) is not taken unless esp names it, a
// responder whose esp names a group still requires one of its groups, and
// an initiator without PFS is unaffected either way.
func TestQuickModePFSLeniency(t *testing.T) {
	for _, tc := range []struct {
		name       string
		aESP, bESP string
		strict     bool
		up         bool
		wantESP    string   // b's phase 2 SA: its chosen proposal
		wantLog    []string // b logs a line with all of these
	}{
		{name: "lenient default takes MODP_2048", aESP: "aes256-sha256-modp2048", bESP: "aes256-sha256", up: true,
			wantESP: "AES_CBC_256/HMAC_SHA2_256_128/MODP_2048",
			wantLog: []string{"taking the peer's PFS offer with MODP_2048 although esp names no DH group", `pfs = "lenient"`}},
		{name: "lenient default takes CURVE_25519", aESP: "aes128gcm16-x25519", bESP: "aes128gcm16", up: true,
			wantESP: "AES_GCM_16_128/CURVE_25519", wantLog: []string{"taking the peer's PFS offer with CURVE_25519"}},
		{name: "lenient refuses MODP_1024", aESP: "aes256-sha256-modp1024", bESP: "aes256-sha256",
			wantLog: []string{"Quick Mode: no proposal chosen", "DH group: peer MODP_1024, local MODP_2048|", `(pfs = "lenient") takes PFS only with MODP_2048`}},
		{name: "strict refuses", aESP: "aes256-sha256-modp2048", bESP: "aes256-sha256", strict: true,
			wantLog: []string{"Quick Mode: no proposal chosen", "DH group: peer MODP_2048, local none", `has pfs = "strict": without a DH group in esp it takes no PFS offer`}},
		{name: "group configured still requires its group", aESP: "aes256-sha256-modp2048", bESP: "aes256-sha256-ecp256",
			wantLog: []string{"Quick Mode: no proposal chosen", "DH group: peer MODP_2048, local ECP_256"}},
		{name: "group configured takes its group", aESP: "aes256-sha256-ecp256", bESP: "aes256-sha256-ecp256", up: true,
			wantESP: "AES_CBC_256/HMAC_SHA2_256_128/ECP_256"},
		{name: "initiator without PFS, lenient", aESP: "aes256-sha256", bESP: "aes256-sha256", up: true,
			wantESP: "AES_CBC_256/HMAC_SHA2_256_128"},
		{name: "initiator without PFS, strict", aESP: "aes256-sha256", bESP: "aes256-sha256", strict: true, up: true,
			wantESP: "AES_CBC_256/HMAC_SHA2_256_128"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, "main", []string{"aes256-sha256-modp2048"}, []string{tc.aESP})
			p.b.conns[0].ESP = props(t, true, tc.bESP)
			p.b.conns[0].StrictPFS = tc.strict
			logs := observe(p.b)
			p.initiate(p.a, p.a.conns[0])
			p.run(time.Minute)
			for _, w := range [][]string{tc.wantLog} {
				if len(w) == 0 {
					continue
				}
				if _, ok := logged(logs, w...); !ok {
					t.Errorf("b logged no line with %q", w)
				}
			}
			if !tc.up {
				if n := len(p.a.inst.Live) + len(p.b.inst.Live); n != 0 {
					t.Fatalf("%d phase 2 SAs installed, want none", n)
				}
				sas := p.a.eng.SAs()
				if len(sas) != 1 || sas[0].State != "ESTABLISHED" || len(sas[0].Children) != 1 ||
					sas[0].Children[0].State != "FAILED" || !strings.Contains(sas[0].Children[0].Error, "NO-PROPOSAL-CHOSEN") &&
					!strings.Contains(sas[0].Children[0].Error, "NO_PROPOSAL_CHOSEN") {
					t.Fatalf("initiator: %+v, want the ISAKMP SA up and its phase 2 FAILED with NO-PROPOSAL-CHOSEN", sas)
				}
				return
			}
			requireUp(t, p.a, p.b, 1) // both installed, the same keys
			for _, n := range []*node{p.a, p.b} {
				if got := n.eng.SAs()[0].Children[0].ESPProposal; got != tc.wantESP {
					t.Errorf("%s: esp_proposal %q, want %q", n.name, got, tc.wantESP)
				}
			}
		})
	}
}

// TestQuickModePFSLeniencyRekey: a phase 2 SA that took the peer's PFS
// offer leniently keeps PFS when the lenient responder (b) rekeys it (here
// on a soft expire from its dataplane): b offers the group it took, and
// the keys still agree.
func TestQuickModePFSLeniencyRekey(t *testing.T) {
	p := newPair(t, "main", []string{"aes256-sha256-modp2048"}, []string{"aes256-sha256-modp2048"})
	p.b.conns[0].ESP = props(t, true, "aes256-sha256")
	logs := observe(p.b)
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Second)
	requireUp(t, p.a, p.b, 1)
	first := p.b.eng.SAs()[0].Children[0]
	var spi uint32
	fmt.Sscanf(first.SPIIn, "%x", &spi)
	ds, ok := p.b.eng.Expired(p.Now, spi, false)
	if !ok {
		t.Fatal("soft expire not claimed")
	}
	p.do(p.b, ds)
	p.run(time.Second)
	requireUp(t, p.a, p.b, 1)
	now := p.b.eng.SAs()[0].Children[0]
	if now.SPIIn == first.SPIIn {
		t.Fatal("phase 2 SA not rekeyed")
	}
	if line, ok := logged(logs, "Quick Mode initiated"); !ok {
		t.Fatal("b did not initiate the rekey")
	} else if e := logs.FilterMessage(line).All(); len(e) == 0 || e[0].ContextMap()["esp"] != "AES_CBC_256/HMAC_SHA2_256_128/MODP_2048/NO_ESN" {
		t.Errorf("b's rekey offer: %+v, want esp AES_CBC_256/HMAC_SHA2_256_128/MODP_2048/NO_ESN", e)
	}
	for _, n := range []*node{p.a, p.b} {
		if got := n.eng.SAs()[0].Children[0].ESPProposal; got != "AES_CBC_256/HMAC_SHA2_256_128/MODP_2048" {
			t.Errorf("%s after the rekey: esp_proposal %q, want PFS with MODP_2048", n.name, got)
		}
	}
}

// TestPFSGroupLenient: a remote-access gateway whose esp names no DH group
// and whose pool names pfs_group takes the client's PFS in that group (also
// where pfs = "lenient" alone would not), and still refuses a client
// without PFS or with another group.
func TestPFSGroupLenient(t *testing.T) {
	for _, c := range []struct {
		group     uint16
		clientESP string
		up        bool
	}{
		{oakley.MODP2048, "aes256-sha1", false},
		{oakley.MODP2048, "aes256-sha1-ecp256", false},
		{oakley.MODP2048, "aes256-sha1-modp2048", true},
		{oakley.MODP1024, "aes256-sha1-modp1024", true},
	} {
		t.Run(c.clientESP, func(t *testing.T) {
			p, cl := raPair(t, "alice", "alice-secret")
			p.b.eng.Cfg.DB.Pool("rw").PFSGroup = c.group
			p.b.conns[0].ESP = props(t, true, "aes256-sha1")
			p.initiate(p.a, p.a.conns[0])
			p.run(5 * time.Second)
			ca := p.a.conns[0]
			ca.ESP = props(t, true, c.clientESP)
			ca.LocalTS = []netip.Prefix{netip.PrefixFrom(cl.vip, 32)}
			ca.RemoteTS = []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24")}
			p.initiate(p.a, ca)
			p.run(5 * time.Second)
			if n := len(p.b.inst.Live); (n > 0) != c.up {
				t.Fatalf("client ESP %s: %d phase 2 SAs installed on the gateway, want up=%v", c.clientESP, n, c.up)
			}
		})
	}
}
