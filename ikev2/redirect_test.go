package ikev2

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"ikegate/isakmp"
)

// parseRedirect reads a REDIRECT notification's data: the gateway's
// address (or name) and what follows it (the nonce, in IKE_SA_INIT).
func parseRedirect(b []byte) (addr netip.Addr, fqdn string, nonce []byte, err error) {
	if len(b) < 2 || len(b) < 2+int(b[1]) {
		return addr, "", nil, errors.New("REDIRECT: truncated gateway identity")
	}
	id, rest := b[2:2+int(b[1])], b[2+int(b[1]):]
	switch b[0] {
	case gwIdentIPv4, gwIdentIPv6:
		a, ok := netip.AddrFromSlice(id)
		if !ok || (b[0] == gwIdentIPv4) != (len(id) == 4) {
			return addr, "", nil, errors.New("REDIRECT: gateway address of the wrong length")
		}
		return a, "", rest, nil
	case gwIdentFQDN:
		return addr, string(id), rest, nil
	}
	return addr, "", nil, errors.New("REDIRECT: unknown gateway identity type")
}

// TestRedirectAtInit: a responder whose runtime names another gateway
// answers an IKE_SA_INIT that carries REDIRECT_SUPPORTED with REDIRECT
// (the gateway's address and the initiator's nonce, RFC 5685 4.2) and
// keeps no state; without REDIRECT_SUPPORTED, or when the runtime names
// no other gateway, the exchange goes on.
func TestRedirectAtInit(t *testing.T) {
	for _, tc := range []struct {
		name      string
		supported bool
		target    string // "" : the runtime keeps the peer
		redirect  bool
	}{
		{"supported, elsewhere", true, "10.0.0.9", true},
		{"supported, IPv6 target", true, "2001:db8::9", true},
		{"not supported", false, "10.0.0.9", false},
		{"supported, stays", true, "", false},
		{"supported, target is us", true, "10.0.0.2", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"})
			var asked int
			p.b.eng.Cfg.Redirect = func(local, remote netip.Addr) (netip.Addr, bool) {
				asked++
				if local != p.b.addr || remote != p.a.addr {
					t.Errorf("Redirect(%v, %v)", local, remote)
				}
				if tc.target == "" {
					return netip.Addr{}, false
				}
				return netip.MustParseAddr(tc.target), true
			}
			out, err := p.a.eng.Initiate(p.Now, p.a.conns[0])
			if err != nil || len(out.Datagrams) != 1 {
				t.Fatalf("initiate: %v, %d datagrams", err, len(out.Datagrams))
			}
			d := out.Datagrams[0]
			msg, err := isakmp.ParseMessage(d.Data)
			if err != nil {
				t.Fatal(err)
			}
			ni := find[*isakmp.Nonce](msg.Payloads).Data
			if tc.supported {
				msg.Payloads = append(msg.Payloads, &isakmp.Notify{NotifyType: isakmp.NotifyRedirectSupported})
				d.Data = msg.Marshal()
			}
			d.Local, d.Remote = d.Remote, d.Local // as b receives it
			before := p.b.eng.Stats()
			res := p.b.eng.HandleDatagram(p.Now, d)
			if len(res.Datagrams) != 1 {
				t.Fatalf("responder sent %d datagrams", len(res.Datagrams))
			}
			resp, err := isakmp.ParseMessage(res.Datagrams[0].Data)
			if err != nil {
				t.Fatal(err)
			}
			n := isakmp.FindNotify(resp.Payloads, isakmp.NotifyRedirect)
			if (n != nil) != tc.redirect {
				t.Fatalf("REDIRECT in the response: %v, want %v (payloads %v)", n != nil, tc.redirect, resp.Payloads)
			}
			if (asked > 0) != tc.supported {
				t.Errorf("runtime asked %d times, peer supports redirect: %v", asked, tc.supported)
			}
			st := p.b.eng.Stats()
			if !tc.redirect {
				if st.HalfOpen != before.HalfOpen+1 {
					t.Errorf("half-open %d, want one more than %d", st.HalfOpen, before.HalfOpen)
				}
				return
			}
			addr, _, nonce, err := parseRedirect(n.Data)
			if err != nil || addr != netip.MustParseAddr(tc.target) || !bytes.Equal(nonce, ni) {
				t.Fatalf("REDIRECT data %x: %v %v nonce ok %v", n.Data, addr, err, bytes.Equal(nonce, ni))
			}
			if len(resp.Payloads) != 1 || resp.Header.SPIr != 0 || resp.Header.SPIi != msg.Header.SPIi {
				t.Errorf("REDIRECT response: %d payloads, SPIs %x/%x", len(resp.Payloads), resp.Header.SPIi, resp.Header.SPIr)
			}
			if st.HalfOpen != before.HalfOpen || st.Redirected != before.Redirected+1 {
				t.Errorf("after a redirect: half-open %d (was %d), redirected %d", st.HalfOpen, before.HalfOpen, st.Redirected)
			}
		})
	}
}
