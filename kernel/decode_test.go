package kernel

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
)

// The builders below write struct fields at offsets read off linux/xfrm.h
// (64-bit layout), independently of the decoder's constants:
//
//	struct xfrm_user_acquire {        // 280 bytes
//	    struct xfrm_id id;            //   0: daddr[16], spi (be32) @16, proto @20, pad
//	    xfrm_address_t saddr;         //  24
//	    struct xfrm_selector sel;     //  40: daddr@0 saddr@16 dport@32 dport_mask@34
//	                                  //      sport@36 sport_mask@38 family@40
//	                                  //      prefixlen_d@42 prefixlen_s@43 proto@44
//	                                  //      ifindex@48 user@52 (56 bytes)
//	    struct xfrm_userpolicy_info policy; // 96: sel(56) lft(64) curlft(32)
//	                                  //      priority@152 index@156 dir@160 ... (168 bytes)
//	    __u32 aalgos, ealgos, calgos; // 264, 268, 272
//	    __u32 seq;                    // 276
//	};
//	struct xfrm_user_tmpl {           // 64 bytes
//	    struct xfrm_id id;            //   0
//	    __u16 family;                 //  24
//	    xfrm_address_t saddr;         //  28
//	    __u32 reqid;                  //  44
//	    __u8 mode, share, optional;   //  48, 49, 50
//	    __u32 aalgos, ealgos, calgos; //  52, 56, 60
//	};

var ne = binary.NativeEndian

func putAddr(b []byte, a netip.Addr) {
	s := a.AsSlice()
	copy(b, s)
}

type acqSpec struct {
	selFamily            uint16
	dst, src             netip.Addr // tunnel endpoints (id.daddr, saddr)
	selSrc, selDst       netip.Prefix
	sport, dport         uint16
	proto                uint8
	policyIndex, seq     uint32
	withTmpl             bool
	tmplFamily           uint16
	reqid                uint32
	unpaddedTrailingAttr bool
	extraAttrBeforeTmpl  bool
	nestedFlagOnTmplAttr bool
}

