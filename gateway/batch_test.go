package gateway

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"go.uber.org/zap"

	"ikegate/isakmp"
	"ikegate/kernel"
)

// udpPair binds two UDP sockets on the loopback address of the family
// (v6: ::1) and returns them as gateway sockets; natt marks the first.
func udpPair(t testing.TB, v6, natt bool) (a, b *socket) {
	t.Helper()
	ip := netip.MustParseAddr("127.0.0.1")
	if v6 {
		ip = netip.IPv6Loopback()
	}
	open := func(natt bool) *socket {
		s, err := listenUDP(netip.AddrPortFrom(ip, 0), natt, zap.NewNop())
		if err != nil {
			if v6 {
				t.Skipf("no IPv6 loopback: %v", err)
			}
			t.Fatal(err)
		}
		t.Cleanup(func() { s.conn.Close() })
		return s
	}
	return open(natt), open(false)
}

// readN reads from r until n datagrams arrived (or a deadline passes).
func readN(t testing.TB, s *socket, r *batchReader, n int) []rxMsg {
	t.Helper()
	s.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got []rxMsg
	for len(got) < n {
		msgs, err := r.read()
		if err != nil {
			t.Fatalf("read after %d of %d datagrams: %v", len(got), n, err)
		}
		for _, m := range msgs {
			got = append(got, rxMsg{b: append([]byte(nil), m.b...), from: m.from, truncated: m.truncated})
		}
	}
	return got
}

// TestBatchRoundTrip: what a batchWriter sends, a batchReader reads,
// payloads (with the non-ESP marker where asked) and source addresses
// intact, for both families and batches larger than one system call.
func TestBatchRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name   string
		v6     bool
		marker bool
		count  int
	}{
		{"v4-one", false, false, 1},
		{"v4-batch", false, false, 7},
		{"v4-marker", false, true, 5},
		{"v4-more-than-a-write", false, false, sendBatch + 3},
		{"v6-batch", true, false, 5},
		{"v6-marker", true, true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from, to := udpPair(t, tc.v6, tc.marker)
			w := newBatchWriter(sendBatch)
			r, err := newBatchReader(to.conn, recvBatch, recvBufSize)
			if err != nil {
				t.Fatal(err)
			}
			var want [][]byte
			for off := 0; off < tc.count; off += sendBatch {
				var msgs []txMsg
				for i := off; i < min(tc.count, off+sendBatch); i++ {
					p := bytes.Repeat([]byte{byte(i + 1)}, 10+i)
					msgs = append(msgs, txMsg{to: to.local, data: p, marker: tc.marker})
					if tc.marker {
						p = append([]byte{0, 0, 0, 0}, p...)
					}
					want = append(want, p)
				}
				res := make([]error, len(msgs))
				w.write(from, msgs, res)
				for i, err := range res {
					if err != nil {
						t.Fatalf("datagram %d: %v", off+i, err)
					}
				}
			}
			got := readN(t, to, r, tc.count)
			for i, m := range got {
				if !bytes.Equal(m.b, want[i]) {
					t.Errorf("datagram %d: got % x, want % x", i, m.b, want[i])
				}
				if m.from != from.local {
					t.Errorf("datagram %d from %v, want %v", i, m.from, from.local)
				}
				if m.truncated {
					t.Errorf("datagram %d truncated", i)
				}
			}
		})
	}
}

// TestBatchTruncated: a datagram longer than the reader's buffer is
// flagged (Linux reports it with MSG_TRUNC), not passed on as if whole.
func TestBatchTruncated(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("MSG_TRUNC is Linux's")
	}
	from, to := udpPair(t, false, false)
	r, err := newBatchReader(to.conn, 2, 64)
	if err != nil {
		t.Fatal(err)
	}
	res := make([]error, 2)
	newBatchWriter(2).write(from, []txMsg{{to: to.local, data: make([]byte, 100)}, {to: to.local, data: make([]byte, 64)}}, res)
	if res[0] != nil || res[1] != nil {
		t.Fatal(res)
	}
	got := readN(t, to, r, 2)
	if !got[0].truncated || len(got[0].b) != 64 || got[1].truncated || len(got[1].b) != 64 {
		t.Fatalf("got truncated=%v len %d, truncated=%v len %d; want true 64, false 64",
			got[0].truncated, len(got[0].b), got[1].truncated, len(got[1].b))
	}
}

