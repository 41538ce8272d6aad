package ikev2

import (
	"context"
	"fmt"
	"ikegate/access"
	"ikegate/internal/engine"
	"net/netip"
	"testing"
	"time"

	"ikegate/internal/enginetest"
	"ikegate/isakmp"
	"ikegate/policy"
)

var (
	raNet  = netip.MustParsePrefix("10.2.0.0/24")
	raPool = netip.MustParsePrefix("10.9.0.0/24")
)

// newRAPair is a road warrior (a, asking for a virtual IP) and a gateway
// (b, with a pool in its access layer).
func newRAPair(t *testing.T) *pair {
	p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"})
	ca, cb := p.a.conns[0], p.b.conns[0]
	ca.VirtualIP, ca.RemoteTS = true, []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
	cb.Pool, cb.LocalTS, cb.RemoteTS = "rw", []netip.Prefix{raNet}, nil
	p.b.access = &enginetest.Access{Pool: raPool}
	return p
}

// vipOf returns the virtual IP of n's only IKE SA.
func vipOf(t *testing.T, n *node) string {
	t.Helper()
	sas := n.eng.SAs()
	if len(sas) != 1 {
		t.Fatalf("%s: %d IKE SAs, want 1", n.name, len(sas))
	}
	return sas[0].VirtualIP
}

// TestConfigPayload: a client asking for an address with a CFG_REQUEST
// gets one from the gateway's pool, and both sides narrow the CHILD SA to
// it and the gateway's network; the lease outlives IKE SA rekeys (on the
// same address) and goes back when the IKE SA is deleted. With loss and
// reordering too.
func TestConfigPayload(t *testing.T) {
	for _, tc := range []struct {
		name   string
		filter func(n int, d isakmp.Datagram) []isakmp.Datagram
	}{
		{"clean", nil},
		{"lossy", func(n int, d isakmp.Datagram) []isakmp.Datagram {
			if n%3 == 0 {
				return nil // every third datagram lost
			}
			return []isakmp.Datagram{d, d} // the others twice
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newRAPair(t)
			p.Filter = tc.filter
			p.b.conns[0].IKELifetime = 10 * time.Minute
			p.initiate(p.a, p.a.conns[0])
			p.run(2 * time.Minute)
			requireEstablished(t, p.a, p.b)
			want := raPool.Addr().Next().String()
			if got := vipOf(t, p.b); got != want {
				t.Fatalf("gateway: virtual IP %q, want %q", got, want)
			}
			if got := vipOf(t, p.a); got != want {
				t.Fatalf("client: virtual IP %q, want %q", got, want)
			}
			gc, cc := p.b.eng.SAs()[0].Children[0], p.a.eng.SAs()[0].Children[0]
			if len(gc.RemoteTS) != 1 || gc.RemoteTS[0] != want+"/32" || len(gc.LocalTS) != 1 || gc.LocalTS[0] != raNet.String() {
				t.Errorf("gateway CHILD SA %v === %v, want %s === %s/32", gc.LocalTS, gc.RemoteTS, raNet, want)
			}
			if len(cc.LocalTS) != 1 || cc.LocalTS[0] != want+"/32" || len(cc.RemoteTS) != 1 || cc.RemoteTS[0] != raNet.String() {
				t.Errorf("client CHILD SA %v === %v, want %s/32 === %s", cc.LocalTS, cc.RemoteTS, want, raNet)
			}
			first := p.b.eng.SAs()[0].LocalSPI
			p.Filter = nil
			p.run(25 * time.Minute) // two IKE SA rekeys by the gateway
			requireEstablished(t, p.a, p.b)
			if p.b.eng.SAs()[0].LocalSPI == first {
				t.Fatal("IKE SA not rekeyed")
			}
			if got := vipOf(t, p.b); got != want {
				t.Errorf("after rekeys: virtual IP %q, want %q", got, want)
			}
			if l := p.b.access.Leases; len(l) != 1 || l[policy.Identity(ipID(p.a.addr)).String()].String() != want {
				t.Errorf("leases after rekeys: %v, want one of %s", l, want)
			}
			out, ok := p.a.eng.Terminate(p.Now, p.a.conns[0].Name)
			if !ok {
				t.Fatal("terminate: no such connection")
			}
			p.do(p.a, out)
			p.run(time.Minute)
			if l := p.b.access.Leases; len(l) != 0 {
				t.Errorf("leases after delete: %v, want none", l)
			}
		})
	}
}

