package engine

import (
	"testing"
	"time"

	"ikegate/policy"
)

// countingInstaller is a policy.Installer whose counters the test sets.
type countingInstaller struct {
	policy.Installer
	in map[uint32]uint64
}

func (c *countingInstaller) Capabilities() policy.Capabilities {
	return policy.Capabilities{Counters: true}
}
func (c *countingInstaller) Counters(spi uint32) (policy.ChildCounters, bool) {
	n, ok := c.in[spi]
	return policy.ChildCounters{InPackets: n}, ok
}

// TestIdle: a session is idle once its CHILD SAs received nothing for the
// timeout; any inbound packet (on any of them) starts the count again.
func TestIdle(t *testing.T) {
	inst := &countingInstaller{in: map[uint32]uint64{1: 0, 2: 0}}
	sas := []*policy.ChildSA{{SPIIn: 1}, {SPIIn: 2}}
	t0 := time.Unix(1700000000, 0)
	var i Idle
	steps := []struct {
		at       time.Duration
		spi      uint32 // a packet arrives on it (0: none)
		wantIdle bool
	}{
		{0, 0, false},
		{4 * time.Minute, 0, false},
		{5 * time.Minute, 2, false}, // traffic: counting starts again
		{9 * time.Minute, 0, false},
		{10 * time.Minute, 0, true},
	}
	for _, s := range steps {
		if s.spi != 0 {
			inst.in[s.spi]++
		}
		if _, idle := i.Check(t0.Add(s.at), inst, sas, 5*time.Minute); idle != s.wantIdle {
			t.Fatalf("at %v: idle %v, want %v", s.at, idle, s.wantIdle)
		}
	}
	if got := i.Next(); got != t0.Add(10*time.Minute+30*time.Second) {
		t.Fatalf("next look at %v, want 30 s later (a tenth of the timeout)", got)
	}
	if _, idle := i.Check(t0, inst, sas, 0); idle || !i.Next().IsZero() {
		t.Fatal("a zero timeout watches nothing")
	}
}
