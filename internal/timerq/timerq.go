// Package timerq is the deadline queue shared by the sans-I/O engines
// (ikev1, ikev2): each item (an SA) has at most one deadline, and the
// engine asks for the earliest one and pops the items that are due. It does
// no I/O and never reads the clock; times come from the caller.
//
// Rescheduling is lazy: a new deadline pushes a new heap entry and the old
// one stays behind, stale, until it reaches the top and is dropped. That
// keeps Schedule at one O(log n) push with no search or removal.
//
// Deadlines are kept as nanoseconds after the first one scheduled (an
// int64, not a 24-byte time.Time): a heap entry is 24 bytes and an item's
// live deadline 16, which every SA of a large gateway pays once or more.
//
// A Queue is not safe for concurrent use; an engine owns its queue.
package timerq

import "time"

// Queue is a min-heap of deadlines keyed by item. The zero value is an
// empty queue ready to use.
type Queue[T comparable] struct {
	heap []entry[T]
	live map[T]liveEntry // the current deadline of each scheduled item
	seq  uint64          // stamps entries; an entry is live iff its seq matches live[item]
	base time.Time       // the first deadline scheduled: deadlines are kept relative to it
}

// An offset is a deadline as nanoseconds after Queue.base.
type offset = time.Duration

type entry[T comparable] struct {
	when offset
	item T
	seq  uint64
}

type liveEntry struct {
	when offset
	seq  uint64
}

// offset returns when relative to the queue's base (setting the base on
// first use). Deadlines more than 292 years from it saturate.
func (q *Queue[T]) offset(when time.Time) offset {
	if q.base.IsZero() {
		q.base = when
	}
	return when.Sub(q.base)
}

// time returns the deadline at offset d.
func (q *Queue[T]) time(d offset) time.Time { return q.base.Add(d) }

// Schedule sets item's deadline to when, replacing any earlier one. The zero
// time cancels it. Scheduling an item at the deadline it already has is a
// no-op.
func (q *Queue[T]) Schedule(item T, when time.Time) {
	if when.IsZero() {
		q.Cancel(item)
		return
	}
	d := q.offset(when)
	if cur, ok := q.live[item]; ok && cur.when == d {
		return
	}
	if q.live == nil {
		q.live = make(map[T]liveEntry)
	}
	q.seq++
	q.live[item] = liveEntry{when: d, seq: q.seq}
	q.push(entry[T]{when: d, item: item, seq: q.seq})
}

// Cancel removes item's deadline, if any.
func (q *Queue[T]) Cancel(item T) {
	delete(q.live, item)
}

// Deadline returns item's current deadline, or the zero time if it has
// none.
func (q *Queue[T]) Deadline(item T) time.Time {
	cur, ok := q.live[item]
	if !ok {
		return time.Time{}
	}
	return q.time(cur.when)
}

// Len returns the number of items with a deadline.
func (q *Queue[T]) Len() int { return len(q.live) }

// Next returns the item with the earliest deadline and that deadline,
// without removing it; ok is false when no item has a deadline. Items with
// equal deadlines come out in an unspecified (but deterministic) order.
func (q *Queue[T]) Next() (item T, when time.Time, ok bool) {
	q.dropStale()
	if len(q.heap) == 0 {
		var zero T
		return zero, time.Time{}, false
	}
	return q.heap[0].item, q.time(q.heap[0].when), true
}

// PopDue removes and returns the item with the earliest deadline if that
// deadline is at or before now; ok is false when nothing is due. Call it in
// a loop: items (re)scheduled between calls, even at or before now, are
// taken into account.
func (q *Queue[T]) PopDue(now time.Time) (item T, ok bool) {
	q.dropStale()
	if len(q.heap) == 0 || q.heap[0].when > q.offset(now) {
		var zero T
		return zero, false
	}
	e := q.pop()
	delete(q.live, e.item)
	return e.item, true
}

// dropStale pops entries superseded by a later Schedule or by Cancel.
func (q *Queue[T]) dropStale() {
	for len(q.heap) > 0 {
		top := q.heap[0]
		if cur, ok := q.live[top.item]; ok && cur.seq == top.seq {
			return
		}
		q.pop()
	}
}

// The heap operations follow container/heap (same sift order), without its
// interface boxing.

func (q *Queue[T]) less(i, j int) bool { return q.heap[i].when < q.heap[j].when }

func (q *Queue[T]) push(e entry[T]) {
	q.heap = append(q.heap, e)
	q.up(len(q.heap) - 1)
}

func (q *Queue[T]) pop() entry[T] {
	n := len(q.heap) - 1
	q.heap[0], q.heap[n] = q.heap[n], q.heap[0]
	q.down(0, n)
	e := q.heap[n]
	q.heap[n] = entry[T]{} // drop the reference to the item
	q.heap = q.heap[:n]
	return e
}

func (q *Queue[T]) up(j int) {
	for {
		i := (j - 1) / 2 // parent
		if i == j || !q.less(j, i) {
			break
		}
		q.heap[i], q.heap[j] = q.heap[j], q.heap[i]
		j = i
	}
}

func (q *Queue[T]) down(i0, n int) {
	i := i0
	for {
		j1 := 2*i + 1
		if j1 >= n || j1 < 0 { // j1 < 0 after int overflow
			break
		}
		j := j1 // left child
		if j2 := j1 + 1; j2 < n && q.less(j2, j1) {
			j = j2 // right child
		}
		if !q.less(j, i) {
			break
		}
		q.heap[i], q.heap[j] = q.heap[j], q.heap[i]
		i = j
	}
}
