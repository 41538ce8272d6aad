package gateway

import (
	"net/netip"
	"testing"
	"time"

	"ikegate/internal/engine"
)

// TestFingerprint: every change a restore depends on changes the
// fingerprint, and the timers left out do not.
func TestFingerprint(t *testing.T) {
	base := func() *engine.Record {
		return &engine.Record{Conn: "c", Local: netip.MustParseAddrPort("10.0.0.2:4500"), Remote: netip.MustParseAddrPort("10.0.0.1:4500"),
			IKEv2:    &engine.V2State{NextMsgID: 3, PeerMsgID: 5, LastResponse: [][]byte{{1, 2, 3}}},
			Children: []engine.ChildRecord{{SPIIn: 1, SPIOut: 2, SeqOut: 1 << 20}}}
	}
	fp0 := fingerprint(base())
	for _, tc := range []struct {
		name    string
		change  func(r *engine.Record)
		changes bool
	}{
		{"peer's message ID", func(r *engine.Record) { r.IKEv2.PeerMsgID++ }, true},
		{"our message ID", func(r *engine.Record) { r.IKEv2.NextMsgID++ }, true},
		{"cached response", func(r *engine.Record) { r.IKEv2.LastResponse = [][]byte{{1, 2, 4}} }, true},
		{"peer moved", func(r *engine.Record) { r.Remote = netip.MustParseAddrPort("10.0.0.1:4501") }, true},
		{"NAT", func(r *engine.Record) { r.NAT.PeerBehindNAT = true }, true},
		{"liveness", func(r *engine.Record) { r.DPD.LastSeen = time.Unix(5, 0) }, true},
		{"DPD sequence", func(r *engine.Record) { r.DPD.Seq++ }, true},
		{"rekey deadline", func(r *engine.Record) { r.RekeyAt = time.Unix(7, 0) }, true},
		{"CHILD SA rekeyed", func(r *engine.Record) { r.Children[0].SPIIn = 3 }, true},
		{"CHILD SA added", func(r *engine.Record) { r.Children = append(r.Children, engine.ChildRecord{SPIIn: 4}) }, true},
		{"sequence reserved", func(r *engine.Record) { r.Children[0].SeqOut += 1 << 20 }, true},
		{"NAT keepalive timer", func(r *engine.Record) { r.NextKeepalive = time.Unix(9, 0) }, false},
		{"inbound replay state", func(r *engine.Record) { r.Children[0].SeqIn = 77 }, false},
	} {
		r := base()
		tc.change(r)
		if got := fingerprint(r) != fp0; got != tc.changes {
			t.Errorf("%s: fingerprint changed %v, want %v", tc.name, got, tc.changes)
		}
	}
}
