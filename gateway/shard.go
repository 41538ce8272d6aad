package gateway

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"ikegate/ikev2"
	"ikegate/isakmp"
)

// shard is one SA shard: a goroutine that alone owns an engine.
type shard struct {
	id  int
	g   *Gateway
	eng *ikev2.Engine
	in  chan isakmp.Datagram // from the readers; never blocks them
	ctl chan ctlReq          // control requests, run on the shard goroutine
	log *zap.Logger
}

// ctlReq is work to run on a shard's goroutine with its engine; it returns
// the datagrams to send.
type ctlReq func(e *ikev2.Engine, now time.Time) []isakmp.Datagram

// errNotRunning is returned for control requests when the gateway is not
// serving (not yet started, or stopping).
var errNotRunning = errors.New("gateway is not running")

func (sh *shard) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var armed time.Time // deadline the timer is set for; zero: stopped

	for {
		var out []isakmp.Datagram
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case d := <-sh.in:
			out = sh.eng.HandleDatagram(time.Now(), d)
		case req := <-sh.ctl:
			out = req(sh.eng, time.Now())
		case <-timer.C:
			armed = time.Time{}
			out = sh.eng.Tick(time.Now())
		}
		if len(out) > 0 {
			sh.g.send(out, KindIKEv2, sh.log)
		}

		// Re-arm to the engine's next deadline (Go >= 1.23 timers: Reset
		// and Stop discard any stale expiry).
		next := sh.eng.NextDeadline()
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
func (g *Gateway) runOn(ctx context.Context, k int, fn func(e *ikev2.Engine, now time.Time) []isakmp.Datagram) error {
	if !g.running() {
		return errNotRunning
	}
	done := make(chan struct{})
	req := func(e *ikev2.Engine, now time.Time) []isakmp.Datagram {
		defer close(done)
		return fn(e, now)
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
func (g *Gateway) runOnAll(ctx context.Context, fn func(k int, e *ikev2.Engine, now time.Time) []isakmp.Datagram) error {
	errs := make(chan error, len(g.shards))
	for k := range g.shards {
		go func() {
			errs <- g.runOn(ctx, k, func(e *ikev2.Engine, now time.Time) []isakmp.Datagram {
				return fn(k, e, now)
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
