// Package enginetest holds what the IKEv1 and IKEv2 engine tests share:
// a fake kernel installer and an in-memory network with a fake clock that
// wires engines back to back (loss, duplication and reordering through a
// filter, no sleeps).
package enginetest

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"ikegate/internal/engine"
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
	Used    uint64                     // bytes every SA reports as used (0: no counters)
	Packets uint64                     // inbound packets every SA reports (0: none, unless Used)
	Moves   int                        // MoveChildSA calls that moved an SA
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

// Counters reports Used as the inbound bytes and Packets as the inbound
// packets of every SA it holds (tests set them to exercise byte lifetimes
// and idle timeouts).
func (f *Installer) Counters(spiIn uint32) (policy.ChildCounters, bool) {
	_, ok := f.Live[spiIn]
	return policy.ChildCounters{InBytes: f.Used, InPackets: f.Packets}, ok && (f.Used > 0 || f.Packets > 0)
}

// Capabilities are those of a dataplane that counts traffic, when Used or
// Packets is set.
func (f *Installer) Capabilities() policy.Capabilities {
	return policy.Capabilities{Counters: f.Used > 0 || f.Packets > 0}
}

// DelChildSA forgets sa.
// MoveChildSA records the new addresses of an installed SA.
func (f *Installer) MoveChildSA(sa *policy.ChildSA, local, remote netip.AddrPort) error {
	s := f.Live[sa.SPIIn]
	if s == nil {
		return fmt.Errorf("move: spi %#08x not installed", sa.SPIIn)
	}
	s.Move(local, remote)
	f.Moves++
	return nil
}

func (f *Installer) DelChildSA(sa *policy.ChildSA) error {
	delete(f.Live, sa.SPIIn)
	return nil
}

// Engine is what the Wire drives: either IKE engine.
type Engine interface {
	engine.Answerer
	HandleDatagram(now time.Time, d isakmp.Datagram) engine.Output
	Tick(now time.Time) engine.Output
	NextDeadline() time.Time
}

// Peer is an engine with the dataplane and remote-access layer (nil:
// none) that carry out its effects.
type Peer struct {
	Engine Engine
	Inst   policy.Installer
	Access engine.Access
}

// Wire is an in-memory network between engines with a fake clock. Filter,
// if set, sees the n-th datagram sent and returns what is delivered
// instead (nothing, copies, or held-back datagrams).
type Wire struct {
	Now    time.Time
	Queue  []isakmp.Datagram
	Filter func(n int, d isakmp.Datagram) []isakmp.Datagram
	Sent   int
	// At returns the peer bound to an address; Peers lists them all (for
	// timers).
	At    func(netip.Addr) Peer
	Peers func() []Peer
	// Observe, if set, sees every effect executed (and its error).
	Observe func(p Peer, ef engine.Effect, err error)
}

// Do carries out an engine's output as the gateway's shard does
// (engine.Execute on its dataplane) and puts its datagrams on the wire.
func (w *Wire) Do(p Peer, out engine.Output) {
	var observe func(engine.Effect, error)
	if w.Observe != nil {
		observe = func(ef engine.Effect, err error) { w.Observe(p, ef, err) }
	}
	w.Send(engine.Execute(w.Now, p.Engine, p.Inst, p.Access, out, observe, nil))
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

// Deliver hands the first queued datagram to the peer it is addressed to.
func (w *Wire) Deliver() {
	d := w.Queue[0]
	w.Queue = w.Queue[1:]
	p := w.At(d.Remote.Addr())
	w.Do(p, p.Engine.HandleDatagram(w.Now, isakmp.Datagram{Local: d.Remote, Remote: d.Local, Data: d.Data}))
}

// Run delivers datagrams and fires timers until nothing is left or the
// clock passes limit. It reports false if the engines never settle.
func (w *Wire) Run(limit time.Duration) bool {
	end := w.Now.Add(limit)
	for steps := 0; steps < 10000; steps++ {
		if len(w.Queue) > 0 {
			w.Deliver()
			continue
		}
		var next time.Time
		for _, p := range w.Peers() {
			if t := p.Engine.NextDeadline(); !t.IsZero() && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
		if next.IsZero() || next.After(end) {
			return true
		}
		w.Now = next
		for _, p := range w.Peers() {
			w.Do(p, p.Engine.Tick(w.Now))
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

// Access is a remote-access layer for engine tests: users with clear
// passwords and one pool handing out Pool's addresses in order, the same
// one again to an identity that holds one.
type Access struct {
	Users  map[string]string
	Pool   netip.Prefix
	Leases map[string]netip.Addr // by identity
	Auths  int                   // authentication requests seen
	// EAPServer, if set, answers EffectEAP (at once); nil: no EAP.
	EAPServer func(ef engine.Effect) engine.Result
}

// EAP answers with EAPServer.
func (a *Access) EAP(ef engine.Effect, answer func(engine.Result)) {
	if a.EAPServer == nil {
		answer(engine.Result{Err: engine.ErrNoAccess})
		return
	}
	answer(a.EAPServer(ef))
}

// Authenticate checks the user's password (answering at once).
func (a *Access) Authenticate(ef engine.Effect, password string, answer func(error)) {
	a.Auths++
	if p, ok := a.Users[ef.User]; !ok || p != password {
		answer(fmt.Errorf("user %q: wrong password or unknown user", ef.User))
		return
	}
	answer(nil)
}

// Lease hands out the next address of Pool (never its first).
func (a *Access) Lease(ef engine.Effect) (engine.Leased, error) {
	pool, identity := ef.Pool, ef.Identity
	if a.Leases == nil {
		a.Leases = map[string]netip.Addr{}
	}
	if addr, ok := a.Leases[identity]; ok {
		return engine.Leased{Addr: addr, Pool: pool}, nil
	}
	addr := a.Pool.Addr().Next()
	for taken := true; taken; {
		taken = false
		for _, l := range a.Leases {
			if l == addr {
				addr, taken = addr.Next(), true
			}
		}
	}
	if !a.Pool.Contains(addr) {
		return engine.Leased{}, fmt.Errorf("pool %q exhausted", pool)
	}
	a.Leases[identity] = addr
	return engine.Leased{Addr: addr, Pool: pool}, nil
}

// Release forgets identity's lease.
func (a *Access) Release(ef engine.Effect) {
	if a.Leases[ef.Identity] == ef.Addr {
		delete(a.Leases, ef.Identity)
	}
}
