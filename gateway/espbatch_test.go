package gateway

import (
	"bytes"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"go.uber.org/zap"

	"ikegate/kernel"
	"ikegate/policy"
)

// TestGROSegments: a coalesced datagram splits into segments of the
// given size, the last one possibly shorter; no size (or one not smaller
// than the datagram) gives the datagram whole.
func TestGROSegments(t *testing.T) {
	b := []byte("aaaabbbbccccd")
	for _, tc := range []struct {
		name string
		b    []byte
		seg  int
		want []string
	}{
		{"none", b, 0, []string{"aaaabbbbccccd"}},
		{"negative", b, -3, []string{"aaaabbbbccccd"}},
		{"whole", b, 13, []string{"aaaabbbbccccd"}},
		{"larger", b, 100, []string{"aaaabbbbccccd"}},
		{"split", b, 4, []string{"aaaa", "bbbb", "cccc", "d"}},
		{"exact", b[:12], 4, []string{"aaaa", "bbbb", "cccc"}},
		{"ones", b[:3], 1, []string{"a", "a", "a"}},
		{"empty", nil, 4, []string{""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for s := range groSegments(tc.b, tc.seg) {
				got = append(got, string(s))
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// batchESP is a "none" dataplane with the batched ESP hooks: it keeps a
// copy of every batch handed to it.
type batchESP struct {
	kernel.Backend
	mu      sync.Mutex
	batches [][]policy.ESPDatagram
}

func (c *batchESP) HandleESPBatch(ds []policy.ESPDatagram) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var cp []policy.ESPDatagram
	for _, d := range ds {
		d.B = bytes.Clone(d.B)
		cp = append(cp, d)
	}
	c.batches = append(c.batches, cp)
}

func (c *batchESP) SetBatchSender(func([]policy.ESPDatagram) int) {}

// TestHandleReadGRO: the segments of a coalesced datagram are classified
// one by one (ESP to the batched dataplane, a keepalive counted), the
// ESP datagrams of one read reach the dataplane as one batch, in order,
// and a datagram whose GRO control message could not be read is dropped
// and counted without harming the others.
func TestHandleReadGRO(t *testing.T) {
	kb, err := kernel.New("none", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer kb.Close()
	dp := &batchESP{Backend: kb}
	g := &Gateway{log: zap.NewNop(), backend: dp, espBatch: dp}
	g.caps.ESPInUDP = true
	s := &socket{local: netip.MustParseAddrPort("192.0.2.1:4500"), natt: true}
	peer := netip.MustParseAddrPort("198.51.100.7:4500")
	esp := func(n byte, size int) []byte {
		p := bytes.Repeat([]byte{n}, size)
		copy(p, []byte{0x01, 0x02, 0x03, n})
		return p
	}
	coalesced := slices.Concat(esp(1, 100), esp(2, 100), esp(3, 100), []byte{0xFF})
	msgs := []rxMsg{
		{b: coalesced, from: peer, seg: 100},
		{b: slices.Concat(esp(9, 100), esp(9, 100)), from: peer, badGRO: true},
		{b: esp(4, 60), from: peer},
	}
	q := make([]policy.ESPDatagram, 0, recvBatch)
	g.handleRead(s, msgs, zap.NewNop(), &q)
	if len(dp.batches) != 1 {
		t.Fatalf("%d batches, want 1", len(dp.batches))
	}
	var got [][]byte
	for _, d := range dp.batches[0] {
		if d.Local != s.local || d.Remote != peer {
			t.Errorf("datagram %v -> %v, want %v -> %v", d.Remote, d.Local, peer, s.local)
		}
		got = append(got, d.B)
	}
	want := [][]byte{esp(1, 100), esp(2, 100), esp(3, 100), esp(4, 60)}
	if !slices.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("ESP batch %x, want %x", got, want)
	}
	if n := g.stats.in[KindKeepalive].Load(); n != 1 {
		t.Errorf("%d keepalives, want 1", n)
	}
	if n := g.stats.drops[ReasonBadGRO].Load(); n != 1 {
		t.Errorf("%d bad_gro drops, want 1", n)
	}
	if n := g.stats.in[KindESP].Load(); n != 4 {
		t.Errorf("%d ESP datagrams counted, want 4", n)
	}
	if len(q) != 0 {
		t.Errorf("the queue holds %d datagrams after the read", len(q))
	}
}
