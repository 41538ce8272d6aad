package timerq

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

// op is one step of a table test: Schedule an item at t0 + sec, Cancel it,
// or Schedule it at the zero time.
type op struct {
	item   string
	sec    int // deadline: t0 + sec seconds; ignored with cancel or zero
	cancel bool
	zero   bool // Schedule with the zero time
}

// drain pops everything due at now and returns the items in order.
func drain(q *Queue[string], now time.Time) []string {
	var out []string
	for {
		it, ok := q.PopDue(now)
		if !ok {
			return out
		}
		out = append(out, it)
	}
}

func TestQueue(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ops      []op
		next     string // expected Next item ("" when empty)
		nextSec  int
		len      int
		popAt    int      // PopDue with now = t0 + popAt seconds
		popped   []string // in order; nil: none. Items with equal deadlines are sorted.
		leftover int      // Len after popping
	}{
		{name: "empty", popAt: 100},
		{name: "one item, not due", ops: []op{{item: "a", sec: 10}},
			next: "a", nextSec: 10, len: 1, popAt: 9, leftover: 1},
		{name: "one item, due exactly", ops: []op{{item: "a", sec: 10}},
			next: "a", nextSec: 10, len: 1, popAt: 10, popped: []string{"a"}},
		{name: "order by deadline", ops: []op{{item: "c", sec: 30}, {item: "a", sec: 10}, {item: "b", sec: 20}},
			next: "a", nextSec: 10, len: 3, popAt: 25, popped: []string{"a", "b"}, leftover: 1},
		{name: "reschedule earlier", ops: []op{{item: "a", sec: 50}, {item: "b", sec: 20}, {item: "a", sec: 10}},
			next: "a", nextSec: 10, len: 2, popAt: 100, popped: []string{"a", "b"}},
		{name: "reschedule later", ops: []op{{item: "a", sec: 10}, {item: "b", sec: 20}, {item: "a", sec: 50}},
			next: "b", nextSec: 20, len: 2, popAt: 30, popped: []string{"b"}, leftover: 1},
		{name: "reschedule later, popped once at the new time", ops: []op{{item: "a", sec: 10}, {item: "a", sec: 20}},
			next: "a", nextSec: 20, len: 1, popAt: 100, popped: []string{"a"}},
		{name: "same deadline again is one entry", ops: []op{{item: "a", sec: 10}, {item: "a", sec: 10}, {item: "a", sec: 10}},
			next: "a", nextSec: 10, len: 1, popAt: 10, popped: []string{"a"}},
		{name: "cancel", ops: []op{{item: "a", sec: 10}, {item: "b", sec: 20}, {item: "a", cancel: true}},
			next: "b", nextSec: 20, len: 1, popAt: 100, popped: []string{"b"}},
		{name: "zero time cancels", ops: []op{{item: "a", sec: 10}, {item: "a", zero: true}},
			popAt: 100},
		{name: "cancel unknown item", ops: []op{{item: "x", cancel: true}, {item: "x", zero: true}},
			popAt: 100},
		{name: "cancel then schedule again", ops: []op{{item: "a", sec: 10}, {item: "a", cancel: true}, {item: "a", sec: 30}},
			next: "a", nextSec: 30, len: 1, popAt: 20, leftover: 1},
		{name: "cancel then same deadline again", ops: []op{{item: "a", sec: 10}, {item: "a", cancel: true}, {item: "a", sec: 10}},
			next: "a", nextSec: 10, len: 1, popAt: 10, popped: []string{"a"}},
		{name: "same time, several items", ops: []op{{item: "b", sec: 10}, {item: "a", sec: 10}, {item: "c", sec: 10}, {item: "d", sec: 11}},
			nextSec: 10, len: 4, popAt: 10, popped: []string{"a", "b", "c"}, leftover: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var q Queue[string]
			for _, o := range tc.ops {
				switch {
				case o.cancel:
					q.Cancel(o.item)
				case o.zero:
					q.Schedule(o.item, time.Time{})
				default:
					q.Schedule(o.item, at(o.sec))
				}
			}
			if q.Len() != tc.len {
				t.Errorf("Len = %d, want %d", q.Len(), tc.len)
			}
			it, when, ok := q.Next()
			if ok != (tc.len > 0) {
				t.Fatalf("Next ok = %v with %d items", ok, tc.len)
			}
			if ok {
				if !when.Equal(at(tc.nextSec)) {
					t.Errorf("Next deadline = %v, want %v", when, at(tc.nextSec))
				}
				if tc.next != "" && it != tc.next {
					t.Errorf("Next item = %q, want %q", it, tc.next)
				}
				if !q.Deadline(it).Equal(when) {
					t.Errorf("Deadline(%q) = %v, Next said %v", it, q.Deadline(it), when)
				}
			}
			got := drain(&q, at(tc.popAt))
			last := lastDeadlines(tc.ops)
			for i := 1; i < len(got); i++ {
				if last[got[i]] < last[got[i-1]] {
					t.Errorf("popped %q: not in deadline order", got)
				}
			}
			// Equal deadlines have no specified order: compare those as sets.
			if g, w := sortByDeadline(got, last), sortByDeadline(tc.popped, last); !slices.Equal(g, w) {
				t.Errorf("popped %q, want %q", got, tc.popped)
			}
			if q.Len() != tc.leftover {
				t.Errorf("Len after popping = %d, want %d", q.Len(), tc.leftover)
			}
			for _, p := range got {
				if !q.Deadline(p).IsZero() {
					t.Errorf("popped item %q still has deadline %v", p, q.Deadline(p))
				}
			}
			if _, ok := q.PopDue(at(tc.popAt)); ok {
				t.Error("PopDue returned an item after draining")
			}
		})
	}
}

