package kernel

import (
	"net/netip"
	"testing"
)

// FuzzIPAddrs feeds inner packets, as the userspace dataplane reads them
// from the TUN device (outbound) or decrypts them from ESP (inbound), to
// ipAddrs, which picks their addresses for the SA lookup and the traffic
// selector check. It must not panic, and it must accept exactly the
// packets long enough for their version's header, returning the
// addresses at their fixed offsets (IPv4: 12 and 16, IPv6: 8 and 24) of
// the version's family, which containsAny then checks without panicking.
//
// Run it longer with
//
//	go test -run=NONE -fuzz='^FuzzIPAddrs$' -fuzztime=5m ./kernel/
func FuzzIPAddrs(f *testing.F) {
	f.Add(ipv4("10.1.0.1", "10.2.0.5", []byte("hello")))
	f.Add(ipv4("10.1.0.1", "10.2.0.5", nil)[:20])
	f.Add(ipv4("10.1.0.1", "10.2.0.5", nil)[:19])
	v6 := make([]byte, 48)
	v6[0] = 0x60
	copy(v6[8:], netip.MustParseAddr("2001:db8::1").AsSlice())
	copy(v6[24:], netip.MustParseAddr("2001:db8:1::2").AsSlice())
	f.Add(v6)
	f.Add(v6[:40])
	f.Add(v6[:39])
	f.Add([]byte{0x60, 1, 2})
	f.Add([]byte{0x45})
	f.Add([]byte{})
	f.Add([]byte{0x00, 0, 0, 0})
	ts := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("0.0.0.0/0")}
	f.Fuzz(func(t *testing.T, p []byte) {
		src, dst, ok := ipAddrs(p)
		want := len(p) > 0 && ((p[0]>>4 == 4 && len(p) >= 20) || (p[0]>>4 == 6 && len(p) >= 40))
		if ok != want {
			t.Fatalf("ipAddrs(%x): ok=%v, want %v", p, ok, want)
		}
		if !ok {
			if src.IsValid() || dst.IsValid() {
				t.Fatalf("ipAddrs(%x) refused but returned %v %v", p, src, dst)
			}
			return
		}
		var ws, wd netip.Addr
		if p[0]>>4 == 4 {
			ws, wd = netip.AddrFrom4([4]byte(p[12:16])), netip.AddrFrom4([4]byte(p[16:20]))
		} else {
			ws, wd = netip.AddrFrom16([16]byte(p[8:24])), netip.AddrFrom16([16]byte(p[24:40]))
		}
		if src != ws || dst != wd {
			t.Fatalf("ipAddrs(%x) = %v %v, want %v %v", p, src, dst, ws, wd)
		}
		_ = containsAny(ts, src)
		_ = containsAny(ts[:1], dst)
		_ = containsAny(nil, dst)
	})
}
