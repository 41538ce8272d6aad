package gateway

import (
	"errors"
	"fmt"
	"iter"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"ikegate/isakmp"
	"ikegate/natt"
)

// Batched socket I/O. On Linux a socket's reader takes up to recvBatch
// datagrams per recvmmsg(2) into buffers it owns and reuses, so reading,
// classifying and dispatching a datagram allocates nothing (the one copy
// of an IKE message handed to its engine, which may keep it, aside). A
// shard queues what its engines send while it works through the inputs
// that are already waiting, then sends them with one sendmmsg(2) per
// socket. Elsewhere both fall back to one datagram per system call
// (batch_other.go).

// Batch sizes.
const (
	// recvBatch is the most datagrams one read takes from a socket. Each
	// has a recvBufSize buffer; pages the kernel never writes to are not
	// resident.
	recvBatch = 16
	// sendBatch is the most datagrams one write sends.
	sendBatch = 32
	// shardBatch is the most queued inputs a shard handles before it
	// sends what they produced. A lone input is answered at once: the
	// shard sends as soon as no other input is waiting.
	shardBatch = 16
)

// rxMsg is one received datagram of a batch: its bytes alias the
// reader's buffer and are valid until the next read.
type rxMsg struct {
	b         []byte
	from      netip.AddrPort
	truncated bool // longer than the buffer: dropped
	// seg is the segment size of datagrams coalesced by UDP GRO (0: b
	// is one datagram): b holds segments of seg bytes, the last one
	// possibly shorter, each a datagram of its own from the same peer.
	seg int
	// badGRO: a UDP GRO control message that could not be read (or a
	// truncated control buffer): b cannot be split, so it is dropped.
	badGRO bool
}

// groSegments yields the datagrams that UDP GRO coalesced into b with
// segment size seg: seg bytes each, the last one possibly shorter. A seg
// of 0 or less yields b whole.
func groSegments(b []byte, seg int) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		if seg <= 0 || seg >= len(b) {
			yield(b)
			return
		}
		for off := 0; off < len(b); off += seg {
			if !yield(b[off:min(off+seg, len(b)):min(off+seg, len(b))]) {
				return
			}
		}
	}
}

// txMsg is one datagram to send from a socket: the non-ESP marker (RFC
// 3948 2.2) goes before data when marker is set, without a copy.
type txMsg struct {
	to     netip.AddrPort
	data   []byte
	marker bool
	kind   Kind // for the counters
}

// txQueue collects the datagrams a shard's engines return until the
// shard flushes them, grouped by socket. It belongs to one goroutine.
type txQueue struct {
	socks []*socket // the sockets with queued datagrams, first use first
	msgs  [][]txMsg // by index in socks
	w     *batchWriter
	sent  []error // scratch: per-datagram result of a write
}

// newTxQueue returns an empty queue with its own writer.
func newTxQueue() *txQueue {
	return &txQueue{w: newBatchWriter(sendBatch), sent: make([]error, sendBatch)}
}

// push queues d for socket s.
func (q *txQueue) push(s *socket, m txMsg) {
	for i, o := range q.socks {
		if o == s {
			q.msgs[i] = append(q.msgs[i], m)
			return
		}
	}
	q.socks = append(q.socks, s)
	if len(q.msgs) < len(q.socks) {
		q.msgs = append(q.msgs, nil)
	}
	q.msgs[len(q.socks)-1] = append(q.msgs[len(q.socks)-1][:0], m)
}

// len is the number of queued datagrams.
func (q *txQueue) len() int {
	n := 0
	for i := range q.socks {
		n += len(q.msgs[i])
	}
	return n
}

// enqueue queues what an engine returned, each datagram for the socket
// bound to its Local address (with the non-ESP marker on the NAT-T port).
func (g *Gateway) enqueue(q *txQueue, out []isakmp.Datagram, kind Kind, log *zap.Logger) {
	for _, d := range out {
		s := g.socketFor(d)
		if s == nil {
			g.drop(ReasonNoSocket)
			log.Warn("no socket for outbound datagram",
				zap.Stringer("local", d.Local), zap.Stringer("peer", d.Remote))
			continue
		}
		to := unmapAP(d.Remote)
		if to.Addr().Is4() != s.local.Addr().Is4() || !to.IsValid() {
			g.sendFailed(s, to, errors.New("the peer's address is not of the socket's family"), log)
			continue
		}
		q.push(s, txMsg{to: to, data: d.Data, marker: s.natt && !natt.IsKeepalive(d.Data), kind: kind})
	}
}

// flush sends every queued datagram, at most sendBatch per system call,
// counts them, and empties the queue. A failed datagram is counted and
// named in the log (once per peer per sendErrEvery at warning level) and
// does not hold back the others.
func (g *Gateway) flush(q *txQueue, log *zap.Logger) {
	for i, s := range q.socks {
		msgs := q.msgs[i]
		for len(msgs) > 0 {
			n := min(len(msgs), sendBatch)
			q.w.write(s, msgs[:n], q.sent[:n])
			for j, m := range msgs[:n] {
				if err := q.sent[j]; err != nil {
					g.sendFailed(s, m.to, err, log)
					continue
				}
				g.stats.out[m.kind].Add(1)
			}
			msgs = msgs[n:]
		}
		clear(q.msgs[i]) // let the datagrams go
		q.msgs[i] = q.msgs[i][:0]
	}
	q.socks = q.socks[:0]
}

// sendFailed counts a datagram that could not be sent and says so.
func (g *Gateway) sendFailed(s *socket, to netip.AddrPort, err error, log *zap.Logger) {
	g.drop(ReasonSendError)
	if g.sendErrs.due(to.Addr(), time.Now()) {
		// Otherwise the only trace is the peer "not answering".
		log.Warn(fmt.Sprintf("cannot send to %s from %s: %v", to, s.local, err))
	} else {
		log.Debug("send failed", zap.Stringer("local", s.local), zap.Stringer("peer", to), zap.Error(err))
	}
}
