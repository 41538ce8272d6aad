//go:build linux

package kernel

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"ikegate/oakley"
	"ikegate/policy"
)

const testTrapReqID = 1<<30 | 1

func trapTestConn() *policy.Connection {
	return &policy.Connection{
		Name: "trapped", Version: policy.IKEv2, Start: policy.StartTrap,
		LocalAddr: addrL, RemoteAddr: addrR,
		LocalTS:  []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")},
		RemoteTS: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24"), netip.MustParsePrefix("10.3.0.0/16")},
	}
}

// checkPolicies compares the namespace's policies with want: for each
// "dir src dst" the template's reqid.
func checkPolicies(t *testing.T, h *netlink.Handle, when string, want map[string]int) {
	t.Helper()
	_, pols := countXfrm(t, h)
	got := map[string]int{}
	for _, p := range pols {
		k := dirWord(p.Dir) + " " + p.Src.String() + " " + p.Dst.String()
		if len(p.Tmpls) != 1 {
			t.Fatalf("%s: %s has %d templates", when, k, len(p.Tmpls))
		}
		got[k] = p.Tmpls[0].Reqid
		tm := p.Tmpls[0]
		if tm.Proto != netlink.XFRM_PROTO_ESP || tm.Mode != netlink.XFRM_MODE_TUNNEL {
			t.Fatalf("%s: %s template proto %v mode %v", when, k, tm.Proto, tm.Mode)
		}
		src, dst := addrL, addrR
		if p.Dir != netlink.XFRM_DIR_OUT {
			src, dst = addrR, addrL
		}
		if !tm.Src.Equal(ipOf(src)) || !tm.Dst.Equal(ipOf(dst)) {
			t.Fatalf("%s: %s template %v -> %v", when, k, tm.Src, tm.Dst)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s: policies %v, want %v", when, got, want)
	}
	for k, r := range want {
		if g, ok := got[k]; !ok || g != r {
			t.Fatalf("%s: policies %v, want %v", when, got, want)
		}
	}
}

func TestXfrmTrapPolicies(t *testing.T) {
	ns := testNetns(t)
	b, h := newTestXfrm(t, ns)
	conn := trapTestConn()
	const trapOnly = "trap only"
	traps := map[string]int{
		"out 10.1.0.0/24 10.2.0.0/24": testTrapReqID,
		"out 10.1.0.0/24 10.3.0.0/16": testTrapReqID,
	}
	if err := b.InstallTrap(conn, testTrapReqID); err != nil {
		t.Fatal(err)
	}
	checkPolicies(t, h, trapOnly, traps)
	if states, _ := countXfrm(t, h); len(states) != 0 {
		t.Fatalf("a trap installed states: %s", describeStates(states))
	}
	if err := b.InstallTrap(conn, testTrapReqID); err != nil { // again: no change
		t.Fatal(err)
	}
	checkPolicies(t, h, "trap installed twice", traps)

	// A CHILD SA for 10.1.0.0/24 <-> 10.2.0.0/24 takes the shared out
	// policy over and adds in and fwd.
	sa := testChildSA(0x1111, 0x2222)
	withSA := map[string]int{
		"out 10.1.0.0/24 10.2.0.0/24": 7,
		"out 10.1.0.0/24 10.3.0.0/16": testTrapReqID,
		"in 10.2.0.0/24 10.1.0.0/24":  7,
		"fwd 10.2.0.0/24 10.1.0.0/24": 7,
	}
	if err := b.addPolicies(sa); err != nil {
		t.Fatal(err)
	}
	checkPolicies(t, h, "trap, then CHILD SA", withSA)
	specs, _ := policySpecs(sa)
	b.mu.Lock()
	reqid, name := b.trapReqIDLocked(specs)
	b.mu.Unlock()
	if reqid != testTrapReqID || name != "trapped" {
		t.Fatalf("trapReqIDLocked = %d %q", reqid, name)
	}
	// Deleting the SA puts the trap back.
	if err := b.delPolicies(sa); err != nil {
		t.Fatal(err)
	}
	checkPolicies(t, h, "CHILD SA deleted", traps)

	// SA first, then the trap: the SA's template stays active.
	if err := b.RemoveTrap(conn); err != nil {
		t.Fatal(err)
	}
	checkPolicies(t, h, "trap removed", nil)
	if err := b.addPolicies(sa); err != nil {
		t.Fatal(err)
	}
	if err := b.InstallTrap(conn, testTrapReqID); err != nil {
		t.Fatal(err)
	}
	checkPolicies(t, h, "CHILD SA, then trap", withSA)
	// Changed selectors replace the trap.
	conn2 := trapTestConn()
	conn2.RemoteTS = conn2.RemoteTS[:1]
	if err := b.InstallTrap(conn2, testTrapReqID+1); err != nil {
		t.Fatal(err)
	}
	checkPolicies(t, h, "trap replaced", map[string]int{
		"out 10.1.0.0/24 10.2.0.0/24": 7,
		"in 10.2.0.0/24 10.1.0.0/24":  7,
		"fwd 10.2.0.0/24 10.1.0.0/24": 7,
	})
	if err := b.delPolicies(sa); err != nil {
		t.Fatal(err)
	}
	checkPolicies(t, h, "CHILD SA deleted under the new trap", map[string]int{"out 10.1.0.0/24 10.2.0.0/24": testTrapReqID + 1})

	// Close removes the trap too.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	checkPolicies(t, h, "Close", nil)
	if len(b.traps) != 0 || len(b.policies) != 0 {
		t.Fatalf("bookkeeping after Close: %d traps, %d policies", len(b.traps), len(b.policies))
	}
	if err := b.InstallTrap(conn, testTrapReqID); !errors.Is(err, errClosed) {
		t.Fatalf("InstallTrap after Close: %v", err)
	}
}

func TestXfrmTrapErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		edit  func(*policy.Connection)
		reqid uint32
		want  string
	}{
		{"no remote", func(c *policy.Connection) { c.RemoteAddr = netip.Addr{} }, 1, "needs local_addr and remote_addr"},
		{"no local", func(c *policy.Connection) { c.LocalAddr = netip.Addr{} }, 1, "needs local_addr and remote_addr"},
		{"families", func(c *policy.Connection) { c.RemoteAddr = netip.MustParseAddr("2001:db8::1") }, 1, "different address families"},
		{"reqid 0", func(*policy.Connection) {}, 0, "reqid must not be 0"},
		{"no TS pair", func(c *policy.Connection) { c.RemoteTS = []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")} }, 1, "no local/remote traffic selector pair"},
	} {
		conn := trapTestConn()
		c.edit(conn)
		_, err := trapSpecs(conn, c.reqid)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}

// TestXfrmTrapAndFailedChildSA installs a CHILD SA over a trap. Here (no
// ESP) the install fails and must leave the trap alone; on a kernel with
// ESP the SA's states carry the trap's reqid and deleting it leaves the
// trap.
func TestXfrmTrapAndFailedChildSA(t *testing.T) {
	ns := testNetns(t)
	b, h := newTestXfrm(t, ns)
	conn := trapTestConn()
	conn.RemoteTS = conn.RemoteTS[:1]
	trap := map[string]int{"out 10.1.0.0/24 10.2.0.0/24": testTrapReqID}
	if err := b.InstallTrap(conn, testTrapReqID); err != nil {
		t.Fatal(err)
	}
	sa := testChildSA(0x3333, 0x4444)
	sa.Encr = oakley.Transform{Type: oakley.TransformENCR, ID: oakley.EncrAESCBC, KeyLen: 128}
	sa.Integ = oakley.Transform{Type: oakley.TransformINTEG, ID: oakley.IntegHMACSHA2_256}
	sa.EncKeyIn, sa.EncKeyOut = make([]byte, 16), make([]byte, 16)
	sa.IntegKeyIn, sa.IntegKeyOut = make([]byte, 32), make([]byte, 32)
	sa.EncapLocalPort, sa.EncapRemotePort = 4500, 4500
	err := b.AddChildSA(sa)
	if err != nil {
		if !errors.Is(err, unix.EPROTONOSUPPORT) {
			t.Fatalf("AddChildSA: %v", err)
		}
		t.Logf("AddChildSA (no ESP here): %v", err)
		checkPolicies(t, h, "after the failed install", trap)
	} else {
		t.Log("this kernel has ESP: checking the installed SA")
		states, _ := countXfrm(t, h)
		if len(states) != 2 {
			t.Fatalf("states: %s", describeStates(states))
		}
		for _, st := range states {
			if st.Reqid != testTrapReqID || st.Encap == nil {
				t.Fatalf("state reqid %d encap %v, want the trap's reqid and ESP-in-UDP", st.Reqid, st.Encap)
			}
		}
		checkPolicies(t, h, "SA over trap", map[string]int{
			"out 10.1.0.0/24 10.2.0.0/24": testTrapReqID,
			"in 10.2.0.0/24 10.1.0.0/24":  testTrapReqID,
			"fwd 10.2.0.0/24 10.1.0.0/24": testTrapReqID,
		})
		if sa.ReqID != 7 {
			t.Fatalf("the caller's ChildSA changed reqid to %d", sa.ReqID)
		}
		if err := b.DelChildSA(sa); err != nil {
			t.Fatal(err)
		}
		checkPolicies(t, h, "SA deleted", trap)
	}
	if states, _ := countXfrm(t, h); len(states) != 0 {
		t.Fatalf("states left: %s", describeStates(states))
	}
	b.mu.Lock()
	e := b.policies[polKey{netlink.XFRM_DIR_OUT, netip.MustParsePrefix("10.1.0.0/24"), netip.MustParsePrefix("10.2.0.0/24")}]
	b.mu.Unlock()
	if e == nil || len(e.owners) != 1 || !e.owners[0].id.isTrap() {
		t.Fatalf("trap policy bookkeeping: %+v", e)
	}
}

// TestXfrmCloseRemovesEverything: after Close, nothing this backend put in
// the kernel is left: larval SAs, states of a failed install, CHILD SA
// policies and traps.
func TestXfrmCloseRemovesEverything(t *testing.T) {
	ns := testNetns(t)
	b, h := newTestXfrm(t, ns)
	for range 3 {
		if _, err := b.AllocSPI(addrL, addrR); err != nil {
			t.Fatal(err)
		}
	}
	sa := testChildSA(0x5555, 0x6666)
	sa.LocalTS = []netip.Prefix{netip.MustParsePrefix("10.5.0.0/24")}
	if err := b.addPolicies(sa); err != nil {
		t.Fatal(err)
	}
	if err := b.InstallTrap(trapTestConn(), testTrapReqID); err != nil {
		t.Fatal(err)
	}
	failing := xfrmTestSA(b, t, true, oakley.EncrAESCBC)
	if err := b.AddChildSA(failing); err == nil {
		t.Log("this kernel has ESP: the SA installed")
	}
	states, pols := countXfrm(t, h)
	t.Logf("before Close: %d states, %d policies", len(states), len(pols))
	if len(pols) < 5 || len(states) < 3 {
		t.Fatalf("setup: %d states, %d policies", len(states), len(pols))
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if states, pols := countXfrm(t, h); len(states) != 0 || len(pols) != 0 {
		t.Fatalf("Close left %d states (%s) and %d policies", len(states), describeStates(states), len(pols))
	}
	if err := b.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
}

// vethNetns adds a veth pair (kept inside the namespace; loopback never
// consults XFRM) with the given addresses on ikg0 and routes on it.
func vethNetns(t *testing.T, h *netlink.Handle, addrs []string, routes []string) {
	t.Helper()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "ikg0"}, PeerName: "ikg1"}
	if err := h.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	var l0 netlink.Link
	for _, name := range []string{"ikg0", "ikg1"} {
		l, err := h.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
		if name == "ikg0" {
			l0 = l
		}
	}
	for _, a := range addrs {
		addr, err := netlink.ParseAddr(a)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.AddrAdd(l0, addr); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range routes {
		_, dst, _ := net.ParseCIDR(r)
		if err := h.RouteAdd(&netlink.Route{LinkIndex: l0.Attrs().Index, Dst: dst, Scope: netlink.SCOPE_LINK}); err != nil {
			t.Fatal(err)
		}
	}
}

func sendUDPIn(t *testing.T, ns netns.NsHandle, from, to string) {
	t.Helper()
	inNetns(t, ns, func() error {
		c, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(from)), net.UDPAddrFromAddrPort(netip.MustParseAddrPort(to)))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("x")) // may fail: there is no SA
		t.Logf("write %s -> %s: %v", from, to, err)
		return nil
	})
}

