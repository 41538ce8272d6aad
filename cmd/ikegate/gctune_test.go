package main

import (
	"fmt"
	"slices"
	"testing"

	"ikegate/policy"
)

// TestGCTuner: the tuner goes to the idle target once a whole window
// allocated less than a twelfth of what triggers a collection at the idle
// target, returns the free heap to the OS then only if there is enough of
// it and not within a minute of the last time, and goes back to the
// active target as soon as one interval allocates at the busy rate.
func TestGCTuner(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name   string
		allocs []uint64 // allocated per interval
		free   uint64
		want   []string
		live   uint64 // 0: 400 MiB (an idle budget per 5-s window of 400 MiB * 25% / 12 = 8.3 MiB)
	}{
		{"busy all along", []uint64{100 * mib, 100 * mib, 100 * mib, 100 * mib, 100 * mib, 100 * mib, 100 * mib}, 300 * mib, nil, 0},
		{"quiet after a burst", []uint64{300 * mib, mib, mib, mib, mib, mib, mib}, 300 * mib, []string{"gc 25", "free"}, 0},
		{"quiet, little free heap", []uint64{mib, mib, mib, mib, mib, mib}, 40 * mib, []string{"gc 25"}, 0},
		{"quiet, a small heap with some free memory", []uint64{1, 1, 1, 1, 1, 1}, 2 * mib, []string{"gc 25", "free"}, 12 * mib},
		{"quiet, a small heap with little free memory", []uint64{1, 1, 1, 1, 1, 1}, mib / 2, []string{"gc 25"}, 12 * mib},
		{"a small heap, busy", []uint64{mib, mib, mib, mib, mib, mib}, 2 * mib, nil, 12 * mib},
		{"not a whole window yet", []uint64{0, 0, 0, 0}, 300 * mib, nil, 0},
		{"a whole window", []uint64{0, 0, 0, 0, 0}, 300 * mib, []string{"gc 25", "free"}, 0},
		{"quiet, then a burst", []uint64{1, 1, 1, 1, 1, 1, 2 * mib}, 300 * mib, []string{"gc 25", "free", "gc 100"}, 0},
		{"quiet, slow allocation stays idle", []uint64{1, 1, 1, 1, 1, 1, 3 * mib / 2, 3 * mib / 2}, 300 * mib, []string{"gc 25", "free"}, 0},
		{"window sum over budget", []uint64{2 * mib, 2 * mib, 2 * mib, 2 * mib, 2 * mib, 2 * mib}, 300 * mib, nil, 0},
		// 400 MiB live: a collection a minute at 25% is 100 MiB, 8.3 MiB per window.
		{"liveness checks of many SAs count as busy", []uint64{10 * mib, 10 * mib, 10 * mib, 10 * mib, 10 * mib, 10 * mib}, 300 * mib, nil, 0},
		{"free heap returned once a minute at most", []uint64{1, 1, 1, 1, 1, 1, 2 * mib, 1, 1, 1, 1, 1}, 300 * mib, []string{"gc 25", "free", "gc 100", "gc 25"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			tu := &gcTuner{active: 100, idle: 25,
				setPercent: func(p int) { got = append(got, fmt.Sprintf("gc %d", p)) },
				freeOS:     func() { got = append(got, "free") }}
			live := tc.live
			if live == 0 {
				live = 400 * mib
			}
			var total uint64
			tu.step(total, live, tc.free)
			for _, a := range tc.allocs {
				total += a
				tu.step(total, live, tc.free)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("effects %q, want %q", got, tc.want)
			}
		})
	}
}

// TestGCIdleActive: the targets the tuner switches between, and where it
// stays off.
func TestGCIdleActive(t *testing.T) {
	for _, tc := range []struct {
		name         string
		gogc         string
		cfg          policy.Gateway
		active, idle int
		ok           bool
	}{
		{"defaults", "", policy.Gateway{}, 100, 25, true},
		{"configured", "", policy.Gateway{GCPercent: 200, GCIdlePercent: 50}, 200, 50, true},
		{"idle not lower", "", policy.Gateway{GCPercent: 50, GCIdlePercent: 50}, 50, 50, false},
		{"idle above default active", "", policy.Gateway{GCIdlePercent: 150}, 100, 150, false},
		{"collector off", "", policy.Gateway{GCPercent: -1, MemoryLimit: 1 << 30}, 0, 0, false},
		{"GOGC wins", "80", policy.Gateway{}, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOGC", tc.gogc)
			active, idle, ok := gcIdleActive(tc.cfg)
			if active != tc.active || idle != tc.idle || ok != tc.ok {
				t.Errorf("gcIdleActive = %d, %d, %v; want %d, %d, %v", active, idle, ok, tc.active, tc.idle, tc.ok)
			}
		})
	}
}