// TestConfigPayloadPoolExhausted: with no address left the client gets
// INTERNAL_ADDRESS_FAILURE instead of a CHILD SA, and holds nothing.
func TestConfigPayloadPoolExhausted(t *testing.T) {
	p := newRAPair(t)
	p.b.access.Pool = netip.MustParsePrefix("10.9.0.0/31") // only .1, which is taken
	p.b.access.Leases = map[string]netip.Addr{"someone": netip.MustParseAddr("10.9.0.1")}
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Minute)
	sas := p.b.eng.SAs()
	if len(sas) == 1 && len(sas[0].Children) != 0 {
		t.Errorf("gateway installed a CHILD SA without an address: %+v", sas[0].Children)
	}
	if len(p.b.inst.Live) != 0 {
		t.Errorf("gateway dataplane holds %d SAs", len(p.b.inst.Live))
	}
	if len(p.b.access.Leases) != 1 {
		t.Errorf("leases: %v", p.b.access.Leases)
	}
}

// localEAP is the gateway's EAP-MSCHAPv2 server over users, as the
// runtime's access layer runs it (answering at once).
func localEAP(users *access.Users) func(engine.Effect) engine.Result {
	return func(ef engine.Effect) engine.Result {
		s, _ := ef.Session.(access.EAPSession)
		if s == nil {
			s = access.NewMSCHAPv2Server(users, nil)
		}
		st := s.Step(context.Background(), ef.EAP)
		return engine.Result{Err: st.Err, EAP: engine.EAPAnswer{Message: st.Message, Done: st.Done, MSK: st.MSK,
			Identity: st.Identity, Session: s}}
	}
}

// newEAPPair is newRAPair with the client authenticating as user with
// password over EAP-MSCHAPv2 against the gateway's local users (alice).
func newEAPPair(t *testing.T, user, password string) *pair {
	p := newRAPair(t)
	ca, cb := p.a.conns[0], p.b.conns[0]
	ca.XAuthUser, ca.XAuthPassword = user, []byte(password)
	cb.RemoteAuth, cb.RemoteID = policy.RemoteAuthEAPMSCHAPv2, policy.Identity{Any: true}
	p.b.access.EAPServer = localEAP(access.NewUsers([]*policy.User{{Name: "alice", Password: []byte("alice-secret")}}))
	return p
}

// TestEAPMSCHAPv2: a client authenticating with EAP-MSCHAPv2 (Identity,
// Challenge, Response, Success, then both AUTHs keyed with the MSK) gets
// its address under its EAP identity; a wrong password or unknown user
// leaves nothing on either side. With loss and duplication too.
func TestEAPMSCHAPv2(t *testing.T) {
	lossy := func(n int, d isakmp.Datagram) []isakmp.Datagram {
		if n%4 == 2 {
			return nil
		}
		return []isakmp.Datagram{d, d}
	}
	for _, tc := range []struct {
		name, user, password string
		lossy, ok            bool
	}{
		{"accepted", "alice", "alice-secret", false, true},
		{"accepted lossy", "alice", "alice-secret", true, true},
		{"wrong password", "alice", "guess", false, false},
		{"unknown user", "mallory", "alice-secret", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newEAPPair(t, tc.user, tc.password)
			if tc.lossy {
				p.Filter = lossy
			}
			p.initiate(p.a, p.a.conns[0])
			p.run(2 * time.Minute)
			if !tc.ok {
				if n := len(p.a.eng.SAs()) + len(p.b.eng.SAs()); n != 0 {
					t.Errorf("%d IKE SAs left after a refused EAP client", n)
				}
				if len(p.b.access.Leases) != 0 || len(p.b.inst.Live) != 0 {
					t.Errorf("leases %v, dataplane %d SAs after a refused client", p.b.access.Leases, len(p.b.inst.Live))
				}
				if p.b.eng.Stats().AuthFailures == 0 || p.a.eng.Stats().AuthFailures == 0 {
					t.Errorf("auth failures: gateway %d, client %d", p.b.eng.Stats().AuthFailures, p.a.eng.Stats().AuthFailures)
				}
				return
			}
			requireEstablished(t, p.a, p.b)
			g := p.b.eng.SAs()[0]
			want := raPool.Addr().Next().String()
			if g.User != "alice" || g.VirtualIP != want || vipOf(t, p.a) != want {
				t.Errorf("gateway SA user %q vip %q, client vip %q; want alice, %s", g.User, g.VirtualIP, vipOf(t, p.a), want)
			}
			if l := p.b.access.Leases; len(l) != 1 || l["alice"].String() != want {
				t.Errorf("leases %v, want alice's %s", l, want)
			}
		})
	}
}

