// Package enginetest holds what the IKEv1 and IKEv2 engine tests share:
// a fake kernel installer and an in-memory network with a fake clock that
// wires engines back to back (loss, duplication and reordering through a
// filter, no sleeps).
package enginetest

import (
	"net/netip"
	"testing"
	"time"

	"ikegate/isakmp"
	"ikegate/oakley"
	"ikegate/policy"
)

// Installer records CHILD SAs instead of programming a kernel.
type Installer struct {
	Base    uint32 // high bits of the SPIs it allocates
	Next    uint32
	Live    map[uint32]*policy.ChildSA // by inbound SPI
	FailAdd error                      // returned by AddChildSA when set
	ReqIDs  uint32                     // the last reqid handed out
}

// AllocSPI returns Base | a counter.
func (f *Installer) AllocSPI(local, remote netip.Addr) (uint32, error) {
	f.Next++
	return f.Base | f.Next, nil
}

// AllocReqID counts reqids from 1.
func (f *Installer) AllocReqID() uint32 {
	f.ReqIDs++
	return f.ReqIDs
}

// AddChildSA records sa, or fails with FailAdd.
func (f *Installer) AddChildSA(sa *policy.ChildSA) error {
	if f.FailAdd != nil {
		return f.FailAdd
	}
	if f.Live == nil {
		f.Live = map[uint32]*policy.ChildSA{}
	}
	f.Live[sa.SPIIn] = sa
	return nil
}

// DelChildSA forgets sa.
func (f *Installer) DelChildSA(sa *policy.ChildSA) error {
	delete(f.Live, sa.SPIIn)
	return nil
}

// Engine is what the Wire drives: either IKE engine.
type Engine interface {
	HandleDatagram(now time.Time, d isakmp.Datagram) []isakmp.Datagram
	Tick(now time.Time) []isakmp.Datagram
	NextDeadline() time.Time
}

// Wire is an in-memory network between engines with a fake clock. Filter,
// if set, sees the n-th datagram sent and returns what is delivered
// instead (nothing, copies, or held-back datagrams).
type Wire struct {
	Now    time.Time
	Queue  []isakmp.Datagram
	Filter func(n int, d isakmp.Datagram) []isakmp.Datagram
	Sent   int
	// At returns the engine bound to an address; Engines lists them all
	// (for timers).
	At      func(netip.Addr) Engine
	Engines func() []Engine
}

// Send puts datagrams on the wire (through Filter).
func (w *Wire) Send(ds []isakmp.Datagram) {
	for _, d := range ds {
		w.Sent++
		if w.Filter != nil {
			w.Queue = append(w.Queue, w.Filter(w.Sent, d)...)
		} else {
			w.Queue = append(w.Queue, d)
		}
	}
}

// Run delivers datagrams and fires timers until nothing is left or the
// clock passes limit. It reports false if the engines never settle.
func (w *Wire) Run(limit time.Duration) bool {
	end := w.Now.Add(limit)
	for steps := 0; steps < 10000; steps++ {
		if len(w.Queue) > 0 {
			d := w.Queue[0]
			w.Queue = w.Queue[1:]
			in := isakmp.Datagram{Local: d.Remote, Remote: d.Local, Data: d.Data}
			w.Send(w.At(d.Remote.Addr()).HandleDatagram(w.Now, in))
			continue
		}
		var next time.Time
		for _, e := range w.Engines() {
			if t := e.NextDeadline(); !t.IsZero() && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
		if next.IsZero() || next.After(end) {
			return true
		}
		w.Now = next
		for _, e := range w.Engines() {
			w.Send(e.Tick(w.Now))
		}
	}
	return false
}

// Proposals parses strongSwan-style proposal strings or fails the test.
func Proposals(tb testing.TB, esp bool, ss ...string) []oakley.Proposal {
	tb.Helper()
	var out []oakley.Proposal
	for _, s := range ss {
		p, err := oakley.ParseProposal(s, esp)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}
