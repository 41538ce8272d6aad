//go:build linux

package kernel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"

	"ikegate/internal/netnstest"
	"ikegate/oakley"
	"ikegate/policy"
)

// TestDecoderLayoutMatchesNetlink cross-checks the decoder's offsets with
// the netlink library's Go mirrors of the kernel structs.
func TestDecoderLayoutMatchesNetlink(t *testing.T) {
	var sa nl.XfrmUsersaInfo
	var tmpl nl.XfrmUserTmpl
	var pol nl.XfrmUserpolicyInfo
	var sel nl.XfrmSelector
	checks := []struct {
		name      string
		got, want uintptr
	}{
		{"sizeof xfrm_usersa_info", unsafe.Sizeof(sa), sizeofUsersaInfo},
		{"sizeof xfrm_user_expire", unsafe.Sizeof(nl.XfrmUserExpire{}), sizeofUserExpire},
		{"sizeof xfrm_user_tmpl", unsafe.Sizeof(tmpl), sizeofUserTmpl},
		{"sizeof xfrm_userpolicy_info", unsafe.Sizeof(pol), sizeofUserpolicyInfo},
		{"sizeof xfrm_selector", unsafe.Sizeof(sel), sizeofXfrmSelector},
		{"usersa.id", unsafe.Offsetof(sa.Id), offUsersaID},
		{"usersa.saddr", unsafe.Offsetof(sa.Saddr), offUsersaSaddr},
		{"usersa.reqid", unsafe.Offsetof(sa.Reqid), offUsersaReqid},
		{"usersa.family", unsafe.Offsetof(sa.Family), offUsersaFamily},
		{"tmpl.family", unsafe.Offsetof(tmpl.Family), offTmplFamily},
		{"tmpl.saddr", unsafe.Offsetof(tmpl.Saddr), offTmplSaddr},
		{"tmpl.reqid", unsafe.Offsetof(tmpl.Reqid), offTmplReqid},
		{"policy.index", unsafe.Offsetof(pol.Index), offPolicyIndex},
		{"sel.family", unsafe.Offsetof(sel.Family), offSelFamily},
		{"sel.prefixlen_d", unsafe.Offsetof(sel.PrefixlenD), offSelPrefixlenD},
		{"sel.proto", unsafe.Offsetof(sel.Proto), offSelProto},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: netlink says %d, decoder uses %d", c.name, c.got, c.want)
		}
	}
}

// testNetns creates a fresh network namespace for one test, without
// moving the test's threads into it; the backend and the checking handle
// open their sockets there.
func testNetns(t testing.TB) netns.NsHandle { return netnstest.New(t, "this XFRM test") }

