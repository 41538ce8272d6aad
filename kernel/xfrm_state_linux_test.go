//go:build linux

package kernel

import (
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"ikegate/oakley"
)

// TestXfrmStateShape checks what AddChildSA asks the kernel for, without a
// kernel: direction, reqid, mode, ESP-in-UDP ports and lifetimes.
func TestXfrmStateShape(t *testing.T) {
	sa := testChildSA(0xc1c2c3c4, 0xd1d2d3d4)
	sa.Lifetime = time.Hour
	sa.EncapLocalPort, sa.EncapRemotePort = 4500, 14500
	algs, err := mapAlgorithms(sa.Encr, sa.Integ)
	if err != nil {
		t.Fatal(err)
	}
	in, out := xfrmState(sa, true, algs), xfrmState(sa, false, algs)
	if in.Pcpunum != nil || out.Pcpunum != nil {
		t.Fatal("Pcpunum set: fmt on the state would not panic, but the kernel would get a per-CPU SA")
	}
	for _, c := range []struct {
		name       string
		st         *netlink.XfrmState
		spi        uint32
		src, dst   string
		sport, dpt int
		replay     int
	}{
		{"inbound", in, 0xc1c2c3c4, "10.200.0.2", "10.200.0.1", 14500, 4500, replayWindowIn},
		{"outbound", out, 0xd1d2d3d4, "10.200.0.1", "10.200.0.2", 4500, 14500, 0},
	} {
		st := c.st
		if uint32(st.Spi) != c.spi || st.Src.String() != c.src || st.Dst.String() != c.dst {
			t.Errorf("%s: spi %#x %v->%v", c.name, uint32(st.Spi), st.Src, st.Dst)
		}
		if st.Proto != netlink.XFRM_PROTO_ESP || st.Mode != netlink.XFRM_MODE_TUNNEL || st.Reqid != 7 || st.ReplayWindow != c.replay {
			t.Errorf("%s: proto %v mode %v reqid %d replay %d", c.name, st.Proto, st.Mode, st.Reqid, st.ReplayWindow)
		}
		if st.Encap == nil || st.Encap.Type != netlink.XFRM_ENCAP_ESPINUDP || st.Encap.SrcPort != c.sport || st.Encap.DstPort != c.dpt {
			t.Errorf("%s: encap %+v, want ESPINUDP %d->%d", c.name, st.Encap, c.sport, c.dpt)
		}
		if st.Limits.TimeHard != 3600 || st.Limits.TimeSoft != 3240 {
			t.Errorf("%s: lifetimes soft %d hard %d, want 3240 3600", c.name, st.Limits.TimeSoft, st.Limits.TimeHard)
		}
		if st.Aead == nil || st.Aead.Name != kernelAEADName || st.Aead.ICVLen != 128 || st.Crypt != nil || st.Auth != nil {
			t.Errorf("%s: algorithms aead %v crypt %v auth %v", c.name, st.Aead, st.Crypt, st.Auth)
		}
	}

	// No NAT: plain ESP; no lifetime: none in the kernel either.
	sa.EncapLocalPort, sa.EncapRemotePort, sa.Lifetime = 0, 0, 0
	sa.Tunnel = false
	sa.Encr = oakley.Transform{Type: oakley.TransformENCR, ID: oakley.EncrAESCBC, KeyLen: 256}
	sa.Integ = oakley.Transform{Type: oakley.TransformINTEG, ID: oakley.IntegHMACSHA2_256}
	if algs, err = mapAlgorithms(sa.Encr, sa.Integ); err != nil {
		t.Fatal(err)
	}
	st := xfrmState(sa, false, algs)
	if st.Encap != nil || st.Mode != netlink.XFRM_MODE_TRANSPORT || st.Limits.TimeHard != 0 || st.Limits.TimeSoft != 0 {
		t.Errorf("plain transport SA: encap %+v mode %v limits %+v", st.Encap, st.Mode, st.Limits)
	}
	if st.Crypt == nil || st.Crypt.Name != "cbc(aes)" || st.Auth == nil || st.Auth.Name != "hmac(sha256)" || st.Auth.TruncateLen != 128 {
		t.Errorf("CBC/SHA256: crypt %v auth %v", st.Crypt, st.Auth)
	}
	// A one-second lifetime still gets a soft expire.
	sa.Lifetime = time.Second
	if st := xfrmState(sa, true, algs); st.Limits.TimeSoft != 1 || st.Limits.TimeHard != 1 {
		t.Errorf("1s lifetime: soft %d hard %d", st.Limits.TimeSoft, st.Limits.TimeHard)
	}
}