// TestBatchSendErrors: a datagram the kernel refuses is reported as
// failed and does not hold back the ones after it.
func TestBatchSendErrors(t *testing.T) {
	from, to := udpPair(t, false, false)
	r, err := newBatchReader(to.conn, recvBatch, recvBufSize)
	if err != nil {
		t.Fatal(err)
	}
	msgs := []txMsg{
		{to: to.local, data: []byte("one")},
		{to: to.local, data: make([]byte, 70000)}, // EMSGSIZE
		{to: to.local, data: []byte("three")},
	}
	res := make([]error, len(msgs))
	newBatchWriter(sendBatch).write(from, msgs, res)
	if res[0] != nil || res[1] == nil || res[2] != nil {
		t.Fatalf("results %v, want nil, an error, nil", res)
	}
	got := readN(t, to, r, 2)
	if string(got[0].b) != "one" || string(got[1].b) != "three" {
		t.Fatalf("got %q, %q", got[0].b, got[1].b)
	}
}

// TestBatchClosed: a reader of a closed socket returns net.ErrClosed, so
// the read loop ends; a writer reports every datagram failed.
func TestBatchClosed(t *testing.T) {
	from, to := udpPair(t, false, false)
	r, err := newBatchReader(to.conn, recvBatch, recvBufSize)
	if err != nil {
		t.Fatal(err)
	}
	to.conn.Close()
	if _, err := r.read(); err == nil || !isClosed(err) {
		t.Fatalf("read of a closed socket: %v, want net.ErrClosed", err)
	}
	from.conn.Close()
	res := make([]error, 2)
	newBatchWriter(2).write(from, []txMsg{{to: to.local, data: []byte("a")}, {to: to.local, data: []byte("b")}}, res)
	if res[0] == nil || res[1] == nil {
		t.Fatalf("writes on a closed socket: %v", res)
	}
}

func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }

