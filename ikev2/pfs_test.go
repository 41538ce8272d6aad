package ikev2

import (
	"fmt"
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

// logged reports whether logs has a message containing every one of subs.
func logged(logs *observer.ObservedLogs, subs ...string) bool {
	for _, e := range logs.All() {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(e.Message, s)
		}
		if all {
			return true
		}
	}
	return false
}

// requireKeysAgree checks that every CHILD SA a installed has its mirror
// at b with the same keys, and that both installed as many.
func requireKeysAgree(t *testing.T, a, b *node) {
	t.Helper()
	la, lb := listedLive(a), listedLive(b)
	if len(la) != len(lb) || len(la) == 0 {
		t.Fatalf("installed CHILD SAs: a %d, b %d", len(la), len(lb))
	}
	for spi, ka := range la {
		kb := findBySPIOut(b.inst, spi)
		if kb == nil {
			t.Fatalf("b has no outbound SA for a's inbound %08x", spi)
		}
		if string(ka.EncKeyIn) != string(kb.EncKeyOut) || string(ka.EncKeyOut) != string(kb.EncKeyIn) ||
			string(ka.IntegKeyIn) != string(kb.IntegKeyOut) || len(ka.EncKeyIn) == 0 {
			t.Fatalf("CHILD SA %08x: keys differ between the peers", spi)
		}
	}
}

// childESP returns the esp_proposal of each CHILD SA of n's IKE SA.
func childESP(n *node) []string {
	var out []string
	for _, sa := range n.eng.SAs() {
		for _, c := range sa.Children {
			out = append(out, c.ESPProposal+" "+c.State)
		}
	}
	return out
}

// optionalPFS is an ESP proposal strongSwan writes
// "aes128gcm16-modp2048-modpnone": PFS with MODP_2048 or none (RFC 7296
// 3.3.2); ikegate's keywords cannot say it.
func optionalPFS() []oakley.Proposal {
	return []oakley.Proposal{{Transforms: []oakley.Transform{
		{Type: oakley.TransformENCR, ID: oakley.EncrAESGCM16, KeyLen: 128},
		{Type: oakley.TransformDH, ID: oakley.MODP2048},
		{Type: oakley.TransformDH, ID: oakley.DHNone},
		{Type: oakley.TransformESN, ID: oakley.ESNNone},
	}}}
}

// TestCreateChildPFSLeniency: a CREATE_CHILD_SA responder (b) whose esp
// names no DH group takes the initiator's PFS offer by default (pfs =
// "lenient"): it answers with a KE in that group and both ends derive the
// same keys with it. With pfs = "strict" it refuses with
// NO_PROPOSAL_CHOSEN and says why, and the IKE SA and the first CHILD SA
// stay. A weak group is not taken unless esp names it; a responder whose
// esp names a group still requires one of its groups, also from an
// initiator without PFS; an initiator without PFS is otherwise unaffected;
// an initiator whose PFS is optional (a NONE among its groups) gets the
// group when b is lenient and no PFS when it is strict.
func TestCreateChildPFSLeniency(t *testing.T) {
	for _, tc := range []struct {
		name       string
		aESP, bESP string
		aProps     []oakley.Proposal // instead of aESP
		strict     bool
		up         bool
		wantESP    string   // the second CHILD SA at both ends
		wantLog    []string // b logs a line with all of these
	}{
		{name: "lenient default takes MODP_2048", aESP: "aes128gcm16-modp2048", bESP: "aes128gcm16", up: true,
			wantESP: "AES_GCM_16_128/MODP_2048/NO_ESN",
			wantLog: []string{"CHILD SA: taking the peer's PFS offer with MODP_2048 although esp names no DH group", `pfs = "lenient"`}},
		{name: "lenient default takes ECP_384", aESP: "aes256-sha256-ecp384", bESP: "aes256-sha256", up: true,
			wantESP: "AES_CBC_256/HMAC_SHA2_256_128/ECP_384/NO_ESN", wantLog: []string{"taking the peer's PFS offer with ECP_384"}},
		{name: "lenient refuses MODP_1024", aESP: "aes128gcm16-modp1024", bESP: "aes128gcm16",
			wantLog: []string{"CHILD SA: no proposal chosen", "DH group: peer MODP_1024, local MODP_2048|", `(pfs = "lenient") takes PFS only with`}},
		{name: "strict refuses", aESP: "aes128gcm16-modp2048", bESP: "aes128gcm16", strict: true,
			wantLog: []string{"CHILD SA: no proposal chosen", "DH group: peer MODP_2048, local none", `has pfs = "strict"`}},
		{name: "group configured still requires its group", aESP: "aes128gcm16-modp2048", bESP: "aes128gcm16-ecp256",
			wantLog: []string{"CHILD SA: no proposal chosen", "DH group: peer MODP_2048, local ECP_256"}},
		{name: "group configured, initiator without PFS", aESP: "aes128gcm16", bESP: "aes128gcm16-ecp256",
			wantLog: []string{"CHILD SA: no proposal chosen", "DH group: peer none, local ECP_256"}},
		{name: "initiator without PFS, lenient", aESP: "aes128gcm16", bESP: "aes128gcm16", up: true, wantESP: "AES_GCM_16_128/NO_ESN"},
		{name: "initiator without PFS, strict", aESP: "aes128gcm16", bESP: "aes128gcm16", strict: true, up: true, wantESP: "AES_GCM_16_128/NO_ESN"},
		{name: "optional PFS, lenient", aProps: optionalPFS(), bESP: "aes128gcm16", up: true,
			wantESP: "AES_GCM_16_128/MODP_2048/NO_ESN", wantLog: []string{"taking the peer's PFS offer with MODP_2048"}},
		{name: "optional PFS, strict", aProps: optionalPFS(), bESP: "aes128gcm16", strict: true, up: true,
			wantESP: "AES_GCM_16_128/NO_ESN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			aESP := tc.aProps
			if aESP == nil {
				aESP = mustProposals(t, true, tc.aESP)
			}
			p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"})
			p.a.conns[0].ESP = aESP
			p.b.conns[0].ESP = mustProposals(t, true, tc.bESP)
			p.b.conns[0].StrictPFS = tc.strict
			logs := observe(p.b)
			p.initiate(p.a, p.a.conns[0]) // IKE_AUTH: no PFS, no KE
			p.run(time.Minute)
			requireEstablished(t, p.a, p.b) // IKE_AUTH ignores DH: the first CHILD SA is up in every case
			p.initiate(p.a, p.a.conns[0])   // CREATE_CHILD_SA, with KE when aESP names a group
			p.run(time.Minute)
			if len(tc.wantLog) > 0 && !logged(logs, tc.wantLog...) {
				t.Errorf("b logged no line with %q", tc.wantLog)
			}
			ca, cb := childESP(p.a), childESP(p.b)
			if !tc.up {
				if len(p.a.inst.Live) != 1 || len(p.b.inst.Live) != 1 || len(cb) != 1 || len(ca) != 2 ||
					!strings.HasSuffix(ca[1], " FAILED") {
					t.Fatalf("CHILD SAs a %q, b %q; want the first INSTALLED at both and a's second FAILED", ca, cb)
				}
				if err := p.a.eng.SAs()[0].Children[1].Error; !strings.Contains(err, "NO_PROPOSAL_CHOSEN") {
					t.Errorf("a's second CHILD SA failed with %q, want NO_PROPOSAL_CHOSEN", err)
				}
				requireKeysAgree(t, p.a, p.b)
				return
			}
			want := tc.wantESP + " INSTALLED"
			if len(ca) != 2 || len(cb) != 2 || ca[1] != want || cb[1] != want {
				t.Fatalf("CHILD SAs a %q, b %q; want the second %q at both", ca, cb, want)
			}
			requireKeysAgree(t, p.a, p.b)
		})
	}
}

