//go:build linux

package gateway

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// TestXfrmSocketBypass: an IPsec policy that covers the peer's address
// (a host-to-host tunnel, or a road warrior's 0.0.0.0/0) captures plain
// UDP to the peer, which cannot leave without an SA; our IKE sockets carry
// a per-socket bypass policy, so IKE still goes out.
func TestXfrmSocketBypass(t *testing.T) {
	ns, peerNS := newTestNetns(t), newTestNetns(t)
	h, hp := nsHandle(t, ns), nsHandle(t, peerNS)
	// (Not over lo: the kernel sets disable_xfrm on loopback.)
	err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "v0"}, PeerName: "v1"})
	var v1 netlink.Link
	if err == nil {
		v1, err = h.LinkByName("v1")
	}
	if err == nil {
		err = h.LinkSetNsFd(v1, int(peerNS))
	}
	for _, x := range []struct {
		h    *netlink.Handle
		name string
		addr string
	}{{h, "v0", "10.77.0.1/24"}, {hp, "v1", "10.77.0.2/24"}} {
		var l netlink.Link
		if err == nil {
			l, err = x.h.LinkByName(x.name)
		}
		if err == nil {
			addr, _ := netlink.ParseAddr(x.addr)
			err = x.h.AddrAdd(l, addr)
		}
		if err == nil {
			err = x.h.LinkSetUp(l)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	me, peer := netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("10.77.0.2")
	_, any, _ := net.ParseCIDR("0.0.0.0/0")
	// Everything to the peer must go through an ESP tunnel that has no SA.
	pol := &netlink.XfrmPolicy{Dst: &net.IPNet{IP: peer.AsSlice(), Mask: net.CIDRMask(32, 32)}, Src: any,
		Dir: netlink.XFRM_DIR_OUT, Tmpls: []netlink.XfrmPolicyTmpl{{Src: me.AsSlice(), Dst: peer.AsSlice(),
			Proto: netlink.XFRM_PROTO_ESP, Mode: netlink.XFRM_MODE_TUNNEL}}}
	if err := h.XfrmPolicyAdd(pol); err != nil {
		t.Fatal(err)
	}
	var recv, plain, ike *net.UDPConn
	inNS(t, peerNS, func() error {
		var err error
		recv, err = net.ListenUDP("udp4", &net.UDPAddr{IP: peer.AsSlice(), Port: 500})
		return err
	})
	inNS(t, ns, func() error {
		var err error
		if plain, err = net.ListenUDP("udp4", &net.UDPAddr{IP: me.AsSlice(), Port: 40000}); err != nil {
			return err
		}
		if ike, err = net.ListenUDP("udp4", &net.UDPAddr{IP: me.AsSlice(), Port: 500}); err != nil {
			return err
		}
		return xfrmSocket(ike, false, false)
	})
	t.Cleanup(func() { recv.Close(); plain.Close(); ike.Close() })
	got := func(from *net.UDPConn) bool {
		t.Helper()
		from.WriteToUDPAddrPort([]byte("probe"), netip.AddrPortFrom(peer, 500)) // an error is a non-delivery too
		buf := make([]byte, 64)
		recv.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, src, err := recv.ReadFromUDPAddrPort(buf)
		return err == nil && src.Port() == uint16(from.LocalAddr().(*net.UDPAddr).Port)
	}
	if got(plain) {
		t.Fatal("control: a socket without the bypass reached the peer past a policy with no SA; the test proves nothing")
	}
	if !got(ike) {
		t.Fatal("the IKE socket's datagram was caught by the IPsec policy covering the peer: no bypass")
	}
}