// TestReadAllocs: reading a batch allocates nothing (Linux; the
// fallback's ReadFromUDPAddrPort may).
func TestReadAllocs(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the fallback reader is not allocation-free")
	}
	from, to := udpPair(t, false, true)
	w := newBatchWriter(sendBatch)
	r, err := newBatchReader(to.conn, recvBatch, recvBufSize)
	if err != nil {
		t.Fatal(err)
	}
	msgs := make([]txMsg, recvBatch)
	for i := range msgs {
		msgs[i] = txMsg{to: to.local, data: []byte("0123456789abcdef0123456789abcdef"), marker: true}
	}
	res := make([]error, len(msgs))
	allocs := testing.AllocsPerRun(100, func() {
		w.write(from, msgs, res)
		for n := 0; n < len(msgs); {
			got, err := r.read()
			if err != nil {
				t.Fatal(err)
			}
			n += len(got)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per batch written and read, want 0", allocs)
	}
}

// TestEnqueueFamily: a datagram for a peer of the other address family
// than its socket is counted as a send error, not handed to the kernel.
func TestEnqueueFamily(t *testing.T) {
	s, _ := udpPair(t, false, false)
	g := &Gateway{byLocal: map[netip.AddrPort]*socket{s.local: s}, socks: []*socket{s}, log: zap.NewNop()}
	q := newTxQueue()
	g.enqueue(q, nil, KindIKEv2, zap.NewNop())
	for _, d := range []struct {
		remote netip.AddrPort
		queued int
	}{
		{netip.MustParseAddrPort("[2001:db8::1]:500"), 0},
		{netip.AddrPort{}, 0},
		{netip.MustParseAddrPort("[::ffff:192.0.2.1]:500"), 1},
	} {
		before := q.len()
		g.enqueue(q, batchDatagrams(s.local, d.remote), KindIKEv2, zap.NewNop())
		if got := q.len() - before; got != d.queued {
			t.Errorf("to %v: %d queued, want %d", d.remote, got, d.queued)
		}
	}
	if n := g.stats.drops[ReasonSendError].Load(); n != 2 {
		t.Errorf("send errors %d, want 2", n)
	}
}

// BenchmarkIO compares moving datagrams over loopback one system call
// each (sendto, recvfrom: the path before batching) with the batched
// path, in batches of recvBatch datagrams of 300 bytes (about an
// IKE_SA_INIT) through the NAT-T framing; per datagram.
func BenchmarkIO(b *testing.B) {
	payload := bytes.Repeat([]byte{0x5a}, 300)
	b.Run("single", func(b *testing.B) {
		from, to := udpPair(b, false, false)
		buf := make([]byte, recvBufSize)
		b.ReportAllocs()
		b.SetBytes(int64(len(payload) * recvBatch))
		for b.Loop() {
			for range recvBatch {
				if _, err := from.conn.WriteToUDPAddrPort(payload, to.local); err != nil {
					b.Fatal(err)
				}
			}
			for range recvBatch {
				if _, _, err := to.conn.ReadFromUDPAddrPort(buf); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*recvBatch), "ns/datagram")
	})
	b.Run("batched", func(b *testing.B) {
		from, to := udpPair(b, false, false)
		w := newBatchWriter(sendBatch)
		r, err := newBatchReader(to.conn, recvBatch, recvBufSize)
		if err != nil {
			b.Fatal(err)
		}
		msgs := make([]txMsg, recvBatch)
		for i := range msgs {
			msgs[i] = txMsg{to: to.local, data: payload}
		}
		res := make([]error, len(msgs))
		b.ReportAllocs()
		b.SetBytes(int64(len(payload) * recvBatch))
		for b.Loop() {
			w.write(from, msgs, res)
			for n := 0; n < len(msgs); {
				got, err := r.read()
				if err != nil {
					b.Fatal(err)
				}
				n += len(got)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*recvBatch), "ns/datagram")
	})
}

// BenchmarkDispatchESP is the receive path of an ESP-in-UDP datagram on
// the NAT-T socket, read in batches and handed to the dataplane:
// allocations per batch of recvBatch datagrams (want 0).
func BenchmarkDispatchESP(b *testing.B) {
	from, to := udpPair(b, false, false)
	to.natt = true // the receiving side is the NAT-T socket
	kb, err := kernel.New("none", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer kb.Close()
	dp := &countingESP{Backend: kb}
	g := &Gateway{log: zap.NewNop(), backend: dp}
	g.caps.ESPInUDP = true
	w := newBatchWriter(sendBatch)
	r, err := newBatchReader(to.conn, recvBatch, recvBufSize)
	if err != nil {
		b.Fatal(err)
	}
	msgs := make([]txMsg, recvBatch)
	for i := range msgs {
		msgs[i] = txMsg{to: to.local, data: bytes.Repeat([]byte{1}, 120)}
	}
	res := make([]error, len(msgs))
	log := zap.NewNop()
	b.ReportAllocs()
	for b.Loop() {
		w.write(from, msgs, res)
		for n := 0; n < len(msgs); {
			got, err := r.read()
			if err != nil {
				b.Fatal(err)
			}
			for _, m := range got {
				g.dispatch(to, m.from, m.b, log)
			}
			n += len(got)
		}
	}
	if dp.n == 0 {
		b.Fatal("no ESP reached the dataplane")
	}
}

func batchDatagrams(local, remote netip.AddrPort) []isakmp.Datagram {
	return []isakmp.Datagram{{Local: local, Remote: remote, Data: []byte("x")}}
}

// countingESP is a "none" dataplane that counts the ESP handed to it.
type countingESP struct {
	kernel.Backend
	n int
}

func (c *countingESP) HandleESP(netip.AddrPort, netip.AddrPort, []byte) { c.n++ }

// TestSockaddr: source addresses come out of the kernel's sockaddr as
// they went in (IPv4, IPv6, IPv4-mapped unmapped, IPv6 with a scope),
// and a sockaddr of no IP family gives no address.
func TestSockaddr(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the sockaddr conversion is Linux's")
	}
	for _, tc := range []struct {
		in   string
		v6   bool
		want string
	}{
		{"192.0.2.1:500", false, "192.0.2.1:500"},
		{"192.0.2.1:4500", false, "192.0.2.1:4500"},
		{"[2001:db8::1]:500", true, "[2001:db8::1]:500"},
		{"[fe80::1%7]:500", true, "[fe80::1%7]:500"},
		{"[::ffff:192.0.2.9]:65535", true, "192.0.2.9:65535"},
	} {
		in := netip.MustParseAddrPort(tc.in)
		got := sockaddrRoundTrip(in, tc.v6)
		if got.String() != tc.want {
			t.Errorf("%s: got %v, want %s", tc.in, got, tc.want)
		}
	}
	if got := sockaddrRoundTrip(netip.AddrPort{}, false); got.IsValid() {
		t.Errorf("a sockaddr of no family gave %v", got)
	}
}
