// Package dpd decides when to probe an IKE peer for liveness and when to
// declare it dead: RFC 3706 (IKEv1 R-U-THERE) and RFC 7296 2.4 (IKEv2
// liveness checks). The engines own the messages; this package owns the
// clock arithmetic, so both versions behave the same way: a probe only
// after dpd_delay without any sign of life from the peer, and the peer is
// dead when dpd_timeout passes after the first unanswered probe.
package dpd

import (
	"time"

	"ikegate/policy"
)

// Action is what to do with a dead peer's SAs.
type Action string

// Actions, as in the dpd_action config key.
const (
	Clear   Action = "clear"   // delete the SAs
	Hold    Action = "hold"    // delete the SAs; renegotiate on demand (trap)
	Restart Action = "restart" // delete the SAs and initiate again at once
)

// Verdict is what Check decides.
type Verdict int

// Verdicts.
const (
	Wait  Verdict = iota // nothing to do yet
	Probe                // send a liveness probe now
	Dead                 // the peer did not answer in time
)

// Monitor tracks one IKE SA's peer. The zero value is disabled.
type Monitor struct {
	delay, timeout time.Duration
	lastSeen       time.Time
	probeSince     time.Time // first unanswered probe; zero when not probing
	lastProbe      time.Time
	seq            uint32
	firstSeq       uint32 // the first probe of the current episode (IKEv1)
}

// New returns a monitor that probes after delay of silence and gives up
// timeout after the first unanswered probe. delay <= 0 disables it.
func New(delay, timeout time.Duration, now time.Time, seq uint32) Monitor {
	if delay <= 0 {
		return Monitor{}
	}
	if timeout <= 0 {
		timeout = 5 * delay
	}
	return Monitor{delay: delay, timeout: timeout, lastSeen: now, seq: seq}
}

// Enabled reports whether the monitor probes at all.
func (m *Monitor) Enabled() bool { return m.delay > 0 }

// Seen records a sign of life from the peer at time at: any authenticated
// IKE message or inbound ESP traffic. It ends any probing, unless it is
// older than the first unanswered probe: the engines report the last
// inbound ESP time of each CHILD SA on every check (policy.Installer with Capabilities().LastInbound), and
// that same old time, repeated while the peer is silent, must not restart
// the probing forever (a dead peer was then never declared dead).
func (m *Monitor) Seen(at time.Time) {
	if !m.probeSince.IsZero() && at.Before(m.probeSince) {
		return
	}
	if at.After(m.lastSeen) {
		m.lastSeen = at
	}
	m.probeSince = time.Time{}
}

// Next is when Check next has something to decide; zero when disabled.
func (m *Monitor) Next() time.Time {
	switch {
	case !m.Enabled():
		return time.Time{}
	case m.probeSince.IsZero():
		return m.lastSeen.Add(m.delay)
	}
	// While probing: probe again every delay, until the timeout.
	next := m.lastProbe.Add(m.delay)
	if dead := m.probeSince.Add(m.timeout); dead.Before(next) {
		return dead
	}
	return next
}

// Check decides at now. On Probe the caller sends a probe with NextSeq.
func (m *Monitor) Check(now time.Time) Verdict {
	if !m.Enabled() {
		return Wait
	}
	if !m.probeSince.IsZero() {
		if !now.Before(m.probeSince.Add(m.timeout)) {
			return Dead
		}
		if !now.Before(m.lastProbe.Add(m.delay)) {
			m.lastProbe = now
			return Probe
		}
		return Wait
	}
	if !now.Before(m.lastSeen.Add(m.delay)) {
		m.probeSince, m.lastProbe = now, now
		m.firstSeq = m.seq + 1 // the probe about to be sent
		return Probe
	}
	return Wait
}

// NextSeq returns the sequence number for the next R-U-THERE (RFC 3706 7).
func (m *Monitor) NextSeq() uint32 {
	m.seq++
	return m.seq
}

// AckResult classifies the sequence number of an R-U-THERE-ACK.
type AckResult int

// AckResults.
const (
	// AckLatest answers our latest probe: the peer is alive.
	AckLatest AckResult = iota
	// AckEarlier answers an earlier probe of the current probing (a peer
	// slow to answer, or one that acks out of step, as Cisco ASAs are
	// reported to): it was sent after the silence began, so the peer is
	// alive too.
	AckEarlier
	// AckStale answers no probe of the current probing: ignored.
	AckStale
)

// Ack classifies an R-U-THERE-ACK carrying seq (RFC 3706 7: the sequence
// number ties an ACK to its probe).
func (m *Monitor) Ack(seq uint32) AckResult {
	switch {
	case seq == m.seq:
		return AckLatest
	case !m.probeSince.IsZero() && seq-m.firstSeq < m.seq-m.firstSeq: // wraps like the counter
		return AckEarlier
	}
	return AckStale
}

// SeenTraffic counts inbound ESP on the given CHILD SAs as a sign of life,
// when the installer can tell (Capabilities().LastInbound): probes then go out
// only on a silent tunnel.
func (m *Monitor) SeenTraffic(now time.Time, inst policy.Installer, sas []*policy.ChildSA) {
	if !inst.Capabilities().LastInbound {
		return
	}
	for _, sa := range sas {
		if t := policy.LastInbound(inst, sa); !t.IsZero() && !t.After(now) {
			m.Seen(t)
		}
	}
}

// State is a Monitor's complete state, for carrying an SA to another
// process (the SA export record) and back.
type State struct {
	Delay      time.Duration `json:"delay"`
	Timeout    time.Duration `json:"timeout"`
	LastSeen   time.Time     `json:"last_seen"`
	ProbeSince time.Time     `json:"probe_since"`
	LastProbe  time.Time     `json:"last_probe"`
	Seq        uint32        `json:"seq"`                 // last R-U-THERE sequence number sent
	FirstSeq   uint32        `json:"first_seq,omitempty"` // first of the current probing
}

// State returns m's state.
func (m *Monitor) State() State {
	return State{Delay: m.delay, Timeout: m.timeout, LastSeen: m.lastSeen, ProbeSince: m.probeSince, LastProbe: m.lastProbe, Seq: m.seq, FirstSeq: m.firstSeq}
}

// FromState returns the monitor whose state is s.
func FromState(s State) Monitor {
	return Monitor{delay: s.Delay, timeout: s.Timeout, lastSeen: s.LastSeen, probeSince: s.ProbeSince, lastProbe: s.LastProbe, seq: s.Seq, firstSeq: s.FirstSeq}
}