// TestXfrmTrapAcquire: a packet that matches a trap makes the kernel
// raise an ACQUIRE with the trap's reqid and endpoints.
func TestXfrmTrapAcquire(t *testing.T) {
	ns := testNetns(t)
	b, h := newTestXfrm(t, ns)
	vethNetns(t, h, []string{"10.200.0.1/24", "10.1.0.1/24"}, []string{"10.2.0.0/24"})
	if err := b.InstallTrap(trapTestConn(), testTrapReqID); err != nil {
		t.Fatal(err)
	}
	sendUDPIn(t, ns, "10.1.0.1:40001", "10.2.0.7:5353")
	select {
	case ev := <-b.Events():
		t.Logf("acquire: %+v", ev)
		if ev.Kind != EventAcquire || ev.ReqID != testTrapReqID || ev.Src != addrL || ev.Dst != addrR ||
			ev.LocalTS.String() != "10.1.0.1/32" || ev.RemoteTS.String() != "10.2.0.7/32" || ev.RemotePort != 5353 {
			t.Fatalf("unexpected event %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no ACQUIRE within 5s")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// The kernel's own larval acquire state (spi 0) lives on until
	// net.core.xfrm_acq_expires; nothing of ours may.
	states, pols := countXfrm(t, h)
	if len(pols) != 0 {
		t.Fatalf("%d policies left", len(pols))
	}
	for _, st := range states {
		if st.Spi != 0 {
			t.Fatalf("state left: %s", describeStates([]netlink.XfrmState{st}))
		}
	}
}
