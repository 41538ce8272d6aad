//go:build linux

package kernel

import (
	"net/netip"
	"testing"

	"ikegate/policy"
)

// TestXfrmDataplane checks the xfrm backend's side of policy.Dataplane in
// a fresh network namespace: Capabilities, traps through the interface,
// the no-op ESP-in-UDP hooks, zero Stats, and Counters by inbound SPI.
//
// This host's kernel lacks ESP, so AddChildSA cannot install states.
// Counters(spiIn) is checked on records put into the backend's
// bookkeeping directly, over larval states from ALLOCSPI (which the
// kernel keeps without ESP): they have the SPIs and zero statistics.
func TestXfrmDataplane(t *testing.T) {
	ns := testNetns(t)
	b, h := newTestXfrm(t, ns)
	var dp policy.Dataplane = b

	want := policy.Capabilities{Counters: true, Traps: true, Events: true, RawESP: true}
	if got := dp.Capabilities(); got != want {
		t.Fatalf("Capabilities() = %+v, want %+v", got, want)
	}
	if dp.Events() == nil {
		t.Fatal("Events() is nil with Capabilities().Events")
	}

	// Traps work through the interface.
	conn := trapTestConn()
	if err := dp.InstallTrap(conn, dp.AllocReqID()); err != nil {
		t.Fatal(err)
	}
	if _, pols := countXfrm(t, h); len(pols) != 2 {
		t.Fatalf("%d policies after InstallTrap, want 2", len(pols))
	}
	if err := dp.RemoveTrap(conn); err != nil {
		t.Fatal(err)
	}
	if _, pols := countXfrm(t, h); len(pols) != 0 {
		t.Fatalf("%d policies after RemoveTrap", len(pols))
	}

	// ESP-in-UDP is the kernel's: the hooks do nothing, Stats stays zero.
	dp.SetSender(func(netip.AddrPort, netip.AddrPort, []byte) error {
		t.Error("the xfrm backend sent ESP through the gateway")
		return nil
	})
	dp.HandleESP(netip.AddrPortFrom(addrL, 4500), netip.AddrPortFrom(addrR, 4500), []byte{0, 0, 1, 0, 0, 0, 0, 1, 9, 9})
	if got := dp.Stats(); got != (policy.DataplaneStats{}) {
		t.Fatalf("Stats() = %+v, want zero", got)
	}

	// Two "installed" SAs over larval states: one 10.200.0.2 -> .1 with
	// its outbound state to .2, and one to a second local address that
	// shares the inbound SPI value (SPIs are unique per destination only).
	addrL2 := netip.MustParseAddr("10.200.0.3")
	spiIn, err := b.AllocSPI(addrL, addrR)
	if err != nil {
		t.Fatal(err)
	}
	spiOut, err := b.AllocSPI(addrR, addrL)
	if err != nil {
		t.Fatal(err)
	}
	record := func(local netip.Addr, in, out, reqid uint32) *policy.ChildSA {
		sa := testChildSA(in, out)
		sa.Local, sa.ReqID = local, reqid
		sa.EncKeyIn, sa.EncKeyOut = nil, nil
		b.mu.Lock()
		b.installed[keyOf(sa)] = cloneChildSA(sa)
		delete(b.allocated, spiKey{local, in})
		b.mu.Unlock()
		return sa
	}
	sa := record(addrL, spiIn, spiOut, 5)
	ghost := record(addrL2, spiIn, 0x4242, 6) // no states in the kernel

	for _, c := range []struct {
		name  string
		spiIn uint32
		ok    bool
	}{
		{"installed (the lower reqid of two with this SPI)", spiIn, true},
		{"outbound SPI", spiOut, false},
		{"unknown", 0xdead, false},
	} {
		got, ok := dp.Counters(c.spiIn)
		if ok != c.ok || got != (policy.ChildCounters{}) {
			t.Errorf("Counters(%s %#x) = %+v, %v; want zero counters, ok %v", c.name, c.spiIn, got, ok, c.ok)
		}
	}
	if inst := dp.Installed(); len(inst) != 2 || inst[0].ReqID != 5 || inst[1].ReqID != 6 || inst[0].EncKeyIn != nil {
		t.Fatalf("Installed() = %+v", inst)
	}

	// With only the SA whose states are missing left, Counters cannot
	// read them: ok=false.
	if err := dp.DelChildSA(sa); err != nil {
		t.Fatal(err)
	}
	if got, ok := dp.Counters(spiIn); ok {
		t.Fatalf("Counters of an SA without states = %+v", got)
	}
	if err := dp.DelChildSA(ghost); err != nil {
		t.Fatal(err)
	}
	if got, ok := dp.Counters(spiIn); ok {
		t.Fatalf("Counters after DelChildSA = %+v", got)
	}
	if states, pols := countXfrm(t, h); len(states) != 0 || len(pols) != 0 {
		t.Fatalf("left %d states (%s) and %d policies", len(states), describeStates(states), len(pols))
	}
}
