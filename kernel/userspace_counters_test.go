package kernel

import (
	"bytes"
	"net/netip"
	"testing"
)

// TestUserspaceCountersBySPI: the control API finds an SA's counters by its
// inbound SPI alone (as `ikegate sas --json` shows it), including replay
// drops; an unknown or deleted SPI reports ok=false.
func TestUserspaceCountersBySPI(t *testing.T) {
	a, b, ta, tb, _, w := newTestPair(t, -1)
	saA, saB := mirrorSAs(gcm128, 0, 0x2000a, 0x2000b, 7)
	if err := a.AddChildSA(saA); err != nil {
		t.Fatal(err)
	}
	if err := b.AddChildSA(saB); err != nil {
		t.Fatal(err)
	}
	var last []byte
	w.mu.Lock()
	w.hook = func(fromA bool, p []byte) []byte { last = bytes.Clone(p); return p }
	w.mu.Unlock()
	p := ipv4("10.1.0.1", "10.2.0.5", []byte("hello"))
	ta.in <- p
	recv(t, tb)
	w.mu.Lock()
	replay := last
	w.hook = nil
	w.mu.Unlock()
	b.HandleESP(netip.MustParseAddrPort("192.0.2.2:4500"), netip.MustParseAddrPort("192.0.2.1:4500"), replay)
	waitUntil(t, "replay drop", func() bool {
		in, _, _, ok := b.CountersBySPI(0x2000b)
		return ok && in.ReplayDrops == 1
	})
	in, out, outside, ok := b.CountersBySPI(0x2000b)
	if !ok || in.Packets != 1 || in.Bytes != uint64(len(p)) || out.Packets != 0 || outside != 0 {
		t.Fatalf("B counters in %+v out %+v outside %d ok %v", in, out, outside, ok)
	}
	if _, out, _, ok := a.CountersBySPI(0x2000a); !ok || out.Packets != 1 {
		t.Fatalf("A counters out %+v ok %v", out, ok)
	}
	if _, _, _, ok := b.CountersBySPI(0x2000a); ok {
		t.Fatal("B found an SA by A's inbound SPI")
	}
	if err := b.DelChildSA(saB); err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := b.CountersBySPI(0x2000b); ok {
		t.Fatal("counters of a deleted SA")
	}
}
