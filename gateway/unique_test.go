package gateway

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"ikegate/ikev2"
	"ikegate/internal/engine"
	"ikegate/isakmp"
	"ikegate/kernel"
	"ikegate/policy"
)

// udpInitiator drives an IKEv2 initiator engine over a real UDP socket.
type udpInitiator struct {
	t    *testing.T
	eng  *ikev2.Engine
	dp   policy.Dataplane
	sock *net.UDPConn
	conn *policy.Connection
}

func newUDPInitiator(t *testing.T, local, gw netip.Addr, port int, psk []byte) *udpInitiator {
	ike, _ := ikev2ProposalTB("aes128gcm16-prfsha256-x25519")
	esp, _ := espProposalTB("aes128gcm16")
	conn := &policy.Connection{
		Name: "peer", Version: policy.IKEv2, LocalAddr: local, RemoteAddr: gw, Auth: policy.AuthPSK, PSK: psk,
		LocalID:  policy.Identity{Type: policy.IDFQDN, Data: []byte("roadwarrior.lab")},
		RemoteID: policy.Identity{Type: policy.IDIPv4Addr, Data: gw.AsSlice()},
		IKE:      ike, ESP: esp,
		LocalTS: []netip.Prefix{netip.PrefixFrom(local, 32)}, RemoteTS: []netip.Prefix{netip.PrefixFrom(gw, 32)},
	}
	dp, _ := kernel.New("none", nil)
	sock, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, uint16(port))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sock.Close(); dp.Close() })
	eng := ikev2.NewEngine(ikev2.Config{DB: policy.NewDB([]*policy.Connection{conn}), Installer: dp,
		IKEPort: uint16(port), NATTPort: uint16(port + 1)})
	return &udpInitiator{t: t, eng: eng, dp: dp, sock: sock, conn: conn}
}

// connect initiates and runs the exchange until the IKE SA is up.
func (u *udpInitiator) connect() {
	before := u.eng.Stats().Established
	out, err := u.eng.InitiateNew(time.Now(), u.conn)
	if err != nil {
		u.t.Fatal(err)
	}
	send := func(out engine.Output) {
		for _, d := range engine.Execute(time.Now(), u.eng, u.dp, nil, out, nil, nil) {
			u.sock.WriteToUDPAddrPort(d.Data, d.Remote)
		}
	}
	send(out)
	buf := make([]byte, 65536)
	deadline := time.Now().Add(5 * time.Second)
	for u.eng.Stats().Established == before {
		u.sock.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, from, err := u.sock.ReadFromUDPAddrPort(buf)
		if err == nil {
			send(u.eng.HandleDatagram(time.Now(), isakmp.Datagram{Local: netip.AddrPortFrom(u.conn.LocalAddr, uint16(u.sock.LocalAddr().(*net.UDPAddr).Port)), Remote: from,
				Data: append([]byte(nil), buf[:n]...)}))
		}
		send(u.eng.Tick(time.Now()))
		if time.Now().After(deadline) {
			u.t.Fatal("the IKE SA did not come up")
		}
	}
}

// TestInitialContactAcrossShards: a peer that restarts (a fresh engine
// sending INITIAL_CONTACT) ends with exactly one IKE SA on the gateway,
// whichever shards its old and new SAs landed on; with unique = "replace"
// a second SA of the same identity replaces the first even without
// INITIAL_CONTACT.
func TestInitialContactAcrossShards(t *testing.T) {
	for _, unique := range []policy.Unique{policy.UniqueNo, policy.UniqueReplace} {
		t.Run(string(unique), func(t *testing.T) {
			gw, peer := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.3")
			port := freePortTB(t, gw, peer)
			ike, _ := ikev2ProposalTB("aes128gcm16-prfsha256-x25519")
			esp, _ := espProposalTB("aes128gcm16")
			psk := []byte("unique test secret")
			cfg := &policy.Config{File: "unique", Gateway: policy.Gateway{
				Listen: []netip.Addr{gw}, IKEPort: port, NATTPort: port + 1, Dataplane: "none", Workers: 2,
				CookieThreshold: 1000, RetransmitTries: 3, RetransmitBase: time.Second,
			}, Connections: []*policy.Connection{{
				Name: "rw", Version: policy.IKEv2, LocalAddr: gw, Auth: policy.AuthPSK, PSK: psk, Unique: unique,
				LocalID:  policy.Identity{Type: policy.IDIPv4Addr, Data: gw.AsSlice()},
				RemoteID: policy.Identity{Any: true}, IKE: ike, ESP: esp,
				LocalTS: []netip.Prefix{netip.PrefixFrom(gw, 32)},
			}}}
			kb, _ := kernel.New("none", nil)
			g := runGateway(t, cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), kb)
			count := func() int {
				sas, err := g.SAs(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, sa := range sas {
					if sa.State == "ESTABLISHED" {
						n++
					}
				}
				return n
			}
			var u *udpInitiator
			for round := range 6 {
				if unique == policy.UniqueNo || round == 0 {
					if u != nil {
						u.sock.Close() // the peer restarts: a fresh engine, INITIAL_CONTACT
					}
					u = newUDPInitiator(t, peer, gw, port, psk)
				}
				u.connect()
				deadline := time.Now().Add(3 * time.Second)
				for count() != 1 && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
				if n := count(); n != 1 {
					t.Fatalf("round %d: %d IKE SAs of the peer on the gateway, want 1", round, n)
				}
			}
			if unique != policy.UniqueNo {
				return
			}
			// Another device with the same identity (a group identity)
			// and INITIAL_CONTACT: the first one's SA stays.
			other := newUDPInitiator(t, netip.MustParseAddr("127.0.0.4"), gw, port, psk)
			other.connect()
			time.Sleep(100 * time.Millisecond)
			if n := count(); n != 2 {
				t.Fatalf("INITIAL_CONTACT from another address: %d IKE SAs, want 2", n)
			}
		})
	}
}