// lastDeadlines returns the second count each item was last scheduled at.
func lastDeadlines(ops []op) map[string]int {
	last := map[string]int{}
	for _, o := range ops {
		if !o.cancel && !o.zero {
			last[o.item] = o.sec
		}
	}
	return last
}

// sortByDeadline sorts items by deadline, then by name.
func sortByDeadline(items []string, last map[string]int) []string {
	out := slices.Clone(items)
	slices.SortFunc(out, func(a, b string) int {
		if last[a] != last[b] {
			return last[a] - last[b]
		}
		return strings.Compare(a, b)
	})
	return out
}

func TestQueueRescheduleWhilePopping(t *testing.T) {
	// An item rescheduled to a due time between PopDue calls is popped again
	// in the same drain, as an engine's Tick expects.
	var q Queue[int]
	q.Schedule(1, at(10))
	q.Schedule(2, at(10))
	var seen []int
	for {
		it, ok := q.PopDue(at(10))
		if !ok {
			break
		}
		seen = append(seen, it)
		if len(seen) == 1 {
			q.Schedule(3, at(5))  // new item, already due
			q.Schedule(it, at(9)) // popped item back, already due
		}
	}
	if len(seen) != 4 {
		t.Fatalf("popped %v, want 4 pops", seen)
	}
	// The two already-due items come before the remaining one at 10.
	if seen[1] != 3 || seen[2] != seen[0] {
		t.Errorf("popped %v: want the items due at 5 and 9 second and third", seen)
	}
}

func TestQueueManyItems(t *testing.T) {
	const n = 5000
	rng := rand.New(rand.NewPCG(1, 2))
	var q Queue[int]
	want := make(map[int]time.Time)
	for range 4 * n {
		item := rng.IntN(n)
		switch rng.IntN(8) {
		case 0:
			q.Cancel(item)
			delete(want, item)
		default:
			when := at(1 + rng.IntN(1000))
			q.Schedule(item, when)
			want[item] = when
		}
	}
	if q.Len() != len(want) {
		t.Fatalf("Len = %d, want %d", q.Len(), len(want))
	}
	var last time.Time
	count, lastNow := 0, 0
	for now := 0; now <= 1000; now += 37 {
		lastNow = now
		for {
			it, ok := q.PopDue(at(now))
			if !ok {
				break
			}
			w, live := want[it]
			if !live {
				t.Fatalf("popped %d, which is cancelled", it)
			}
			if w.Before(last) || w.After(at(now)) {
				t.Fatalf("popped %d due %v after %v at now %v", it, w, last, at(now))
			}
			last = w
			delete(want, it)
			count++
		}
	}
	if count == 0 {
		t.Fatal("nothing popped")
	}
	if q.Len() != len(want) {
		t.Errorf("Len = %d after popping, want %d", q.Len(), len(want))
	}
	for it, w := range want {
		if !w.After(at(lastNow)) {
			t.Errorf("item %d due %v never popped", it, w)
		}
		if !q.Deadline(it).Equal(w) {
			t.Errorf("Deadline(%d) = %v, want %v", it, q.Deadline(it), w)
		}
	}
}

func TestQueueZeroValueNext(t *testing.T) {
	var q Queue[*int]
	if it, when, ok := q.Next(); ok || it != nil || !when.IsZero() {
		t.Errorf("empty Next = %v, %v, %v", it, when, ok)
	}
	if !q.Deadline(nil).IsZero() {
		t.Error("Deadline of an unknown item is not zero")
	}
}

// BenchmarkQueue models an engine with n SAs: each step reschedules one SA
// (a message arrived) and pops whatever is due.
func BenchmarkQueue(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			type sa struct{ id int }
			sas := make([]*sa, n)
			var q Queue[*sa]
			for i := range sas {
				sas[i] = &sa{i}
				q.Schedule(sas[i], at(i%600))
			}
			rng := rand.New(rand.NewPCG(3, 4))
			now := 0
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				s := sas[rng.IntN(n)]
				q.Schedule(s, at(now+1+rng.IntN(600)))
				if i%16 == 0 {
					now++
					for {
						p, ok := q.PopDue(at(now))
						if !ok {
							break
						}
						q.Schedule(p, at(now+1+rng.IntN(600)))
					}
				}
			}
		})
	}
}

// TestOffsets: deadlines kept relative to the first one come back equal
// to those scheduled, before and after it, with and without a monotonic
// clock reading, and order and due times are unchanged.
func TestOffsets(t *testing.T) {
	for _, base := range []time.Time{t0, time.Now()} {
		var q Queue[string]
		times := map[string]time.Time{
			"first":  base,
			"before": base.Add(-time.Hour),
			"after":  base.Add(90 * time.Minute),
			"far":    base.Add(200 * 24 * time.Hour),
		}
		for _, it := range []string{"first", "before", "after", "far"} {
			q.Schedule(it, times[it])
		}
		for it, want := range times {
			if got := q.Deadline(it); !got.Equal(want) {
				t.Errorf("Deadline(%s) = %v, want %v", it, got, want)
			}
		}
		if got := q.Deadline("unknown"); !got.IsZero() {
			t.Errorf("Deadline(unknown) = %v, want zero", got)
		}
		if it, when, _ := q.Next(); it != "before" || !when.Equal(times["before"]) {
			t.Errorf("Next() = %s %v, want before %v", it, when, times["before"])
		}
		if got := drain(&q, base.Add(-time.Nanosecond)); !slices.Equal(got, []string{"before"}) {
			t.Errorf("due a nanosecond before the first: %v, want [before]", got)
		}
		if got := drain(&q, base.Add(90*time.Minute)); !slices.Equal(got, []string{"first", "after"}) {
			t.Errorf("due at after: %v, want [first after]", got)
		}
	}
}
