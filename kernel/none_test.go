package kernel

import (
	"net/netip"
	"strings"
	"testing"

	"ikegate/oakley"
	"ikegate/policy"
)

var (
	addrL = netip.MustParseAddr("10.200.0.1")
	addrR = netip.MustParseAddr("10.200.0.2")
)

func testChildSA(spiIn, spiOut uint32) *policy.ChildSA {
	return &policy.ChildSA{
		ConnName: "t", ReqID: 7, Tunnel: true,
		Local: addrL, Remote: addrR,
		SPIIn: spiIn, SPIOut: spiOut,
		Encr:     oakley.Transform{Type: oakley.TransformENCR, ID: oakley.EncrAESGCM16, KeyLen: 128},
		Integ:    oakley.Transform{Type: oakley.TransformINTEG, ID: oakley.IntegNone},
		EncKeyIn: make([]byte, 20), EncKeyOut: make([]byte, 20),
		LocalTS:  []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")},
		RemoteTS: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24")},
	}
}

func TestNewNames(t *testing.T) {
	b, err := New("none", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// New("userspace") opens a TUN device: see TestUserspaceNew, which
	// runs it inside a fresh network namespace.
	if _, err := New("ipsec-tools", nil); err == nil || !strings.Contains(err.Error(), `"ipsec-tools"`) {
		t.Fatalf("unknown name: got %v", err)
	}
}

func TestNoneUniqueSPIs(t *testing.T) {
	b := newNone(nil)
	seen := map[uint32]bool{}
	for range 5000 {
		spi, err := b.AllocSPI(addrL, addrR)
		if err != nil {
			t.Fatal(err)
		}
		if spi < 0x100 {
			t.Fatalf("SPI %#x below 0x100", spi)
		}
		if seen[spi] {
			t.Fatalf("SPI %#x handed out twice", spi)
		}
		seen[spi] = true
	}
}

func TestNoneAllocSkipsLiveSPIs(t *testing.T) {
	b := newNone(nil)
	// An installed SA's inbound SPI counts as live even when it was not
	// allocated here.
	if err := b.AddChildSA(testChildSA(0x1000, 0x2000)); err != nil {
		t.Fatal(err)
	}
	if !b.inUse(addrL, 0x1000) || b.inUse(addrR, 0x1000) {
		t.Fatal("inUse is wrong")
	}
}

func TestNoneAddDelClose(t *testing.T) {
	b := newNone(nil)
	spi, err := b.AllocSPI(addrL, addrR)
	if err != nil {
		t.Fatal(err)
	}
	sa := testChildSA(spi, 0xabcdef01)
	if err := b.AddChildSA(sa); err != nil {
		t.Fatal(err)
	}
	if err := b.AddChildSA(sa); err == nil {
		t.Fatal("second AddChildSA of the same inbound SPI succeeded")
	}
	got := b.Installed()
	if len(got) != 1 || got[0].SPIIn != spi || got[0].SPIOut != 0xabcdef01 {
		t.Fatalf("Installed() = %+v", got)
	}
	// The backend keeps the caller's ChildSA (policy.Installer.AddChildSA)
	// and lists copies of it without the keys.
	if b.installed[spiKey{addrL, spi}] != sa {
		t.Fatal("the backend holds a copy of the caller's ChildSA")
	}
	got[0].LocalTS[0] = netip.MustParsePrefix("192.0.2.0/24")
	if sa.LocalTS[0].String() != "10.1.0.0/24" || b.Installed()[0].LocalTS[0].String() != "10.1.0.0/24" {
		t.Fatal("Installed shares memory with the recorded ChildSA")
	}
	if got[0].EncKeyIn != nil || got[0].IntegKeyOut != nil {
		t.Fatalf("Installed lists keys: %+v", got[0])
	}
	if c, ok := b.Counters(sa.SPIIn); ok || c != (policy.ChildCounters{}) {
		t.Fatalf("Counters = %+v, %v; want nothing counted", c, ok)
	}
	if b.Events() != nil {
		t.Fatal("none backend has events")
	}
	if err := b.DelChildSA(sa); err != nil {
		t.Fatal(err)
	}
	if err := b.DelChildSA(sa); err != nil { // idempotent
		t.Fatal(err)
	}
	if err := b.DelChildSA(nil); err != nil {
		t.Fatal(err)
	}
	if n := len(b.Installed()); n != 0 {
		t.Fatalf("%d SAs left after DelChildSA", n)
	}

	if err := b.AddChildSA(testChildSA(0x3000, 0x4000)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AllocSPI(addrL, addrR); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if len(b.Installed()) != 0 || len(b.allocated) != 0 {
		t.Fatal("Close left records")
	}
	if _, err := b.AllocSPI(addrL, addrR); err == nil {
		t.Fatal("AllocSPI after Close succeeded")
	}
}

func TestValidateChildSA(t *testing.T) {
	for name, mod := range map[string]func(*policy.ChildSA){
		"no local":   func(sa *policy.ChildSA) { sa.Local = netip.Addr{} },
		"mixed":      func(sa *policy.ChildSA) { sa.Remote = netip.MustParseAddr("2001:db8::1") },
		"zero spi":   func(sa *policy.ChildSA) { sa.SPIOut = 0 },
		"zero spiin": func(sa *policy.ChildSA) { sa.SPIIn = 0 },
	} {
		sa := testChildSA(0x1000, 0x2000)
		mod(sa)
		if err := newNone(nil).AddChildSA(sa); err == nil {
			t.Errorf("%s: AddChildSA accepted it", name)
		}
	}
	if err := newNone(nil).AddChildSA(nil); err == nil {
		t.Error("nil ChildSA accepted")
	}
}

// BenchmarkNoneInstall allocates an SPI and installs a CHILD SA on top of
// 100,000 installed ones, then removes it: constant time per install (the
// SPI checks scanned every installed SA).
//
//	go test -run=NONE -bench=NoneInstall ./kernel/
func BenchmarkNoneInstall(b *testing.B) {
	nb := newNone(nil)
	defer nb.Close()
	install := func() *policy.ChildSA {
		spi, err := nb.AllocSPI(addrL, addrR)
		if err != nil {
			b.Fatal(err)
		}
		sa := testChildSA(spi, spi^0xffff)
		if err := nb.AddChildSA(sa); err != nil {
			b.Fatal(err)
		}
		return sa
	}
	for range 100_000 {
		install()
	}
	b.ResetTimer()
	for range b.N {
		if err := nb.DelChildSA(install()); err != nil {
			b.Fatal(err)
		}
	}
}

// TestNoneMove: a move files the SA under its new local address in a
// copy of the backend's own (the caller moves its ChildSA afterwards,
// as engine.Execute does), DelChildSA finds it with the moved record,
// and an SA that is not installed (or not with these SPIs) cannot move.
func TestNoneMove(t *testing.T) {
	newL := netip.MustParseAddr("10.200.1.1")
	to := struct{ local, remote netip.AddrPort }{
		netip.AddrPortFrom(newL, 4500), netip.AddrPortFrom(netip.MustParseAddr("10.200.1.2"), 34567),
	}
	for _, tc := range []struct {
		name    string
		probe   func(sa *policy.ChildSA) *policy.ChildSA // what MoveChildSA is given
		wantErr bool
	}{
		{"installed", func(sa *policy.ChildSA) *policy.ChildSA { return sa }, false},
		{"other SPI out", func(sa *policy.ChildSA) *policy.ChildSA {
			c := *sa
			c.SPIOut++
			return &c
		}, true},
		{"not installed", func(sa *policy.ChildSA) *policy.ChildSA { return testChildSA(0x2000, 0x3000) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newNone(nil)
			sa := testChildSA(0x1000, 0xabcdef01)
			if err := b.AddChildSA(sa); err != nil {
				t.Fatal(err)
			}
			err := b.MoveChildSA(tc.probe(sa), to.local, to.remote)
			if (err != nil) != tc.wantErr {
				t.Fatalf("MoveChildSA: %v, want an error: %v", err, tc.wantErr)
			}
			if tc.wantErr {
				if got := b.Installed(); len(got) != 1 || got[0].Local != addrL {
					t.Fatalf("after a failed move: Installed() = %+v", got)
				}
				return
			}
			if b.installed[spiKey{newL, sa.SPIIn}] == sa {
				t.Fatal("the backend keeps the caller's ChildSA after a move (the caller changes it next)")
			}
			sa.Move(to.local, to.remote) // as engine.Execute does
			got := b.Installed()
			if len(got) != 1 || got[0].Local != newL || got[0].Remote != to.remote.Addr() ||
				got[0].EncapLocalPort != 4500 || got[0].EncapRemotePort != 34567 || got[0].EncKeyIn != nil {
				t.Fatalf("after the move: Installed() = %+v", got)
			}
			if b.inUse(addrL, sa.SPIIn) || !b.inUse(newL, sa.SPIIn) {
				t.Fatal("the SPI is still filed under the old local address")
			}
			if err := b.DelChildSA(sa); err != nil {
				t.Fatal(err)
			}
			if got := b.Installed(); len(got) != 0 {
				t.Fatalf("after DelChildSA: Installed() = %+v", got)
			}
		})
	}
}
