package main

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"go.uber.org/zap"

	"ikegate/policy"
)

// The idle collector target (gateway.gc_idle_percent). With Go's default
// target of 100 the heap may grow to twice what is live before a
// collection, and the runtime keeps that memory mapped: a gateway that
// negotiated its SAs in a burst holds about twice its live heap in RSS
// long after. A lower target while handshakes come in costs CPU on every
// handshake (measured: GOGC=50 about 25% more responder CPU per SA); while
// the daemon idles it costs next to nothing, since the collector's work
// follows the allocation rate. So the tuner switches between the two:
// the configured target (gc_percent, else 100) while the daemon
// allocates, the idle one once it has allocated less, for a window, than
// would trigger a collection once a minute at the idle target (so the
// idle target costs at most a collection a minute), and then returns the
// freed heap to the operating system, at most once a minute. Liveness
// checks of many SAs without traffic allocate more than that (100,000
// SAs with dpd_delay 30 s): the daemon then counts as busy.

const (
	// gcTuneInterval is how often the tuner samples the runtime.
	gcTuneInterval = time.Second
	// gcTuneWindow is how many intervals without much allocation make
	// the daemon idle.
	gcTuneWindow = 5
	// gcTuneSpacing is how many windows apart collections at the idle
	// target may come at the most (5 s windows: a minute).
	gcTuneSpacing = 12
	// gcTuneFreeEvery is how many intervals apart the free heap is
	// returned at the most (each return is a forced collection).
	gcTuneFreeEvery = 60
	// gcTuneMinBudget is the least heap growth the idle target is taken
	// to allow (Go's minimum heap target is 4 MiB): a small heap is not
	// tuned back and forth by a few allocations.
	gcTuneMinBudget = 4 << 20
	// gcTuneMinFree is the least free heap worth returning to the
	// operating system (and the collection that takes) on going idle.
	gcTuneMinFree = 1 << 20
	// DefaultGCIdlePercent is gc_idle_percent's default.
	DefaultGCIdlePercent = 25
)

// gcTuner decides from samples of the runtime (step) when to switch the
// collector's target; the effects are functions so that tests can watch.
type gcTuner struct {
	active, idle int
	setPercent   func(int)
	freeOS       func()

	allocs []uint64 // cumulative bytes allocated, the last gcTuneWindow+1 samples
	isIdle bool
	steps  int // samples taken
	freed  int // steps when the free heap was last returned (0: never)
}

// step takes one sample: the bytes allocated so far, the live heap and
// the heap memory that is free but still held from the operating system.
func (t *gcTuner) step(allocs, live, free uint64) {
	t.steps++
	t.allocs = append(t.allocs, allocs)
	if len(t.allocs) > gcTuneWindow+1 {
		t.allocs = t.allocs[1:]
	}
	if len(t.allocs) < 2 {
		return
	}
	// At the idle target a collection comes after live*idle/100 bytes
	// allocated; idle means less than that per gcTuneSpacing windows.
	budget := max(live*uint64(t.idle)/100, gcTuneMinBudget) / gcTuneSpacing
	last := allocs - t.allocs[len(t.allocs)-2]
	if t.isIdle {
		if last*gcTuneWindow > budget { // allocating again: handshakes
			t.isIdle = false
			t.setPercent(t.active)
		}
		return
	}
	if len(t.allocs) == gcTuneWindow+1 && allocs-t.allocs[0] < budget {
		t.isIdle = true
		t.setPercent(t.idle)
		if free > max(live/8, gcTuneMinFree) && (t.freed == 0 || t.steps-t.freed >= gcTuneFreeEvery) {
			t.freed = t.steps
			t.freeOS()
		}
	}
}

// gcIdleActive returns the targets the tuner switches between from
// [gateway], and false where it must not run: GOGC in the environment
// (which wins over the file), gc_percent = -1 (the collector runs at the
// memory limit only), or an idle target not below the active one.
func gcIdleActive(g policy.Gateway) (active, idle int, ok bool) {
	if os.Getenv("GOGC") != "" || g.GCPercent == -1 {
		return 0, 0, false
	}
	active = 100
	if g.GCPercent != 0 {
		active = g.GCPercent
	}
	idle = DefaultGCIdlePercent
	if g.GCIdlePercent != 0 {
		idle = g.GCIdlePercent
	}
	return active, idle, idle < active
}

// startGCTuner runs the tuner until ctx is done, if [gateway] allows it
// (gcIdleActive).
func startGCTuner(ctx context.Context, g policy.Gateway, log *zap.Logger) {
	active, idle, ok := gcIdleActive(g)
	if !ok {
		return
	}
	t := &gcTuner{active: active, idle: idle,
		setPercent: func(p int) {
			debug.SetGCPercent(p)
			log.Debug("garbage collector target", zap.Int("gc_percent", p))
		},
		freeOS: debug.FreeOSMemory,
	}
	samples := []metrics.Sample{
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
	}
	go func() {
		tick := time.NewTicker(gcTuneInterval)
		defer tick.Stop()
		defer debug.SetGCPercent(active)
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			metrics.Read(samples)
			var v [3]uint64
			for i, s := range samples {
				if s.Value.Kind() == metrics.KindUint64 {
					v[i] = s.Value.Uint64()
				}
			}
			t.step(v[0], v[1], v[2])
		}
	}()
}
