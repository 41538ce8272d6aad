package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"ikegate/ikev1"
	"ikegate/ikev2"
	"ikegate/internal/engine"
	"ikegate/isakmp"
	"ikegate/policy"
)

// ikeEngine is what a shard needs of an IKE engine: ikev1.Engine and
// ikev2.Engine both are one, and the shard treats them alike.
type ikeEngine interface {
	engine.Answerer
	HandleDatagram(now time.Time, d isakmp.Datagram) engine.Output
	Tick(now time.Time) engine.Output
	NextDeadline() time.Time
	Initiate(now time.Time, conn *policy.Connection) (engine.Output, error)
	Terminate(now time.Time, name string) (engine.Output, bool)
	Rekey(now time.Time, name string, ike, child bool) (engine.Output, int)
	SAs() []policy.IKESAInfo
	Expired(now time.Time, spi uint32, hard bool) (engine.Output, bool)
	Reusable(conn *policy.Connection) bool
	Busy(conn string) (bool, string)
	DeleteSA(now time.Time, key uint64, notify bool, why string) (engine.Output, bool)
	TerminateUser(now time.Time, user string) (engine.Output, bool)
	Export() []engine.Record
	Restore(now time.Time, rec *engine.Record) (engine.Output, error)
	Stats() engine.Counters
	Shutdown(now time.Time) (engine.Output, int)
	SetDB(db *policy.DB)
	LastFailure(conn string) string
	Failures(m map[string]string)
	ClearFailure(conn string)
}

var (
	_ ikeEngine = (*ikev1.Engine)(nil)
	_ ikeEngine = (*ikev2.Engine)(nil)
)

// shard is one SA shard: a goroutine that alone owns one engine of each
// IKE version.
type shard struct {
	id      int
	g       *Gateway
	engines [2]ikeEngine // by version: IKEv1, IKEv2
	in      chan inbound // from the readers; never blocks them
	ctl     chan ctlReq  // control requests, run on the shard goroutine
	tx      *txQueue     // what the engines send, until flush
	log     *zap.Logger
}

// Engine versions as indexes of shard.engines.
const (
	v1 = 0
	v2 = 1
)

// kinds are the datagram kinds of the engines, for the counters.
var kinds = [2]Kind{KindIKEv1, KindIKEv2}

// inbound is a datagram for one of the shard's engines.
type inbound struct {
	d   isakmp.Datagram
	ver int // v1 or v2
}

// engineFor returns the index of the engine that initiates connections of
// version v.
func engineFor(v policy.Version) int {
	if v == policy.IKEv1 {
		return v1
	}
	return v2
}

// exec carries out what engine i returned: its effects on the dataplane
// (engine.Execute, observed by observe), then it queues its datagrams,
// which go out at the shard's next flush, before the shard waits for
// anything. Every SA state change of the shard passes here.
func (sh *shard) exec(i int, out engine.Output) {
	if out.Empty() {
		return
	}
	sent := engine.Execute(time.Now(), sh.engines[i], sh.g.guard, sh.g.access, out, sh.observe, func(id uint64, r engine.Result) {
		go sh.g.answerLater(sh.id, i, id, r)
	})
	if len(sent) > 0 {
		if sh.tx == nil {
			sh.tx = newTxQueue() // a shard made without one, as in tests
		}
		sh.g.enqueue(sh.tx, sent, kinds[i], sh.log)
	}
}

// flush sends what the engines queued.
func (sh *shard) flush() {
	if sh.tx != nil {
		sh.g.flush(sh.tx, sh.log)
	}
}

// observe sees every effect an engine asked for once it was carried out.
func (sh *shard) observe(ef engine.Effect, err error) {
	sh.g.stats.effects[ef.Kind].Add(1)
	if ef.Kind == engine.EffectIKEUp || ef.Kind == engine.EffectIKEDown {
		sh.g.trackIKE(sh.id, ef)
	}
	if err != nil && ef.Kind == engine.EffectRemove {
		sh.log.Warn("removing CHILD SA from the dataplane failed", zap.String("child", ef.Child.ConnName),
			zap.String("spi_in", fmt.Sprintf("%08x", ef.Child.SPIIn)), zap.Error(err))
	}
}

// answerLater delivers an answer that came after Execute returned (a
// RADIUS verdict) to engine i of shard k, on its goroutine.
func (g *Gateway) answerLater(k, i int, id uint64, r engine.Result) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.runOn(ctx, k, func(sh *shard, now time.Time) { sh.exec(i, sh.engines[i].Answered(now, id, r)) }); err != nil {
		g.log.Debug("late answer dropped", zap.Error(err))
	}
}

// ctlReq is work to run on a shard's goroutine with its engines; it
// carries out what they return with sh.exec.
type ctlReq func(sh *shard, now time.Time)

// errNotRunning is returned for control requests when the gateway is not
// serving (not yet started, or stopping).
var errNotRunning = errors.New("gateway is not running")

func (sh *shard) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var armed time.Time // deadline the timer is set for; zero: stopped

	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case in := <-sh.in:
			sh.handle(in)
			// Work through what else is waiting, up to shardBatch
			// inputs, before sending what they produced: one sendmmsg
			// instead of one sendto per answer. A lone datagram is
			// answered at once.
		more:
			for range shardBatch - 1 {
				select {
				case in := <-sh.in:
					sh.handle(in)
				default:
					break more
				}
			}
		case req := <-sh.ctl:
			sh.guard("control request", func() { req(sh, time.Now()) })
		case <-timer.C:
			armed = time.Time{}
			sh.guard("timer", func() {
				now := time.Now()
				for i, e := range sh.engines {
					sh.exec(i, e.Tick(now))
				}
			})
		}

		sh.flush()

		// Re-arm to the engines' next deadline (Go >= 1.23 timers: Reset
		// and Stop discard any stale expiry).
		var d engine.Deadline
		for _, e := range sh.engines {
			d.Consider(e.NextDeadline())
		}
		next := d.When()
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

// handle passes one received datagram to its engine.
func (sh *shard) handle(in inbound) {
	sh.guard("datagram", func() { sh.exec(in.ver, sh.engines[in.ver].HandleDatagram(time.Now(), in.d)) })
}

// runOn runs fn on shard k's goroutine and waits for it to finish.
func (g *Gateway) runOn(ctx context.Context, k int, fn func(sh *shard, now time.Time)) error {
	if !g.running() {
		return errNotRunning
	}
	done := make(chan struct{})
	req := func(sh *shard, now time.Time) {
		defer close(done)
		fn(sh, now)
		sh.flush() // before the caller goes on (shutdown closes the sockets next)
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
func (g *Gateway) runOnAll(ctx context.Context, fn func(k int, sh *shard, now time.Time)) error {
	errs := make(chan error, len(g.shards))
	for k := range g.shards {
		go func() {
			errs <- g.runOn(ctx, k, func(sh *shard, now time.Time) { fn(k, sh, now) })
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
