//go:build linux

package kernel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"ikegate/oakley"
)

// IPv6 in the xfrm backend, in a fresh network namespace each: policies
// of IPv6 selectors, IPv6 templates (outer addresses), both and
// neither, installed and removed; larval SAs (ALLOCSPI) to an IPv6
// address; an IPv6 CHILD SA rolled back on a kernel without ESP; an
// ACQUIRE for an IPv6 packet decoded. These hosts' kernels have XFRM but
// no ESP, so SAs themselves cannot be installed.

var (
	addrL6 = netip.MustParseAddr("fd00:200::2")
	addrR6 = netip.MustParseAddr("fd00:200::1")
)

func prefixes(ss ...string) []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range ss {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}

// TestXfrmPoliciesIPv6 installs and removes the policies of CHILD SAs
// with IPv6 in them: per local x remote selector pair of one family an
// out, an in and (tunnel mode) a fwd policy, whose template carries the
// outer addresses, IPv6 or IPv4 whatever the selectors' family (tunnel
// mode carries either inside either); all gone after delPolicies, and
// after Close.
func TestXfrmPoliciesIPv6(t *testing.T) {
	type pol struct {
		dir      netlink.Dir
		src, dst string
	}
	for _, tc := range []struct {
		name          string
		local, remote netip.Addr
		tunnel        bool
		lts, rts      []netip.Prefix
		want          []pol
	}{
		{
			name: "ipv6 outer, ipv6 selectors", local: addrL6, remote: addrR6, tunnel: true,
			lts: prefixes("fd00:202::/64"), rts: prefixes("fd00:201::/64"),
			want: []pol{
				{netlink.XFRM_DIR_OUT, "fd00:202::/64", "fd00:201::/64"},
				{netlink.XFRM_DIR_IN, "fd00:201::/64", "fd00:202::/64"},
				{netlink.XFRM_DIR_FWD, "fd00:201::/64", "fd00:202::/64"},
			},
		},
		{
			name: "ipv6 outer, dual-stack selectors", local: addrL6, remote: addrR6, tunnel: true,
			lts: prefixes("10.202.0.0/24", "fd00:202::/64"), rts: prefixes("10.201.0.0/24", "fd00:201::/64"),
			want: []pol{
				{netlink.XFRM_DIR_OUT, "10.202.0.0/24", "10.201.0.0/24"},
				{netlink.XFRM_DIR_IN, "10.201.0.0/24", "10.202.0.0/24"},
				{netlink.XFRM_DIR_FWD, "10.201.0.0/24", "10.202.0.0/24"},
				{netlink.XFRM_DIR_OUT, "fd00:202::/64", "fd00:201::/64"},
				{netlink.XFRM_DIR_IN, "fd00:201::/64", "fd00:202::/64"},
				{netlink.XFRM_DIR_FWD, "fd00:201::/64", "fd00:202::/64"},
			},
		},
		{
			name: "ipv4 outer, ipv6 selectors", local: addrL, remote: addrR, tunnel: true,
			lts: prefixes("fd00:202::/64", "fd00:203::/64"), rts: prefixes("::/0"),
			want: []pol{
				{netlink.XFRM_DIR_OUT, "fd00:202::/64", "::/0"},
				{netlink.XFRM_DIR_IN, "::/0", "fd00:202::/64"},
				{netlink.XFRM_DIR_FWD, "::/0", "fd00:202::/64"},
				{netlink.XFRM_DIR_OUT, "fd00:203::/64", "::/0"},
				{netlink.XFRM_DIR_IN, "::/0", "fd00:203::/64"},
				{netlink.XFRM_DIR_FWD, "::/0", "fd00:203::/64"},
			},
		},
		{
			name: "ipv6 transport, host to host", local: addrL6, remote: addrR6, tunnel: false,
			want: []pol{
				{netlink.XFRM_DIR_OUT, "fd00:200::2/128", "fd00:200::1/128"},
				{netlink.XFRM_DIR_IN, "fd00:200::1/128", "fd00:200::2/128"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := testNetns(t)
			b, _ := newTestXfrm(t, ns)
			sa := testChildSA(0xc1a2b3c4, 0xd1d2d3d4)
			sa.Local, sa.Remote, sa.Tunnel, sa.LocalTS, sa.RemoteTS = tc.local, tc.remote, tc.tunnel, tc.lts, tc.rts
			mode := netlink.XFRM_MODE_TUNNEL
			if !tc.tunnel {
				mode = netlink.XFRM_MODE_TRANSPORT
			}
			if err := b.addPolicies(sa); err != nil {
				t.Fatal(err)
			}
			pols := dumpPolicies(t, ns)
			if len(pols) != len(tc.want) {
				t.Errorf("%d policies, want %d: %s", len(pols), len(tc.want), describeDumped(pols))
			}
			for _, w := range tc.want {
				var p *dumpedPolicy
				for i := range pols {
					if pols[i].dir == w.dir && pols[i].src.String() == w.src && pols[i].dst.String() == w.dst {
						p = &pols[i]
					}
				}
				if p == nil {
					t.Errorf("no %s policy %s -> %s; have %s", dirWord(w.dir), w.src, w.dst, describeDumped(pols))
					continue
				}
				// Inbound and forwarded traffic comes from the peer.
				tsrc, tdst := tc.local, tc.remote
				if w.dir != netlink.XFRM_DIR_OUT {
					tsrc, tdst = tc.remote, tc.local
				}
				if p.tmplCount != 1 || p.reqid != 7 || p.mode != uint8(mode) || p.proto != unix.IPPROTO_ESP || p.tsrc != tsrc || p.tdst != tdst {
					t.Errorf("%s, want one ESP template, mode %d, reqid 7, %v -> %v", p, mode, tsrc, tdst)
				}
				if p.selFamily != familyOf(p.src.Addr()) || p.tmplFamily != familyOf(tsrc) {
					t.Errorf("%s: selector family %d, template family %d; want %d and %d",
						p, p.selFamily, p.tmplFamily, familyOf(p.src.Addr()), familyOf(tsrc))
				}
			}
			if err := b.delPolicies(sa); err != nil {
				t.Fatal(err)
			}
			if pols = dumpPolicies(t, ns); len(pols) != 0 {
				t.Fatalf("%d policies left after delPolicies: %s", len(pols), describeDumped(pols))
			}
			if err := b.addPolicies(sa); err != nil {
				t.Fatal(err)
			}
			if n := len(dumpPolicies(t, ns)); n != len(tc.want) {
				t.Fatalf("%d policies after adding them again, want %d", n, len(tc.want))
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			if pols = dumpPolicies(t, ns); len(pols) != 0 {
				t.Fatalf("Close left %d policies: %s", len(pols), describeDumped(pols))
			}
		})
	}
}

// TestXfrmPoliciesIPv6NoPair: selectors of different families only
// (local IPv6, remote IPv4) pair with nothing: an error, nothing
// installed.
func TestXfrmPoliciesIPv6NoPair(t *testing.T) {
	ns := testNetns(t)
	b, _ := newTestXfrm(t, ns)
	sa := testChildSA(0x1111, 0x2222)
	sa.Local, sa.Remote = addrL6, addrR6
	sa.LocalTS, sa.RemoteTS = prefixes("fd00:202::/64"), prefixes("10.201.0.0/24")
	err := b.addPolicies(sa)
	if err == nil || !strings.Contains(err.Error(), "no local/remote traffic selector pair of one address family") {
		t.Fatalf("addPolicies: %v, want the no-pair error", err)
	}
	if pols := dumpPolicies(t, ns); len(pols) != 0 {
		t.Fatalf("%d policies installed: %s", len(pols), describeDumped(pols))
	}
}

// TestXfrmAllocSPIIPv6: larval SAs to an IPv6 address, removed by Close;
// a mixed-family pair is refused.
func TestXfrmAllocSPIIPv6(t *testing.T) {
	ns := testNetns(t)
	b, h := newTestXfrm(t, ns)
	spi, err := b.AllocSPI(addrL6, addrR6)
	if err != nil {
		t.Fatal(err)
	}
	states, _ := countXfrm(t, h)
	if len(states) != 1 || uint32(states[0].Spi) != spi || !states[0].Dst.Equal(ipOf(addrL6)) || !states[0].Src.Equal(ipOf(addrR6)) {
		t.Fatalf("states after AllocSPI(%v, %v) = %#x: %s", addrL6, addrR6, spi, describeStates(states))
	}
	if _, err := b.AllocSPI(addrL6, addrR); err == nil {
		t.Fatal("AllocSPI with an IPv6 and an IPv4 address succeeded")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if states, _ := countXfrm(t, h); len(states) != 0 {
		t.Fatalf("Close left %d states: %s", len(states), describeStates(states))
	}
}

// TestXfrmAddChildSAIPv6: an IPv6 CHILD SA (IPv6 outer addresses,
// dual-stack selectors, ESP in UDP) on this kernel without ESP fails on
// its first state, naming the IPv6 addresses, and leaves nothing behind;
// on a kernel with ESP it is installed (2 states, 6 policies) and removed.
func TestXfrmAddChildSAIPv6(t *testing.T) {
	ns := testNetns(t)
	b, h := newTestXfrm(t, ns)
	spiIn, err := b.AllocSPI(addrL6, addrR6)
	if err != nil {
		t.Fatal(err)
	}
	sa := testChildSA(spiIn, 0xd1d2d3d4)
	sa.Local, sa.Remote = addrL6, addrR6
	sa.LocalTS, sa.RemoteTS = prefixes("10.202.0.0/24", "fd00:202::/64"), prefixes("10.201.0.0/24", "fd00:201::/64")
	sa.Lifetime = time.Hour
	sa.Encr = oakley.Transform{Type: oakley.TransformENCR, ID: oakley.EncrAESCBC, KeyLen: 256}
	sa.Integ = oakley.Transform{Type: oakley.TransformINTEG, ID: oakley.IntegHMACSHA2_256}
	sa.EncKeyIn, sa.EncKeyOut = make([]byte, 32), make([]byte, 32)
	sa.IntegKeyIn, sa.IntegKeyOut = make([]byte, 32), make([]byte, 32)
	sa.EncapLocalPort, sa.EncapRemotePort = 4500, 4500
	if err := b.AddChildSA(sa); err == nil {
		t.Log("this kernel has ESP: AddChildSA succeeded, checking install and removal instead")
		states, _ := countXfrm(t, h)
		if pols := dumpPolicies(t, ns); len(states) != 2 || len(pols) != 2*3 {
			t.Fatalf("%d states, %d policies after AddChildSA, want 2 and 6", len(states), len(pols))
		}
		if err := b.DelChildSA(sa); err != nil {
			t.Fatal(err)
		}
	} else {
		t.Logf("AddChildSA: %v", err)
		want := fmt.Sprintf("kernel: add inbound ESP state spi %#08x fd00:200::1->fd00:200::2: protocol not supported (kernel has no ESP support?)", spiIn)
		if !errors.Is(err, unix.EPROTONOSUPPORT) || err.Error() != want {
			t.Fatalf("AddChildSA error\n got %q\nwant %q", err, want)
		}
	}
	states, _ := countXfrm(t, h)
	if pols := dumpPolicies(t, ns); len(states) != 0 || len(pols) != 0 {
		t.Fatalf("left behind %d states (%s) and %d policies (%s)", len(states), describeStates(states), len(pols), describeDumped(pols))
	}
}

// TestXfrmAcquireEventIPv6 sends an IPv6 datagram that matches an IPv6
// outbound policy with no SA (over a veth pair in the test namespace):
// the kernel's ACQUIRE comes out of Events with the IPv6 outer addresses
// of the template and the packet's IPv6 addresses and ports.
func TestXfrmAcquireEventIPv6(t *testing.T) {
	ns := testNetns(t)
	inNetns(t, ns, func() error {
		return os.WriteFile("/proc/sys/net/ipv6/conf/default/disable_ipv6", []byte("0"), 0)
	})
	b, h := newTestXfrm(t, ns)
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
			addr, _ := netlink.ParseAddr("fd00:1::1/16")
			addr.Flags = unix.IFA_F_NODAD // usable at once
			if err := h.AddrAdd(l, addr); err != nil {
				t.Fatal(err)
			}
		}
	}
	sa := testChildSA(0x1111, 0x2222)
	sa.Local, sa.Remote = addrL6, addrR6
	sa.LocalTS, sa.RemoteTS = prefixes("fd00:1::/64"), prefixes("fd00:2::/64")
	if err := b.addPolicies(sa); err != nil {
		t.Fatal(err)
	}
	inNetns(t, ns, func() error {
		c, err := net.DialUDP("udp6", &net.UDPAddr{IP: net.ParseIP("fd00:1::1"), Port: 40000}, &net.UDPAddr{IP: net.ParseIP("fd00:2::9"), Port: 53})
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("x")) // may fail: there is no SA yet
		t.Logf("write: %v", err)
		return nil
	})
	select {
	case ev, ok := <-b.Events():
		if !ok {
			t.Fatal("Events closed")
		}
		t.Logf("acquire: %+v", ev)
		if ev.Kind != EventAcquire || ev.ReqID != 7 || ev.Src != addrL6 || ev.Dst != addrR6 ||
			ev.LocalTS.String() != "fd00:1::1/128" || ev.RemoteTS.String() != "fd00:2::9/128" ||
			ev.Proto != unix.IPPROTO_UDP || ev.LocalPort != 40000 || ev.RemotePort != 53 {
			t.Fatalf("unexpected event %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no ACQUIRE event within 5s")
	}
}

// dumpedPolicy is one kernel policy as dumpPolicies decodes it.
type dumpedPolicy struct {
	dir         netlink.Dir
	src, dst    netip.Prefix
	tsrc, tdst  netip.Addr // the (first) template's outer addresses
	proto, mode uint8
	reqid       uint32
	tmplCount   int
	selFamily   uint16 // AF_INET or AF_INET6, of the selector
	tmplFamily  uint16 // and of the template's addresses
}

func (p dumpedPolicy) String() string {
	return fmt.Sprintf("[%s %v -> %v tmpl %v->%v proto %d mode %d reqid %d]", dirWord(p.dir), p.src, p.dst, p.tsrc, p.tdst, p.proto, p.mode, p.reqid)
}

// Offsets in struct xfrm_userpolicy_info (after the selector, lifetime
// config and current lifetime) and struct xfrm_user_tmpl.
const (
	offPolicyDir = 160
	offTmplMode  = 48
	offTmplProto = offIDProto
)

// dumpPolicies lists the policies of namespace ns with their selectors
// decoded by their address family. Not netlink.XfrmPolicyList: the
// library turns an xfrm_address_t whose last 12 bytes are zero into an
// IPv4 address whatever the family, so fd00:202::/64 comes back as
// 253.0.2.2 with a 64-bit mask (<nil>) and ::/0 as 0.0.0.0/0.
func dumpPolicies(t *testing.T, ns netns.NsHandle) []dumpedPolicy {
	t.Helper()
	var msgs [][]byte
	inNetns(t, ns, func() error {
		req := nl.NewNetlinkRequest(nl.XFRM_MSG_GETPOLICY, unix.NLM_F_DUMP)
		var err error
		msgs, err = req.Execute(unix.NETLINK_XFRM, nl.XFRM_MSG_NEWPOLICY)
		return err
	})
	var out []dumpedPolicy
	for _, m := range msgs {
		if len(m) < sizeofUserpolicyInfo {
			t.Fatalf("policy dump: message of %d bytes", len(m))
		}
		var p dumpedPolicy
		var err error
		p.selFamily = hostEndian.Uint16(m[offSelFamily:])
		if p.src, err = prefixAt(m, offSelSaddr, p.selFamily, m[offSelPrefixlenS]); err != nil {
			t.Fatal(err)
		}
		if p.dst, err = prefixAt(m, offSelDaddr, p.selFamily, m[offSelPrefixlenD]); err != nil {
			t.Fatal(err)
		}
		p.dir = netlink.Dir(m[offPolicyDir])
		for rest := m[sizeofUserpolicyInfo:]; len(rest) >= nlaHeaderLen; {
			alen := int(hostEndian.Uint16(rest))
			if alen < nlaHeaderLen || alen > len(rest) {
				t.Fatalf("policy dump: attribute length %d with %d bytes left", alen, len(rest))
			}
			if hostEndian.Uint16(rest[2:])&nlaTypeMask == xfrmaTmpl {
				data := rest[nlaHeaderLen:alen]
				p.tmplCount = len(data) / sizeofUserTmpl
				if p.tmplCount > 0 {
					fam := hostEndian.Uint16(data[offTmplFamily:])
					p.tmplFamily = fam
					if p.tdst, err = addrAt(data, 0, fam); err != nil {
						t.Fatal(err)
					}
					if p.tsrc, err = addrAt(data, offTmplSaddr, fam); err != nil {
						t.Fatal(err)
					}
					p.proto, p.mode, p.reqid = data[offTmplProto], data[offTmplMode], hostEndian.Uint32(data[offTmplReqid:])
				}
			}
			rest = rest[min((alen+3)&^3, len(rest)):]
		}
		out = append(out, p)
	}
	return out
}

func describeDumped(ps []dumpedPolicy) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, " ")
}
