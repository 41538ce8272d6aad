package engine

import (
	"net/netip"
	"time"
)

// Retransmit is a message of ours that waits for an answer: the datagrams
// (several when fragmented), how often they went out, and when they go out
// again. Both versions resend on the same schedule: RetransmitBase after
// the first send, doubled after each further one.
type Retransmit struct {
	Raw   [][]byte
	Tries int
	Next  time.Time
}

// Due reports whether r (possibly nil) should be resent or given up at now.
func (r *Retransmit) Due(now time.Time) bool { return r != nil && !r.Next.After(now) }

// Arm returns a Retransmit for raw, sent once at now.
func (c *Core[S, C, W]) Arm(now time.Time, raw [][]byte) *Retransmit {
	return &Retransmit{Raw: raw, Tries: 1, Next: now.Add(c.Cfg.RetransmitBase)}
}

// Resend handles a due retransmission: it resends r from local to remote
// and returns true, or returns false (sending nothing) when r already went
// out RetransmitTries times: the peer did not answer.
func (c *Core[S, C, W]) Resend(now time.Time, r *Retransmit, local, remote netip.AddrPort) bool {
	if r.Tries >= c.Cfg.RetransmitTries {
		return false
	}
	r.Tries++
	r.Next = now.Add(c.Cfg.RetransmitBase << (r.Tries - 1))
	c.EmitAll(local, remote, r.Raw)
	return true
}
