package dpd

import (
	"testing"
	"time"
)

func TestMonitorTimeline(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	m := New(30*time.Second, 90*time.Second, t0, 7)
	steps := []struct {
		at   int
		seen bool
		want Verdict
		next int
	}{
		{10, true, Wait, 40},  // traffic at 10s: the probe moves to 40s
		{39, false, Wait, 40}, // not yet
		{40, false, Probe, 70},
		{55, false, Wait, 70},
		{70, false, Probe, 100}, // probe again every delay
		{100, false, Probe, 130},
		{130, false, Dead, 130}, // 40 + 90
	}
	for _, s := range steps {
		if s.seen {
			m.Seen(at(s.at))
			if got := m.Next(); !got.Equal(at(s.next)) {
				t.Fatalf("after Seen at %ds: Next = %v, want %ds", s.at, got.Sub(t0), s.next)
			}
			continue
		}
		if got := m.Check(at(s.at)); got != s.want {
			t.Fatalf("Check at %ds = %v, want %v", s.at, got, s.want)
		}
		if got := m.Next(); !got.Equal(at(s.next)) {
			t.Fatalf("Next after %ds = %v, want %ds", s.at, got.Sub(t0), s.next)
		}
	}
}

func TestAnswerEndsProbing(t *testing.T) {
	t0 := time.Unix(0, 0)
	m := New(10*time.Second, 30*time.Second, t0, 0)
	if m.Check(t0.Add(10*time.Second)) != Probe {
		t.Fatal("no probe after delay")
	}
	seq := m.NextSeq()
	if m.Ack(seq) != AckLatest || m.Ack(seq-1) != AckStale {
		t.Fatal("Ack")
	}
	m.Seen(t0.Add(11 * time.Second))
	if v := m.Check(t0.Add(45 * time.Second)); v == Dead {
		t.Fatal("dead although the peer answered")
	}
}

func TestDisabled(t *testing.T) {
	var zero Monitor
	m := New(0, time.Minute, time.Unix(0, 0), 0)
	for _, x := range []*Monitor{&zero, &m} {
		if x.Enabled() || !x.Next().IsZero() || x.Check(time.Unix(1e9, 0)) != Wait {
			t.Fatal("disabled monitor acts")
		}
	}
}

// TestStaleSignOfLifeDoesNotEndProbing: the engines feed the time inbound
// ESP was last seen on every check; once the peer falls silent that time
// stays the same, and repeating it must neither end the probing nor
// postpone the verdict (found in interop: a killed strongSwan was probed
// forever and never declared dead).
func TestStaleSignOfLifeDoesNotEndProbing(t *testing.T) {
	t0 := time.Unix(0, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	m := New(3*time.Second, 9*time.Second, t0, 0)
	lastESP := at(1)
	var got []Verdict
	for s := 1; s <= 13; s++ {
		m.Seen(lastESP) // what the dataplane's LastInbound keeps reporting
		got = append(got, m.Check(at(s)))
	}
	// Probe at 4 (1 + delay), again at 7 and 10, dead at 13 (4 + timeout).
	want := []Verdict{Wait, Wait, Wait, Probe, Wait, Wait, Probe, Wait, Wait, Probe, Wait, Wait, Dead}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("verdicts %v, want %v", got, want)
		}
	}
	// A fresh sign of life (at or after the first probe) still ends probing.
	m = New(3*time.Second, 9*time.Second, t0, 0)
	if m.Check(at(3)) != Probe {
		t.Fatal("no probe")
	}
	m.Seen(at(3))
	if v := m.Check(at(12)); v == Dead {
		t.Fatal("dead although the peer answered at the probe time")
	}
}

// TestAckOutOfStep: during one probing, an ACK of the latest probe and of
// an earlier probe of it are life (peers that ack out of step); ACKs of
// probes before the probing began, or of ones never sent, are stale; the
// sequence numbers may wrap.
func TestAckOutOfStep(t *testing.T) {
	for _, start := range []uint32{0, 100, 0xfffffffe} {
		t0 := time.Unix(0, 0)
		m := New(10*time.Second, 60*time.Second, t0, start)
		before := m.NextSeq() // a probe of an earlier probing, answered
		m.Seen(t0)
		if m.Check(t0.Add(10*time.Second)) != Probe {
			t.Fatal("no probe after delay")
		}
		first := m.NextSeq()
		if m.Check(t0.Add(20*time.Second)) != Probe {
			t.Fatal("no second probe")
		}
		second := m.NextSeq()
		m.Check(t0.Add(30 * time.Second))
		latest := m.NextSeq()
		for _, tc := range []struct {
			seq  uint32
			want AckResult
		}{
			{latest, AckLatest},
			{second, AckEarlier},
			{first, AckEarlier},
			{before, AckStale},
			{latest + 1, AckStale},
			{latest + 1000, AckStale},
		} {
			if got := m.Ack(tc.seq); got != tc.want {
				t.Errorf("start %#x: Ack(%#x) = %v, want %v (probes %#x..%#x)", start, tc.seq, got, tc.want, first, latest)
			}
		}
		// Carried through an export.
		r := FromState(m.State())
		if got := r.Ack(second); got != AckEarlier {
			t.Errorf("after FromState: Ack(second) = %v", got)
		}
	}
}
