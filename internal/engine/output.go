package engine

import (
	"errors"
	"net/netip"
	"sync"
	"time"

	"ikegate/isakmp"
	"ikegate/policy"
)

// Output is what one step of an engine asks of the runtime, in order:
// datagrams to send and effects on the dataplane. The runtime (the
// gateway's shard, or a test's wire) carries it out with Execute, so every
// change to SA state passes one place.
type Output struct {
	Datagrams []isakmp.Datagram
	Effects   []Effect
}

// Empty reports whether o asks for nothing.
func (o Output) Empty() bool { return len(o.Datagrams) == 0 && len(o.Effects) == 0 }

// EffectKind says what an Effect asks for.
type EffectKind uint8

// Effects.
const (
	// EffectInstall asks to add Child to the dataplane (with a reqid from
	// it); the engine waits for the answer (Answerer.Answered with ID).
	EffectInstall EffectKind = iota + 1
	// EffectRemove asks to remove Child from the dataplane.
	EffectRemove
	// EffectIKEUp reports an IKE SA that was established (negotiated,
	// rekeyed or restored); EffectIKEDown one that is gone.
	EffectIKEUp
	EffectIKEDown
	// EffectAuthenticate asks to check User and Password against the
	// user backend of Conn; the engine waits for the answer (Result.Err
	// nil: accepted).
	EffectAuthenticate
	// EffectLease asks for an address of Pool for Identity; the engine
	// waits for the answer (Result.Addr).
	EffectLease
	// EffectRelease gives Addr of Pool back for Identity.
	EffectRelease
	// EffectEAP hands the client's EAP message (EAP; nil to start) to
	// the EAP server of Conn's remote_auth; the engine waits for the
	// answer (Result.EAP). Session is the conversation's state from the
	// previous answer (nil at the start).
	EffectEAP
	// EffectMove gives the installed Child new outer addresses, Local
	// and Remote of MovedTo (MOBIKE); Execute records them in Child when
	// the dataplane moved it.
	EffectMove
	// EffectRetire asks the dataplane to send no more on Child, which
	// stays installed for inbound packets until its EffectRemove
	// (policy.OutboundRetirer; a no-op on dataplanes without it).
	EffectRetire

	numEffects
)

// String names the effect for logs.
func (k EffectKind) String() string {
	switch k {
	case EffectInstall:
		return "install"
	case EffectRemove:
		return "remove"
	case EffectIKEUp:
		return "ike-up"
	case EffectIKEDown:
		return "ike-down"
	case EffectAuthenticate:
		return "authenticate"
	case EffectLease:
		return "lease"
	case EffectRelease:
		return "release"
	case EffectEAP:
		return "eap"
	case EffectMove:
		return "move"
	case EffectRetire:
		return "retire"
	}
	return "effect?"
}

// Effect is one thing an engine asks of the runtime beyond sending.
type Effect struct {
	Kind  EffectKind
	ID    uint64          // EffectInstall: quoted in the answer
	Child *policy.ChildSA // EffectInstall, EffectRemove

	// EffectIKEUp, EffectIKEDown: which IKE SA: its IKE version,
	// connection, SPIs (IKEv1: cookies) and Key, the SPI it is filed under
	// in its engine (IKEv2: ours; IKEv1: the initiator cookie). For
	// EffectIKEUp also the peer's Identity, whether the SA replaces one
	// of ours that was rekeyed (Rekey), and whether the peer said it
	// forgot its other SAs (InitialContact): the runtime applies the
	// connection's uniqueness policy across shards (Core.DeleteSA).
	Version        int
	Conn           string
	SPIi, SPIr     uint64
	Key            uint64
	Rekey          bool
	InitialContact bool

	// EffectAuthenticate: the user, the password (a secret: never
	// logged) and the connection whose backend decides. Authenticate,
	// Lease, Release: the client's public address (Peer) and the gateway
	// address it reached (Local), for RADIUS.
	User        string
	Password    Secret
	Connection  *policy.Connection
	Peer, Local netip.Addr
	// EffectIKEUp: the peer's address and port (INITIAL_CONTACT acts on
	// the SAs from the same one: clients behind one NAT differ by port).
	Remote netip.AddrPort
	// EffectLease, EffectRelease: the pool, the identity that holds the
	// lease (the XAUTH or EAP user, else the peer's ID) and the address.
	// (EffectIKEUp: Identity is the peer's.)
	Pool     string
	Identity string
	// Device (EffectLease): which device of Identity asks (the client's
	// address and port), when SAs of one identity may stay up side by
	// side (unique "no" or "never"): devices never share an address.
	// Empty: the identity's SAs share one.
	Device string
	Addr   netip.Addr

	// EffectEAP: the client's EAP message and the conversation so far.
	EAP     []byte
	Session any

	// EffectMove: the new outer addresses (ports: UDP encapsulation,
	// zero for none).
	MovedTo struct{ Local, Remote netip.AddrPort }
}

// NumEffects is the number of effect kinds (for counters by kind).
const NumEffects = int(numEffects)

// Result is the runtime's answer to an effect an engine waits for.
type Result struct {
	Err    error // the failure (install, authentication, lease, EAP), or nil
	Leased       // EffectLease: what the client gets
	EAP    EAPAnswer
}

