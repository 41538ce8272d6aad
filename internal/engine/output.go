package engine

import (
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
	// it); the engine waits for the answer: Installer.Installed(ID, err).
	EffectInstall EffectKind = iota + 1
	// EffectRemove asks to remove Child from the dataplane.
	EffectRemove
	// EffectIKEUp reports an IKE SA that was established (negotiated,
	// rekeyed or restored); EffectIKEDown one that is gone.
	EffectIKEUp
	EffectIKEDown
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
	}
	return "effect?"
}

// Effect is one thing an engine asks of the runtime beyond sending.
type Effect struct {
	Kind  EffectKind
	ID    uint64          // EffectInstall: quoted in the answer
	Child *policy.ChildSA // EffectInstall, EffectRemove

	// EffectIKEUp, EffectIKEDown: which IKE SA.
	Version    int
	Conn       string
	SPIi, SPIr uint64
}

// IKEUp returns the EffectIKEUp of an IKE SA.
func IKEUp(version int, conn string, spiI, spiR uint64) Effect {
	return Effect{Kind: EffectIKEUp, Version: version, Conn: conn, SPIi: spiI, SPIr: spiR}
}

// IKEDown returns the EffectIKEDown of an IKE SA.
func IKEDown(version int, conn string, spiI, spiR uint64) Effect {
	return Effect{Kind: EffectIKEDown, Version: version, Conn: conn, SPIi: spiI, SPIr: spiR}
}

// Answerer is an engine as Execute sees it: where install answers go.
type Answerer interface {
	Installed(now time.Time, id uint64, err error) Output
}

// Execute carries out out on dp for engine e: it adds and removes CHILD
// SAs, hands each install's result back to e at once (which may ask for
// more), and returns every datagram to send, in order. observe, if set,
// sees every effect after it was carried out, with the dataplane's error
// for installs and removals: the hook for metrics and replication.
func Execute(now time.Time, e Answerer, dp policy.Installer, out Output, observe func(Effect, error)) []isakmp.Datagram {
	sent := out.Datagrams
	queue := out.Effects
	for len(queue) > 0 {
		ef := queue[0]
		queue = queue[1:]
		var err error
		switch ef.Kind {
		case EffectInstall:
			ef.Child.ReqID = dp.AllocReqID()
			err = dp.AddChildSA(ef.Child)
			more := e.Installed(now, ef.ID, err)
			sent = append(sent, more.Datagrams...)
			if len(more.Effects) > 0 {
				queue = append(more.Effects, queue...) // what followed from the answer comes first
			}
		case EffectRemove:
			err = dp.DelChildSA(ef.Child)
			ef.Child.WipeKeys()
		}
		if observe != nil {
			observe(ef, err)
		}
	}
	return sent
}