// TestEAPSessionTimeout: a Session-Timeout from the EAP server (RADIUS)
// ends the client's session then: the IKE SA is deleted and the address
// goes back.
func TestEAPSessionTimeout(t *testing.T) {
	p := newEAPPair(t, "alice", "alice-secret")
	server := p.b.access.EAPServer
	p.b.access.EAPServer = func(ef engine.Effect) engine.Result {
		r := server(ef)
		if r.EAP.Done && r.Err == nil {
			r.EAP.SessionTimeout = 10 * time.Minute
		}
		return r
	}
	p.initiate(p.a, p.a.conns[0])
	p.run(9 * time.Minute)
	requireEstablished(t, p.a, p.b)
	p.run(12 * time.Minute) // from about the start: past 10 minutes
	if n := len(p.a.eng.SAs()) + len(p.b.eng.SAs()); n != 0 {
		t.Errorf("%d IKE SAs after the session timeout", n)
	}
	if len(p.b.access.Leases) != 0 {
		t.Errorf("leases after the session timeout: %v", p.b.access.Leases)
	}
}

// TestMOBIKE: a road warrior that changes its address moves its SAs with
// UPDATE_SA_ADDRESSES (RFC 4555): same IKE and CHILD SA SPIs on both
// sides, the gateway's dataplane moved to the new address, the gateway's
// return routability check answered, and the SAs go on (a rekey after
// the move works). With loss and duplication too.
func TestMOBIKE(t *testing.T) {
	for _, lossy := range []bool{false, true} {
		t.Run(fmt.Sprintf("lossy=%v", lossy), func(t *testing.T) {
			p := newRAPair(t)
			p.a.conns[0].MOBIKE, p.b.conns[0].MOBIKE = true, true
			p.b.conns[0].IKELifetime = 10 * time.Minute
			p.initiate(p.a, p.a.conns[0])
			p.run(time.Second)
			requireEstablished(t, p.a, p.b)
			before := p.b.eng.SAs()[0]
			if lossy {
				p.Filter = func(n int, d isakmp.Datagram) []isakmp.Datagram {
					if n%3 == 0 {
						return nil
					}
					return []isakmp.Datagram{d, d}
				}
			}
			old, moved := p.a.addr, netip.MustParseAddr("10.0.0.3")
			p.a.addr = moved // the wire delivers to the new address
			out, n := p.a.eng.Roam(p.Now, old, moved)
			if n != 1 {
				t.Fatalf("Roam moved %d SAs, want 1", n)
			}
			p.do(p.a, out)
			p.run(time.Minute)
			after := p.b.eng.SAs()[0]
			if after.LocalSPI != before.LocalSPI || after.Children[0].SPIIn != before.Children[0].SPIIn {
				t.Fatalf("SPIs changed: %s/%s -> %s/%s", before.LocalSPI, before.Children[0].SPIIn, after.LocalSPI, after.Children[0].SPIIn)
			}
			if after.Remote != moved.String()+":500" {
				t.Errorf("gateway's IKE SA remote %s, want %s:500", after.Remote, moved)
			}
			if p.b.inst.Moves != 1 || p.a.inst.Moves != 1 {
				t.Errorf("dataplane moves: gateway %d, client %d, want 1 each", p.b.inst.Moves, p.a.inst.Moves)
			}
			for _, k := range p.b.inst.Live {
				if k.Remote != moved {
					t.Errorf("gateway CHILD SA %08x still to %s", k.SPIIn, k.Remote)
				}
			}
			p.Filter = nil
			p.run(11 * time.Minute) // an IKE SA rekey by the gateway, to the new address
			requireEstablished(t, p.a, p.b)
			if s := p.b.eng.SAs()[0]; s.LocalSPI == before.LocalSPI || s.Remote != moved.String()+":500" {
				t.Errorf("after the rekey: SPI %s (was %s), remote %s", s.LocalSPI, before.LocalSPI, s.Remote)
			}
		})
	}
}

// TestMSStatusIgnored: Windows' private MS_STATUS error notification in an
// INFORMATIONAL is logged as the client's status and answered; it ends
// nothing (an unknown error type in a request is ignored, RFC 7296 3.10.1).
func TestMSStatusIgnored(t *testing.T) {
	p := newRAPair(t)
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Second)
	requireEstablished(t, p.a, p.b)
	var sa *ikeSA
	for _, s := range p.a.eng.sas {
		sa = s
	}
	p.a.eng.startRequest(p.Now, sa, p.a.eng.encryptedRequest(sa, isakmp.ExchangeInformational,
		[]isakmp.Payload{&isakmp.Notify{NotifyType: isakmp.NotifyMSStatus, Data: []byte{0, 0, 0x03, 0x21}}}, stepInfo))
	p.do(p.a, p.a.eng.Flush())
	p.run(time.Minute)
	requireEstablished(t, p.a, p.b)
	if sa.req != nil {
		t.Error("the gateway did not answer the INFORMATIONAL with MS_STATUS")
	}
}