// EAPAnswer is the EAP server's answer to EffectEAP.
type EAPAnswer struct {
	Message []byte // the EAP message for the client (Request, Success or Failure)
	Done    bool   // the conversation is over (Result.Err nil: the client is authenticated)
	MSK     Secret // Done and accepted: the Master Session Key (nil: the method has none)
	// Identity is the client's EAP identity once it gave it: who holds
	// the lease and whom uniqueness acts on.
	Identity string
	// SessionTimeout, when set (RADIUS Session-Timeout), is how long the
	// client may stay connected.
	SessionTimeout time.Duration
	Session        any // the conversation's state, for the next EffectEAP
}

// Leased is the answer to EffectLease: the address, where it came from,
// and the attributes that go with it.
type Leased struct {
	Addr  netip.Addr
	Pool  string // the pool it is held in (to release it with)
	Group string // the [[group]] that applies to the client ("": none)
	// Attrs, when not nil, are the client's attributes (its group's over
	// its pool's); nil: those of the connection's pool.
	Attrs *policy.Attributes
}

// Access is the remote-access layer as Execute uses it: user backends and
// address pools, safe for concurrent use (shards share it).
type Access interface {
	// Authenticate checks the password of ef.User with the backend of
	// ef.Connection (its xauth setting) and calls answer exactly once with
	// the verdict (nil: accepted): before it returns (local users) or
	// later from another goroutine (RADIUS).
	Authenticate(ef Effect, password string, answer func(error))
	// Lease hands out an address to ef.Identity (the same one again while
	// it holds one): from ef.Pool, or from the pool of the client's group.
	Lease(ef Effect) (Leased, error)
	// Release gives ef.Addr back.
	Release(ef Effect)
	// EAP runs one step of the client's EAP conversation (ef.EAP,
	// ef.Session) with the server ef.Connection's remote_auth names and
	// calls answer exactly once, before it returns or later from another
	// goroutine (RADIUS).
	EAP(ef Effect, answer func(Result))
}

// ErrNoAccess answers authentication and lease requests when the runtime
// has no remote-access layer.
var ErrNoAccess = errors.New("no remote-access configuration (users, pools)")

// IKEDown returns the EffectIKEDown of an IKE SA filed under key.
func IKEDown(version int, conn string, key, spiI, spiR uint64) Effect {
	return Effect{Kind: EffectIKEDown, Version: version, Conn: conn, Key: key, SPIi: spiI, SPIr: spiR}
}

// Answerer is an engine as Execute sees it: where the answers to the
// effects it waits for go.
type Answerer interface {
	Answered(now time.Time, id uint64, r Result) Output
}

// Execute carries out out for engine e on the dataplane dp and the
// remote-access layer acc (nil: none): it adds and removes CHILD SAs,
// checks users, leases and releases addresses, hands each answer back to e
// at once (which may ask for more), and returns every datagram to send, in
// order. An answer that comes later (a RADIUS verdict) goes to later,
// which must deliver it to e.Answered on e's goroutine and carry out what
// follows; nil later is for callers whose access layer always answers at
// once. observe, if set, sees every effect after it was carried out, with
// its error: the hook for metrics and replication.
func Execute(now time.Time, e Answerer, dp policy.Installer, acc Access, out Output, observe func(Effect, error),
	later func(id uint64, r Result)) []isakmp.Datagram {
	sent := out.Datagrams
	queue := out.Effects
	for len(queue) > 0 {
		ef := queue[0]
		queue = queue[1:]
		var r Result
		answer := false
		switch ef.Kind {
		case EffectInstall:
			ef.Child.ReqID = dp.AllocReqID()
			r.Err, answer = dp.AddChildSA(ef.Child), true
		case EffectRemove:
			r.Err = dp.DelChildSA(ef.Child)
			ef.Child.WipeKeys()
		case EffectRetire:
			if rt, ok := dp.(policy.OutboundRetirer); ok {
				r.Err = rt.RetireOutbound(ef.Child)
			}
		case EffectMove:
			if r.Err = dp.MoveChildSA(ef.Child, ef.MovedTo.Local, ef.MovedTo.Remote); r.Err == nil {
				ef.Child.Move(ef.MovedTo.Local, ef.MovedTo.Remote)
			}
		case EffectAuthenticate:
			answer, r.Err = true, ErrNoAccess
			if acc != nil {
				r, answer = ask(func(done func(Result)) {
					acc.Authenticate(ef, string(ef.Password), func(err error) { done(Result{Err: err}) })
				}, ef.ID, later)
			}
			clear(ef.Password)
		case EffectEAP:
			answer, r.Err = true, ErrNoAccess
			if acc != nil {
				r, answer = ask(func(done func(Result)) { acc.EAP(ef, done) }, ef.ID, later)
			}
		case EffectLease:
			answer, r.Err = true, ErrNoAccess
			if acc != nil {
				r.Leased, r.Err = acc.Lease(ef)
			}
		case EffectRelease:
			if acc != nil {
				acc.Release(ef)
			}
		}
		if observe != nil {
			observe(ef, r.Err)
		}
		if answer {
			more := e.Answered(now, ef.ID, r)
			sent = append(sent, more.Datagrams...)
			if len(more.Effects) > 0 {
				queue = append(more.Effects, queue...) // what followed from the answer comes first
			}
		}
	}
	return sent
}

// ask runs call and returns its answer when it comes at once (answered);
// a later one goes to later with id.
func ask(call func(answer func(Result)), id uint64, later func(uint64, Result)) (r Result, answered bool) {
	var mu sync.Mutex
	returned := false
	call(func(res Result) {
		mu.Lock()
		if !returned {
			r, answered = res, true
			mu.Unlock()
			return
		}
		mu.Unlock()
		if later != nil {
			later(id, res)
		}
	})
	mu.Lock()
	returned = true
	mu.Unlock()
	return r, answered
}
