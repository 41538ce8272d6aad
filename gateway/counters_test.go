package gateway

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"ikegate/kernel"
	"ikegate/policy"
)

// countingBackend is a "none" backend that keeps per-SA counters and
// dataplane stats, as the userspace dataplane does.
type countingBackend struct {
	kernel.Backend
}

func (countingBackend) Counters(spi uint32) (policy.ChildCounters, bool) {
	if spi != 0xc0ffee01 {
		return policy.ChildCounters{}, false
	}
	return policy.ChildCounters{InPackets: 10, InBytes: 1000, ReplayDrops: 2, AuthFailures: 3, PadErrors: 4, Malformed: 5,
		OutPackets: 20, OutBytes: 2000, OutsideTSDrops: 6}, true
}

func (countingBackend) Stats() policy.DataplaneStats {
	return policy.DataplaneStats{InUnknownSPI: 7, InRejected: 5}
}

func (countingBackend) TUNQueueReads() []uint64 { return []uint64{4, 9} }

func (countingBackend) Capabilities() policy.Capabilities {
	return policy.Capabilities{Counters: true, Drops: true}
}

// TestChildCountersFromDataplane: `sas --json` children carry the
// dataplane's per-SA counters (found by spi_in), `stats --json` its drop
// counters; a backend without counters leaves both out.
func TestChildCountersFromDataplane(t *testing.T) {
	kb, err := kernel.New("none", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer kb.Close()
	g := &Gateway{backend: countingBackend{kb}}
	ch := policy.ChildSAInfo{SPIIn: "c0ffee01"}
	g.fillChildCounters(&ch)
	want := policy.ChildSAInfo{SPIIn: "c0ffee01", InPackets: 10, InBytes: 1000, OutPackets: 20, OutBytes: 2000,
		ReplayDrops: 2, AuthFailures: 3, PadErrors: 4, Malformed: 5, OutsideTSDrops: 6}
	if ch.InPackets != want.InPackets || ch.InBytes != want.InBytes || ch.OutPackets != want.OutPackets ||
		ch.OutBytes != want.OutBytes || ch.ReplayDrops != want.ReplayDrops || ch.AuthFailures != want.AuthFailures ||
		ch.PadErrors != want.PadErrors || ch.Malformed != want.Malformed || ch.OutsideTSDrops != want.OutsideTSDrops {
		t.Fatalf("counters %+v, want %+v", ch, want)
	}
	other := policy.ChildSAInfo{SPIIn: "00000002"}
	g.fillChildCounters(&other)
	bad := policy.ChildSAInfo{SPIIn: "not hex"}
	g.fillChildCounters(&bad)
	if other.InPackets != 0 || bad.InPackets != 0 {
		t.Fatalf("counters for unknown SPIs: %+v %+v", other, bad)
	}
	s := g.Stats(context.Background())
	if s.Dataplane["in_unknown_spi"] != 7 || s.Dataplane["in_rejected"] != 5 {
		t.Fatalf("dataplane stats %v", s.Dataplane)
	}
	if !slices.Equal(s.TUNQueueReads, []uint64{4, 9}) {
		t.Fatalf("TUN queue reads %v, want [4 9]", s.TUNQueueReads)
	}

	plain := &Gateway{backend: kb}
	ch2 := policy.ChildSAInfo{SPIIn: "c0ffee01"}
	plain.fillChildCounters(&ch2)
	if ps := plain.Stats(context.Background()); ch2.InPackets != 0 || ps.Dataplane != nil || ps.TUNQueueReads != nil {
		t.Fatalf("a backend without counters: child %+v", ch2)
	}
}

// TestSendErrLog: a failing peer is warned about once per sendErrEvery,
// each peer on its own.
func TestSendErrLog(t *testing.T) {
	var l sendErrLog
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	now := time.Unix(1700000000, 0)
	if !l.due(a, now) || l.due(a, now.Add(time.Second)) || !l.due(b, now.Add(time.Second)) || !l.due(a, now.Add(sendErrEvery)) {
		t.Fatal("send-failure warnings not once per peer per interval")
	}
}