func newTestXfrm(t *testing.T, ns netns.NsHandle) (*xfrmBackend, *netlink.Handle) {
	t.Helper()
	b, err := newXfrm(ns, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_XFRM, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return b, h
}

func countXfrm(t *testing.T, h *netlink.Handle) (states []netlink.XfrmState, pols []netlink.XfrmPolicy) {
	t.Helper()
	states, err := h.XfrmStateList(netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	pols, err = h.XfrmPolicyList(netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	return states, pols
}

// describeStates avoids fmt on XfrmState (its String panics on nil Pcpunum).
func describeStates(states []netlink.XfrmState) string {
	var s []string
	for _, st := range states {
		s = append(s, fmt.Sprintf("%v->%v spi %#x proto %d", st.Src, st.Dst, uint32(st.Spi), st.Proto))
	}
	return strings.Join(s, "; ")
}

func TestXfrmAllocSPIDistinct(t *testing.T) {
	ns := testNetns(t)
	b, h := newTestXfrm(t, ns)
	seen := map[uint32]bool{}
	const n = 64
	for range n {
		spi, err := b.AllocSPI(addrL, addrR)
		if err != nil {
			t.Fatal(err)
		}
		if spi < 0x100 || seen[spi] {
			t.Fatalf("bad or repeated SPI %#x", spi)
		}
		seen[spi] = true
	}
	states, _ := countXfrm(t, h)
	if len(states) != n {
		t.Fatalf("%d larval states in the namespace, want %d", len(states), n)
	}
	for _, st := range states {
		if !seen[uint32(st.Spi)] || !st.Dst.Equal(ipOf(addrL)) || st.Proto != netlink.XFRM_PROTO_ESP {
			t.Fatalf("unexpected state %s", describeStates([]netlink.XfrmState{st}))
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if states, _ := countXfrm(t, h); len(states) != 0 {
		t.Fatalf("Close left %d states: %s", len(states), describeStates(states))
	}
	if _, ok := <-b.Events(); ok {
		t.Fatal("Events channel still open after Close")
	}
}

func xfrmTestSA(b *xfrmBackend, t *testing.T, allocate bool, encrID uint16) *policy.ChildSA {
	spiIn := uint32(0xc1a2b3c4)
	if allocate {
		var err error
		if spiIn, err = b.AllocSPI(addrL, addrR); err != nil {
			t.Fatal(err)
		}
	}
	sa := testChildSA(spiIn, 0xd1d2d3d4)
	sa.LocalTS = append(sa.LocalTS, netip.MustParsePrefix("10.1.1.0/24"), netip.MustParsePrefix("2001:db8:1::/48"))
	sa.RemoteTS = append(sa.RemoteTS, netip.MustParsePrefix("10.3.0.0/16"))
	sa.Lifetime = time.Hour
	if encrID == oakley.EncrAESCBC {
		sa.Encr = oakley.Transform{Type: oakley.TransformENCR, ID: oakley.EncrAESCBC, KeyLen: 256}
		sa.Integ = oakley.Transform{Type: oakley.TransformINTEG, ID: oakley.IntegHMACSHA2_256}
		sa.EncKeyIn, sa.EncKeyOut = make([]byte, 32), make([]byte, 32)
		sa.IntegKeyIn, sa.IntegKeyOut = make([]byte, 32), make([]byte, 32)
		sa.EncapLocalPort, sa.EncapRemotePort = 4500, 4500
	}
	return sa
}

func TestXfrmAddChildSARollsBack(t *testing.T) {
	// This host's kernel has cbc(aes) and hmac(sha256) but neither ESP
	// nor gcm: GCM fails on the algorithm (ENOSYS), CBC on ESP itself.
	for _, tc := range []struct {
		name     string
		allocate bool
		encr     uint16
		errnos   []error
	}{
		{"allocated SPI, AES-CBC/SHA256, ESP-in-UDP", true, oakley.EncrAESCBC, []error{unix.EPROTONOSUPPORT}},
		{"own SPI, AES-CBC/SHA256, ESP-in-UDP", false, oakley.EncrAESCBC, []error{unix.EPROTONOSUPPORT}},
		{"allocated SPI, AES-GCM", true, oakley.EncrAESGCM16, []error{unix.EPROTONOSUPPORT, unix.ENOSYS}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := testNetns(t)
			b, h := newTestXfrm(t, ns)
			sa := xfrmTestSA(b, t, tc.allocate, tc.encr)
			err := b.AddChildSA(sa)
			if err == nil {
				// A kernel with ESP: check the install, then the removal.
				t.Log("this kernel has ESP: AddChildSA succeeded, checking install and removal instead")
				states, pols := countXfrm(t, h)
				if len(states) != 2 || len(pols) != 2*2*3 {
					t.Fatalf("%d states, %d policies after AddChildSA", len(states), len(pols))
				}
				if _, ok := b.Counters(sa.SPIIn); !ok {
					t.Fatal("Counters(spi in) of the installed SA: ok=false")
				}
				if _, ok := b.Counters(sa.SPIOut); ok {
					t.Fatal("Counters found an SA by its outbound SPI")
				}
				if err := b.DelChildSA(sa); err != nil {
					t.Fatal(err)
				}
			} else {
				t.Logf("AddChildSA: %v", err)
				known := false
				for _, e := range tc.errnos {
					known = known || errors.Is(err, e)
				}
				if !known {
					t.Fatalf("want one of %v, got %v", tc.errnos, err)
				}
				if errors.Is(err, unix.EPROTONOSUPPORT) {
					want := fmt.Sprintf("kernel: add inbound ESP state spi %#08x 10.200.0.2->10.200.0.1: protocol not supported (kernel has no ESP support?)", sa.SPIIn)
					if err.Error() != want {
						t.Fatalf("error text\n got %q\nwant %q", err, want)
					}
				}
			}
			states, pols := countXfrm(t, h)
			if len(states) != 0 || len(pols) != 0 {
				t.Fatalf("left behind %d states (%s) and %d policies", len(states), describeStates(states), len(pols))
			}
			if len(b.allocated) != 0 || len(b.installed) != 0 || len(b.policies) != 0 {
				t.Fatalf("bookkeeping left: %d allocated, %d installed, %d policies", len(b.allocated), len(b.installed), len(b.policies))
			}
			// DelChildSA of what is not there is fine.
			if err := b.DelChildSA(sa); err != nil {
				t.Fatal(err)
			}
			if _, err := b.pairCounters(sa); err == nil {
				t.Fatal("Counters of a missing SA succeeded")
			}
			if c, ok := b.Counters(sa.SPIIn); ok {
				t.Fatalf("Counters(spi in) of a missing SA = %+v", c)
			}
		})
	}
}

func findPolicy(pols []netlink.XfrmPolicy, dir netlink.Dir, src, dst string) *netlink.XfrmPolicy {
	for i, p := range pols {
		if p.Dir == dir && p.Src.String() == src && p.Dst.String() == dst {
			return &pols[i]
		}
	}
	return nil
}

func TestXfrmPolicies(t *testing.T) {
	ns := testNetns(t)
	b, h := newTestXfrm(t, ns)
	sa := xfrmTestSA(b, t, false, oakley.EncrAESGCM16)
	// 2 IPv4 local x 2 IPv4 remote (the IPv6 local TS pairs with nothing),
	// tunnel mode: out, in, fwd each.
	const want = 2 * 2 * 3
	if err := b.addPolicies(sa); err != nil {
		t.Fatal(err)
	}
	_, pols := countXfrm(t, h)
	if len(pols) != want {
		t.Fatalf("%d policies, want %d", len(pols), want)
	}
	for _, c := range []struct {
		dir      netlink.Dir
		src, dst string
		tsrc     netip.Addr
	}{
		{netlink.XFRM_DIR_OUT, "10.1.0.0/24", "10.3.0.0/16", addrL},
		{netlink.XFRM_DIR_IN, "10.3.0.0/16", "10.1.1.0/24", addrR},
		{netlink.XFRM_DIR_FWD, "10.2.0.0/24", "10.1.0.0/24", addrR},
	} {
		p := findPolicy(pols, c.dir, c.src, c.dst)
		if p == nil {
			t.Fatalf("no %s policy %s -> %s", dirWord(c.dir), c.src, c.dst)
		}
		if len(p.Tmpls) != 1 || p.Tmpls[0].Reqid != 7 || p.Tmpls[0].Mode != netlink.XFRM_MODE_TUNNEL ||
			p.Tmpls[0].Proto != netlink.XFRM_PROTO_ESP || !p.Tmpls[0].Src.Equal(ipOf(c.tsrc)) {
			t.Fatalf("%s policy %s -> %s: template %v", dirWord(c.dir), c.src, c.dst, p.Tmpls)
		}
	}
	// /24 <-> /24 is preferred (lower value) over /24 <-> /16.
	p24 := findPolicy(pols, netlink.XFRM_DIR_OUT, "10.1.0.0/24", "10.2.0.0/24")
	p16 := findPolicy(pols, netlink.XFRM_DIR_OUT, "10.1.0.0/24", "10.3.0.0/16")
	if p24.Priority >= p16.Priority {
		t.Fatalf("priorities %d (/24) vs %d (/16)", p24.Priority, p16.Priority)
	}

	// A rekeyed SA with the same selectors and a new reqid shares the
	// policies and takes them over; removing the old SA keeps them.
	sa2 := xfrmTestSA(b, t, false, oakley.EncrAESGCM16)
	sa2.SPIIn, sa2.SPIOut, sa2.ReqID = 0xe1e2e3e4, 0xf1f2f3f4, 8
	if err := b.addPolicies(sa2); err != nil {
		t.Fatal(err)
	}
	if _, pols = countXfrm(t, h); len(pols) != want || findPolicy(pols, netlink.XFRM_DIR_OUT, "10.1.0.0/24", "10.2.0.0/24").Tmpls[0].Reqid != 8 {
		t.Fatalf("after second owner: %d policies", len(pols))
	}
	if err := b.delPolicies(sa2); err != nil {
		t.Fatal(err)
	}
	if _, pols = countXfrm(t, h); len(pols) != want || findPolicy(pols, netlink.XFRM_DIR_IN, "10.2.0.0/24", "10.1.0.0/24").Tmpls[0].Reqid != 7 {
		t.Fatalf("after the newer owner left: %d policies, template not restored", len(pols))
	}
	if err := b.addPolicies(sa2); err != nil {
		t.Fatal(err)
	}
	if err := b.delPolicies(sa); err != nil {
		t.Fatal(err)
	}
	if _, pols = countXfrm(t, h); len(pols) != want {
		t.Fatalf("after the older owner left: %d policies", len(pols))
	}
	if err := b.delPolicies(sa2); err != nil {
		t.Fatal(err)
	}
	if _, pols = countXfrm(t, h); len(pols) != 0 {
		t.Fatalf("%d policies left after both owners left", len(pols))
	}
	if err := b.delPolicies(sa2); err != nil { // again: nothing there
		t.Fatal(err)
	}

	// Close removes what is still installed.
	if err := b.addPolicies(sa); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, pols = countXfrm(t, h); len(pols) != 0 {
		t.Fatalf("Close left %d policies", len(pols))
	}
}

func TestXfrmPoliciesRollBackOnConflict(t *testing.T) {
	ns := testNetns(t)
	b, h := newTestXfrm(t, ns)
	sa := xfrmTestSA(b, t, false, oakley.EncrAESGCM16)
	// Somebody else owns the fwd policy of the last pair.
	foreign := &netlink.XfrmPolicy{
		Src: ipNetOf(netip.MustParsePrefix("10.3.0.0/16")), Dst: ipNetOf(netip.MustParsePrefix("10.1.1.0/24")),
		Dir: netlink.XFRM_DIR_FWD,
	}
	if err := h.XfrmPolicyAdd(foreign); err != nil {
		t.Fatal(err)
	}
	err := b.addPolicies(sa)
	if !errors.Is(err, unix.EEXIST) || !strings.Contains(err.Error(), "fwd policy 10.3.0.0/16 -> 10.1.1.0/24") {
		t.Fatalf("want EEXIST naming the fwd policy, got %v", err)
	}
	_, pols := countXfrm(t, h)
	if len(pols) != 1 || findPolicy(pols, netlink.XFRM_DIR_FWD, "10.3.0.0/16", "10.1.1.0/24") == nil {
		t.Fatalf("rollback left %d policies", len(pols))
	}
	// Deleting an SA we never installed leaves the foreign policy (its
	// template does not carry our reqid).
	if err := b.DelChildSA(sa); err != nil {
		t.Fatal(err)
	}
	if _, pols = countXfrm(t, h); len(pols) != 1 {
		t.Fatalf("DelChildSA removed a foreign policy")
	}
}

// TestXfrmAcquireEvent sends a packet (over a veth pair in the test
// namespace) that matches an outbound policy
// with no SA; the kernel's ACQUIRE must come out of Events decoded.
func TestXfrmAcquireEvent(t *testing.T) {
	ns := testNetns(t)
	b, h := newTestXfrm(t, ns)
	// Loopback never consults XFRM (disable_xfrm), so use a veth pair
	// kept inside the namespace.
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "ikg0"}, PeerName: "ikg1"}
	if err := h.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ikg0", "ikg1"} {
		l, err := h.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
		if name == "ikg0" {
			addr, _ := netlink.ParseAddr("10.1.0.1/8")
			if err := h.AddrAdd(l, addr); err != nil {
				t.Fatal(err)
			}
		}
	}
	sa := testChildSA(0x1111, 0x2222)
	if err := b.addPolicies(sa); err != nil {
		t.Fatal(err)
	}

	send := func() error {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		orig, err := netns.Get()
		if err != nil {
			return err
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			return err
		}
		defer netns.Set(orig)
		c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP("10.1.0.1"), Port: 40000}, &net.UDPAddr{IP: net.ParseIP("10.2.0.9"), Port: 53})
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("x")) // may fail: there is no SA yet
		t.Logf("write: %v", err)
		return nil
	}
	if err := send(); err != nil {
		t.Fatal(err)
	}
	select {
	case ev, ok := <-b.Events():
		if !ok {
			t.Fatal("Events closed")
		}
		t.Logf("acquire: %+v", ev)
		if ev.Kind != EventAcquire || ev.ReqID != 7 || ev.Src != addrL || ev.Dst != addrR ||
			ev.LocalTS.String() != "10.1.0.1/32" || ev.RemoteTS.String() != "10.2.0.9/32" ||
			ev.Proto != unix.IPPROTO_UDP || ev.LocalPort != 40000 || ev.RemotePort != 53 {
			t.Fatalf("unexpected event %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no ACQUIRE event within 5s")
	}
}

// inNetns runs f on a thread inside ns.
func inNetns(t testing.TB, ns netns.NsHandle, f func() error) { netnstest.Run(t, ns, f) }

// TestXfrmExpireEvent lets a larval SA from ALLOCSPI time out (after
// net.core.xfrm_acq_expires, set to 1s in the test namespace): the kernel
// reports a hard EXPIRE, which must come out of Events decoded and drop the
// SPI from the backend's reservations.
func TestXfrmExpireEvent(t *testing.T) {
	ns := testNetns(t)
	inNetns(t, ns, func() error {
		return os.WriteFile("/proc/sys/net/core/xfrm_acq_expires", []byte("1"), 0)
	})
	b, _ := newTestXfrm(t, ns)
	spi, err := b.AllocSPI(addrL, addrR)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-b.Events():
		t.Logf("expire: %+v", ev)
		if ev.Kind != EventHardExpire || ev.SPI != spi || ev.Src != addrR || ev.Dst != addrL || ev.Proto != unix.IPPROTO_ESP {
			t.Fatalf("unexpected event %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no EXPIRE event within 10s")
	}
	b.mu.Lock()
	n := len(b.allocated)
	b.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d SPI reservations left after the larval SA expired", n)
	}
}
