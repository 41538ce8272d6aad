package gateway

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"ikegate/internal/engine"
	"ikegate/policy"
)

// counters are the gateway's packet counters, updated lock-free from the
// reader and worker goroutines.
type counters struct {
	in      [numKinds]atomic.Uint64
	out     [numKinds]atomic.Uint64
	drops   [numReasons]atomic.Uint64
	effects [engine.NumEffects]atomic.Uint64 // what the engines asked of the shard, by kind
}

// Stats is a snapshot of the counters as the control API's "stats" command
// returns it. Every known key is present, zero or not, so the shape is
// stable.
type Stats struct {
	Workers    int               `json:"workers"`
	PacketsIn  map[string]uint64 `json:"packets_in"`
	PacketsOut map[string]uint64 `json:"packets_out"`
	Drops      map[string]uint64 `json:"drops"`
	// IKEv2 is the sum of the IKEv2 engines' own counters (absent when
	// the gateway is not running).
	IKEv2 map[string]uint64 `json:"ikev2,omitempty"`
	IKEv1 map[string]uint64 `json:"ikev1,omitempty"`
	// Dataplane is the userspace dataplane's drop counters (absent with
	// another dataplane); per-SA counters are in `sas --json`.
	Dataplane map[string]uint64 `json:"dataplane,omitempty"`
	// TUNQueueReads is the packets the userspace dataplane read from
	// each queue of its TUN device (absent with another dataplane).
	TUNQueueReads []uint64 `json:"tun_queue_reads,omitempty"`
	// Effects counts what the engines asked the shards to do: CHILD SA
	// installs and removals, IKE SAs up and down (both versions).
	Effects map[string]uint64 `json:"effects"`
}

func (c *counters) snapshot(workers int) Stats {
	s := Stats{
		Workers:    workers,
		PacketsIn:  make(map[string]uint64, numKinds),
		PacketsOut: make(map[string]uint64, 3),
		Drops:      make(map[string]uint64, numReasons),
	}
	for k := Kind(0); k < numKinds; k++ {
		s.PacketsIn[k.String()] = c.in[k].Load()
	}
	for _, k := range []Kind{KindIKEv2, KindIKEv1, KindESP} {
		s.PacketsOut[k.String()] = c.out[k].Load()
	}
	for r := ReasonNone + 1; r < numReasons; r++ {
		s.Drops[r.String()] = c.drops[r].Load()
	}
	s.Effects = make(map[string]uint64, len(c.effects))
	for k := engine.EffectInstall; int(k) < engine.NumEffects; k++ {
		s.Effects[k.String()] = c.effects[k].Load()
	}
	return s
}

// Stats returns a snapshot of the packet counters and, when the gateway
// is running, the sum of the engines' counters.
func (g *Gateway) Stats(ctx context.Context) Stats {
	s := g.stats.snapshot(len(g.shards))
	if g.backend.Capabilities().Drops {
		s.Dataplane = dataplaneDrops(g.backend.Stats())
	}
	if q, ok := g.backend.(policy.TUNQueueCounter); ok {
		s.TUNQueueReads = q.TUNQueueReads()
	}
	var mu sync.Mutex
	var sums [2]engine.Counters
	err := g.runOnAll(ctx, func(_ int, sh *shard, _ time.Time) {
		mu.Lock()
		defer mu.Unlock()
		for i, e := range sh.engines {
			sums[i].Add(e.Stats())
		}
	})
	sum, sum1 := sums[v2], sums[v1]
	if err == nil {
		s.IKEv2 = map[string]uint64{
			"dropped":       sum.Dropped,
			"unknown_spi":   sum.UnknownSPI,
			"cookies_sent":  sum.CookiesSent,
			"established":   sum.Established,
			"auth_failures": sum.AuthFailures,
			"half_open":     sum.HalfOpen,
			"redirected":    sum.Redirected,
		}
		s.IKEv1 = map[string]uint64{
			"dropped":           sum1.Dropped,
			"unknown_cookies":   sum1.UnknownSPI,
			"established":       sum1.Established,
			"auth_failures":     sum1.AuthFailures,
			"held_quick_modes":  sum1.HeldEarly,
			"half_open":         sum1.HalfOpen,
			"half_open_evicted": sum1.HalfOpenEvicted,
			"half_open_refused": sum1.HalfOpenRefused,
			"dpd_ack_earlier":   sum1.DPDAckEarlier,
			"dpd_ack_stale":     sum1.DPDAckStale,
		}
	}
	return s
}

// dataplaneDrops names the dataplane's drop counters.
func dataplaneDrops(d policy.DataplaneStats) map[string]uint64 {
	return map[string]uint64{
		"out_no_sa": d.OutNoSA, "out_not_ip": d.OutNotIP, "out_too_big": d.OutTooBig,
		"out_no_sender": d.OutNoSender, "out_send_errors": d.OutSendErrors, "out_encap_errors": d.OutEncapError,
		"in_unknown_spi": d.InUnknownSPI, "in_too_big": d.InTooBig, "in_rejected": d.InRejected,
		"in_outside_ts": d.InOutsideTS, "in_tun_errors": d.InTUNErrors,
		"queue_full": d.QueueFull, "tun_read_errors": d.TUNReadErrors,
	}
}