func buildAcquire(s acqSpec) []byte {
	b := make([]byte, 280)
	putAddr(b[0:], s.dst)
	putAddr(b[24:], s.src)
	sel := b[40:96]
	putAddr(sel[0:], s.selDst.Addr())
	putAddr(sel[16:], s.selSrc.Addr())
	binary.BigEndian.PutUint16(sel[32:], s.dport)
	binary.BigEndian.PutUint16(sel[36:], s.sport)
	ne.PutUint16(sel[40:], s.selFamily)
	sel[42] = uint8(s.selDst.Bits())
	sel[43] = uint8(s.selSrc.Bits())
	sel[44] = s.proto
	// policy: copy of the selector, index, dir out (1)
	copy(b[96:152], sel)
	ne.PutUint32(b[96+156:], s.policyIndex)
	b[96+160] = 1
	ne.PutUint32(b[264:], 0xffffffff)
	ne.PutUint32(b[268:], 0xffffffff)
	ne.PutUint32(b[272:], 0xffffffff)
	ne.PutUint32(b[276:], s.seq)

	attr := func(typ uint16, data []byte) {
		h := make([]byte, 4)
		ne.PutUint16(h[0:], uint16(4+len(data)))
		ne.PutUint16(h[2:], typ)
		b = append(b, h...)
		b = append(b, data...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	if s.extraAttrBeforeTmpl {
		attr(16, []byte{1, 2, 3}) // XFRMA_POLICY_TYPE-ish, padded
	}
	if s.withTmpl {
		t := make([]byte, 64)
		putAddr(t[0:], s.dst)
		t[20] = 50 // ESP
		ne.PutUint16(t[24:], s.tmplFamily)
		putAddr(t[28:], s.src)
		ne.PutUint32(t[44:], s.reqid)
		t[48] = 1 // tunnel
		typ := uint16(5)
		if s.nestedFlagOnTmplAttr {
			typ |= 0x8000
		}
		attr(typ, t)
	}
	if s.unpaddedTrailingAttr {
		h := make([]byte, 4)
		ne.PutUint16(h[0:], 6)
		ne.PutUint16(h[2:], 21)
		b = append(b, h...)
		b = append(b, 0xaa, 0xbb) // 6 bytes, no padding at the very end
	}
	return b
}

func v4Acquire() acqSpec {
	return acqSpec{
		selFamily: 2,
		dst:       netip.MustParseAddr("10.200.0.2"), src: netip.MustParseAddr("10.200.0.1"),
		selSrc: netip.MustParsePrefix("10.1.0.5/32"), selDst: netip.MustParsePrefix("10.2.0.9/32"),
		sport: 40000, dport: 53, proto: 17,
		policyIndex: 0x1a9, seq: 77,
		withTmpl: true, tmplFamily: 2, reqid: 42,
	}
}

func TestDecodeAcquireV4(t *testing.T) {
	s := v4Acquire()
	s.extraAttrBeforeTmpl = true
	s.unpaddedTrailingAttr = true
	ev, err := decodeAcquire(buildAcquire(s))
	if err != nil {
		t.Fatal(err)
	}
	want := Event{
		Kind: EventAcquire, Proto: 17, ReqID: 42,
		Src: s.src, Dst: s.dst,
		LocalTS: s.selSrc, RemoteTS: s.selDst,
		LocalPort: 40000, RemotePort: 53,
		PolicyIndex: 0x1a9, Seq: 77,
	}
	if ev != want {
		t.Fatalf("got  %+v\nwant %+v", ev, want)
	}
}

func TestDecodeAcquireV6InV4Tunnel(t *testing.T) {
	s := v4Acquire()
	s.selFamily = 10
	s.selSrc = netip.MustParsePrefix("2001:db8:1::/48")
	s.selDst = netip.MustParsePrefix("2001:db8:2::7/128")
	s.nestedFlagOnTmplAttr = true
	ev, err := decodeAcquire(buildAcquire(s))
	if err != nil {
		t.Fatal(err)
	}
	if ev.LocalTS != s.selSrc || ev.RemoteTS != s.selDst || ev.Src != s.src || ev.Dst != s.dst || ev.ReqID != 42 {
		t.Fatalf("got %+v", ev)
	}
}

func TestDecodeAcquireNoTmpl(t *testing.T) {
	s := v4Acquire()
	s.withTmpl = false
	ev, err := decodeAcquire(buildAcquire(s))
	if err != nil {
		t.Fatal(err)
	}
	if ev.ReqID != 0 || ev.Src != s.src || ev.Dst != s.dst {
		t.Fatalf("got %+v", ev)
	}
}

func TestDecodeAcquireMasksSelector(t *testing.T) {
	s := v4Acquire()
	s.selSrc = netip.PrefixFrom(netip.MustParseAddr("10.1.0.5"), 24) // host bits set
	ev, err := decodeAcquire(buildAcquire(s))
	if err != nil {
		t.Fatal(err)
	}
	if ev.LocalTS.String() != "10.1.0.0/24" {
		t.Fatalf("LocalTS = %v", ev.LocalTS)
	}
}

func TestDecodeAcquireRejects(t *testing.T) {
	good := buildAcquire(v4Acquire())

	// Every truncation either fails cleanly or, at the struct boundary
	// (no attributes left), succeeds.
	for n := range len(good) {
		_, err := decodeAcquire(good[:n])
		if n == 280 {
			if err != nil {
				t.Errorf("prefix %d (bare struct): %v", n, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("prefix %d of %d accepted", n, len(good))
		}
		if n < 280 && !errors.Is(err, errShort) {
			t.Errorf("prefix %d: want errShort, got %v", n, err)
		}
	}

	bad := func(name string, mod func([]byte) []byte) {
		b := mod(append([]byte(nil), good...))
		if _, err := decodeAcquire(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	bad("selector family 7", func(b []byte) []byte { ne.PutUint16(b[40+40:], 7); return b })
	bad("prefixlen 33", func(b []byte) []byte { b[40+42] = 33; return b })
	bad("tmpl family 0", func(b []byte) []byte { ne.PutUint16(b[284+24:], 0); return b })
	bad("attr len 2", func(b []byte) []byte { ne.PutUint16(b[280:], 2); return b })
	bad("attr len too big", func(b []byte) []byte { ne.PutUint16(b[280:], 0xffff); return b })
	bad("tmpl 63 bytes", func(b []byte) []byte { ne.PutUint16(b[280:], 4+63); return b[:280+4+63] })
	bad("trailing 3 bytes", func(b []byte) []byte { return append(b, 1, 2, 3) })
}

// buildExpire lays out struct xfrm_user_expire: xfrm_usersa_info (224
// bytes: sel@0, id@56 (daddr, spi@72, proto@76), saddr@80, lft@96,
// curlft@160, stats@192, seq@204, reqid@208, family@212, mode@214, ...)
// then hard@224, padded to 232.
func buildExpire(family uint16, src, dst netip.Addr, spi, reqid uint32, hard bool) []byte {
	b := make([]byte, 232)
	putAddr(b[56:], dst)
	binary.BigEndian.PutUint32(b[72:], spi)
	b[76] = 50
	putAddr(b[80:], src)
	ne.PutUint32(b[208:], reqid)
	ne.PutUint16(b[212:], family)
	b[214] = 1
	if hard {
		b[224] = 1
	}
	return b
}

func TestDecodeExpire(t *testing.T) {
	src, dst := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	for _, hard := range []bool{false, true} {
		b := buildExpire(10, src, dst, 0xc1a2b3c4, 9, hard)
		ev, ok, err := decodeEvent(0x18, b)
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		kind := EventSoftExpire
		if hard {
			kind = EventHardExpire
		}
		want := Event{Kind: kind, SPI: 0xc1a2b3c4, Proto: 50, ReqID: 9, Src: src, Dst: dst}
		if ev != want {
			t.Fatalf("got %+v want %+v", ev, want)
		}
	}
	good := buildExpire(2, addrL, addrR, 1, 1, true)
	for n := range 225 {
		if _, err := decodeExpire(good[:n]); err == nil {
			t.Fatalf("prefix %d accepted", n)
		}
	}
	if _, err := decodeExpire(good[:225]); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := decodeEvent(0x10, good); ok {
		t.Fatal("NEWSA decoded as an event")
	}
}

func FuzzDecodeAcquire(f *testing.F) {
	f.Add(buildAcquire(v4Acquire()))
	s := v4Acquire()
	s.selFamily = 10
	s.selSrc = netip.MustParsePrefix("2001:db8:1::/48")
	s.selDst = netip.MustParsePrefix("2001:db8:2::/48")
	s.unpaddedTrailingAttr = true
	f.Add(buildAcquire(s))
	s.withTmpl = false
	f.Add(buildAcquire(s))
	f.Add(make([]byte, 280))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := decodeAcquire(b)
		if err != nil {
			if ev != (Event{}) {
				t.Fatalf("error %v with non-zero event %+v", err, ev)
			}
			return
		}
		if ev.Kind != EventAcquire || !ev.Src.IsValid() || !ev.Dst.IsValid() || !ev.LocalTS.IsValid() || !ev.RemoteTS.IsValid() {
			t.Fatalf("incomplete event %+v", ev)
		}
		if ev.LocalTS != ev.LocalTS.Masked() || ev.RemoteTS != ev.RemoteTS.Masked() {
			t.Fatalf("unmasked selector %+v", ev)
		}
	})
}

func FuzzDecodeExpire(f *testing.F) {
	f.Add(buildExpire(2, addrL, addrR, 0x1234, 5, true))
	f.Add(buildExpire(10, netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"), 0x1234, 5, false))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := decodeExpire(b)
		if err == nil && (!ev.Src.IsValid() || !ev.Dst.IsValid()) {
			t.Fatalf("incomplete event %+v", ev)
		}
	})
}