// TestCreateChildPFSLeniencyRekey: rekeys of a CHILD SA between an
// initiator whose esp names MODP_2048 (a) and a lenient responder (b):
// a's rekey (CREATE_CHILD_SA with KE) is taken with PFS; b's own rekey of
// the CHILD SA that took PFS leniently offers that group again; with pfs =
// "strict" a's rekey is refused and the old CHILD SA stays.
func TestCreateChildPFSLeniencyRekey(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rekeyer  func(p *pair) *node
		strict   bool
		rekeyed  bool
		wantESP  string
		wantLogB string
	}{
		{"by initiator", func(p *pair) *node { return p.a }, false, true, "AES_GCM_16_128/MODP_2048/NO_ESN", "taking the peer's PFS offer with MODP_2048"},
		{"by initiator, then by lenient responder", nil, false, true, "AES_GCM_16_128/MODP_2048/NO_ESN", "taking the peer's PFS offer with MODP_2048"},
		{"by initiator, strict", func(p *pair) *node { return p.a }, true, false, "AES_GCM_16_128/NO_ESN", `has pfs = "strict"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16-modp2048"})
			p.b.conns[0].ESP = mustProposals(t, true, "aes128gcm16")
			p.b.conns[0].StrictPFS = tc.strict
			logs := observe(p.b)
			p.initiate(p.a, p.a.conns[0])
			p.run(time.Second)
			requireEstablished(t, p.a, p.b)
			expire := func(n *node) {
				t.Helper()
				var spi uint32
				fmt.Sscanf(n.eng.SAs()[0].Children[0].SPIIn, "%x", &spi)
				ds, ok := n.eng.Expired(p.Now, spi, false)
				if !ok {
					t.Fatalf("%s: soft expire not claimed", n.name)
				}
				p.do(n, ds)
				p.run(time.Second)
			}
			first := p.a.eng.SAs()[0].Children[0].SPIIn
			if tc.rekeyer != nil {
				expire(tc.rekeyer(p))
			} else {
				expire(p.a) // takes PFS leniently
				mid := p.a.eng.SAs()[0].Children[0].SPIIn
				expire(p.b) // b rekeys that one: offers MODP_2048, which a requires
				if got := p.a.eng.SAs()[0].Children[0].SPIIn; got == mid || mid == first {
					t.Errorf("CHILD SA inbound SPIs %s, %s, %s: want a new one after each rekey", first, mid, got)
				}
			}
			if !logged(logs, tc.wantLogB) {
				t.Errorf("b logged no line with %q", tc.wantLogB)
			}
			requireEstablished(t, p.a, p.b)
			if got := p.a.eng.SAs()[0].Children[0].SPIIn; (got != first) != tc.rekeyed {
				t.Errorf("CHILD SA inbound SPI %s (first %s): rekeyed %v, want %v", got, first, got != first, tc.rekeyed)
			}
			ca, cb := childESP(p.a), childESP(p.b)
			want := tc.wantESP + " INSTALLED"
			if len(ca) != 1 || len(cb) != 1 || ca[0] != want || cb[0] != want {
				t.Errorf("CHILD SAs a %q, b %q, want %q at both", ca, cb, want)
			}
			if tc.rekeyer == nil && !logged(logs, "rekeying CHILD SA") {
				t.Error("b did not rekey the CHILD SA")
			}
		})
	}
}
