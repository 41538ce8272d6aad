package gateway

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/zap"

	"ikegate/ikev2"
	"ikegate/internal/engine"
	"ikegate/isakmp"
	"ikegate/kernel"
	"ikegate/oakley"
	"ikegate/policy"
)

// BenchmarkGatewayHandshakes drives a real gateway over UDP on loopback
// with a load generator built from the IKEv2 initiator engine: b.N full
// IKE_SA_INIT + IKE_AUTH (PSK, Curve25519) handshakes with up to 64 in
// flight. Generator and gateway share the machine, so the figure is a
// lower bound of what the gateway alone can do.
//
//	go test -run=NONE -bench=GatewayHandshakes -benchtime=3000x ./gateway/
func BenchmarkGatewayHandshakes(b *testing.B) {
	gwAddr, genAddr := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	port := freePortTB(b, gwAddr, genAddr)
	ike, err := ikev2ProposalTB("aes128gcm16-prfsha256-x25519")
	if err != nil {
		b.Fatal(err)
	}
	esp, _ := espProposalTB("aes128gcm16")
	psk := []byte("load test secret")
	cfg := &policy.Config{File: "load", Gateway: policy.Gateway{
		Listen: []netip.Addr{gwAddr}, IKEPort: port, NATTPort: port + 1, Dataplane: "none",
		CookieThreshold: 1 << 20, RetransmitTries: 5, RetransmitBase: time.Second,
	}, Connections: []*policy.Connection{{
		Name: "any", Version: policy.IKEv2, LocalAddr: gwAddr, Auth: policy.AuthPSK, PSK: psk,
		LocalID:  policy.Identity{Type: policy.IDIPv4Addr, Data: gwAddr.AsSlice()},
		RemoteID: policy.Identity{Any: true},
		IKE:      ike, ESP: esp,
		LocalTS: []netip.Prefix{netip.PrefixFrom(gwAddr, 32)},
	}}}
	kb, _ := kernel.New("none", nil)
	g, err := New(cfg, zap.NewNop(), WithBackend(kb))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	<-g.Ready()

	conn := &policy.Connection{
		Name: "load", Version: policy.IKEv2, LocalAddr: genAddr, RemoteAddr: gwAddr, Auth: policy.AuthPSK, PSK: psk,
		LocalID:  policy.Identity{Type: policy.IDIPv4Addr, Data: genAddr.AsSlice()},
		RemoteID: policy.Identity{Type: policy.IDIPv4Addr, Data: gwAddr.AsSlice()},
		IKE:      ike, ESP: esp,
		LocalTS: []netip.Prefix{netip.PrefixFrom(genAddr, 32)}, RemoteTS: []netip.Prefix{netip.PrefixFrom(gwAddr, 32)},
	}
	gen, _ := kernel.New("none", nil)
	eng := ikev2.NewEngine(ikev2.Config{DB: policy.NewDB([]*policy.Connection{conn}), Installer: gen,
		IKEPort: uint16(port), NATTPort: uint16(port + 1), RetransmitTries: 5, RetransmitBase: time.Second})
	sock, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(genAddr, uint16(port))))
	if err != nil {
		b.Fatal(err)
	}
	defer sock.Close()
	sock.SetReadBuffer(4 << 20)
	in := make(chan isakmp.Datagram, 1024)
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := sock.ReadFromUDPAddrPort(buf)
			if err != nil {
				close(in)
				return
			}
			in <- isakmp.Datagram{Local: netip.AddrPortFrom(genAddr, uint16(port)), Remote: from,
				Data: append([]byte(nil), buf[:n]...)}
		}
	}()
	send := func(out engine.Output) {
		for _, d := range engine.Execute(time.Now(), eng, gen, nil, out, nil, nil) {
			sock.WriteToUDPAddrPort(d.Data, d.Remote)
		}
	}
	const window = 64
	started := 0
	b.ResetTimer()
	deadline := time.Now().Add(5 * time.Minute)
	for int(eng.Stats().Established) < b.N {
		for started < b.N && started-int(eng.Stats().Established) < window {
			ds, err := eng.InitiateNew(time.Now(), conn)
			if err != nil {
				b.Fatal(err)
			}
			send(ds)
			started++
		}
		select {
		case d := <-in:
			send(eng.HandleDatagram(time.Now(), d))
		case <-time.After(50 * time.Millisecond):
			send(eng.Tick(time.Now()))
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d handshakes after 5 minutes", eng.Stats().Established, b.N)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
	st := g.Stats(context.Background())
	b.ReportMetric(float64(st.Drops["queue_full"]), "queue-drops")
}

func freePortTB(tb testing.TB, addrs ...netip.Addr) int {
	for range 50 {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addrs[0], 0)))
		if err != nil {
			tb.Fatal(err)
		}
		p := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		ok := true
		for _, a := range addrs {
			for _, q := range []int{p, p + 1} {
				c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, uint16(q))))
				if err != nil {
					ok = false
					continue
				}
				c.Close()
			}
		}
		if ok {
			return p
		}
	}
	tb.Fatal("no free port pair")
	return 0
}

func ikev2ProposalTB(s string) ([]oakley.Proposal, error) {
	p, err := oakley.ParseProposal(s, false)
	return []oakley.Proposal{p}, err
}

func espProposalTB(s string) ([]oakley.Proposal, error) {
	p, err := oakley.ParseProposal(s, true)
	return []oakley.Proposal{p}, err
}
