package gateway

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"ikegate/ikev1"
	"ikegate/ikev2"
	"ikegate/isakmp"
	"ikegate/policy"
)

// engine is what a shard needs of an IKE engine: ikev1.Engine and
// ikev2.Engine both are one.
type engine interface {
	HandleDatagram(now time.Time, d isakmp.Datagram) []isakmp.Datagram
	Tick(now time.Time) []isakmp.Datagram
	NextDeadline() time.Time
	Initiate(now time.Time, conn *policy.Connection) ([]isakmp.Datagram, error)
	Terminate(now time.Time, name string) ([]isakmp.Datagram, bool)
	SAs() []policy.IKESAInfo
	Expired(now time.Time, spi uint32, hard bool) ([]isakmp.Datagram, bool)
	Reusable(conn *policy.Connection) bool
}

var (
	_ engine = (*ikev1.Engine)(nil)
	_ engine = (*ikev2.Engine)(nil)
)

// shard is one SA shard: a goroutine that alone owns one engine of each
// IKE version.
type shard struct {
	id  int
	g   *Gateway
	v1  *ikev1.Engine
	v2  *ikev2.Engine
	in  chan inbound // from the readers; never blocks them
	ctl chan ctlReq  // control requests, run on the shard goroutine
	log *zap.Logger
}

// inbound is a datagram for one of the shard's engines.
type inbound struct {
	d  isakmp.Datagram
	v1 bool
}

// engines returns the shard's engines, IKEv1 first.
func (sh *shard) engines() [2]engine { return [2]engine{sh.v1, sh.v2} }

// engineFor returns the engine that initiates connections of version v.
func (sh *shard) engineFor(v policy.Version) (engine, Kind) {
	if v == policy.IKEv1 {
		return sh.v1, KindIKEv1
	}
	return sh.v2, KindIKEv2
}

// ctlReq is work to run on a shard's goroutine with its engines; it returns
// the datagrams to send.
type ctlReq func(sh *shard, now time.Time) []isakmp.Datagram

// errNotRunning is returned for control requests when the gateway is not
// serving (not yet started, or stopping).
var errNotRunning = errors.New("gateway is not running")

func (sh *shard) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var armed time.Time // deadline the timer is set for; zero: stopped

	for {
		var out1, out2 []isakmp.Datagram
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case in := <-sh.in:
			sh.guard("datagram", func() {
				if in.v1 {
					out1 = sh.v1.HandleDatagram(time.Now(), in.d)
				} else {
					out2 = sh.v2.HandleDatagram(time.Now(), in.d)
				}
			})
		case req := <-sh.ctl:
			sh.guard("control request", func() { out2 = req(sh, time.Now()) })
		case <-timer.C:
			armed = time.Time{}
			sh.guard("timer", func() {
				now := time.Now()
				out1, out2 = sh.v1.Tick(now), sh.v2.Tick(now)
			})
		}
		if len(out1) > 0 {
			sh.g.send(out1, KindIKEv1, sh.log)
		}
		if len(out2) > 0 {
			sh.g.send(out2, KindIKEv2, sh.log)
		}

		// Re-arm to the engines' next deadline (Go >= 1.23 timers: Reset
		// and Stop discard any stale expiry).
		next := sh.v2.NextDeadline()
		if n1 := sh.v1.NextDeadline(); !n1.IsZero() && (next.IsZero() || n1.Before(next)) {
			next = n1
		}
		if next.Equal(armed) {
			continue
		}
		armed = next
		if next.IsZero() {
			timer.Stop()
		} else {
			timer.Reset(max(time.Until(next), 0))
		}
	}
}

// runOn runs fn on shard k's goroutine and waits for it to finish.
func (g *Gateway) runOn(ctx context.Context, k int, fn func(sh *shard, now time.Time) []isakmp.Datagram) error {
	if !g.running() {
		return errNotRunning
	}
	done := make(chan struct{})
	req := func(sh *shard, now time.Time) []isakmp.Datagram {
		defer close(done)
		return fn(sh, now)
	}
	select {
	case g.shards[k].ctl <- req:
	case <-g.done:
		return errNotRunning
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once accepted, the request runs to completion promptly: engine calls
	// do not block.
	<-done
	return nil
}

// runOnAll runs fn on every shard (concurrently, one call per shard) and
// waits for all of them.
func (g *Gateway) runOnAll(ctx context.Context, fn func(k int, sh *shard, now time.Time) []isakmp.Datagram) error {
	errs := make(chan error, len(g.shards))
	for k := range g.shards {
		go func() {
			errs <- g.runOn(ctx, k, func(sh *shard, now time.Time) []isakmp.Datagram {
				return fn(k, sh, now)
			})
		}()
	}
	var first error
	for range g.shards {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// guard runs f and survives a panic in it: a bug in handling one message
// must not take down every other SA. It is logged with its stack and
// counted; what f was doing is lost.
func (sh *shard) guard(what string, f func()) {
	defer func() {
		if r := recover(); r != nil {
			sh.g.drop(ReasonEnginePanic)
			sh.log.Error("engine panic (a bug in ikegate): "+what+" dropped; please report it with this log",
				zap.Any("panic", r), zap.Stack("stack"))
		}
	}()
	f()
}
