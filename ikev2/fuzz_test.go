package ikev2

import (
	"net/netip"
	"testing"
	"time"

	"go.uber.org/zap"

	"ikegate/isakmp"
)

// FuzzHandleDatagram feeds arbitrary datagrams to a responder (and to an
// initiator waiting for its IKE_SA_INIT response): nothing may panic, and
// garbage must never create an established SA.
func FuzzHandleDatagram(f *testing.F) {
	p := newPairForFuzz(f)
	// Seeds: the real messages of a handshake.
	p.Filter = func(_ int, d isakmp.Datagram) []isakmp.Datagram {
		f.Add(d.Data)
		return []isakmp.Datagram{d}
	}
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Minute)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		p := newPairForFuzz(t)
		ds, _ := p.a.eng.Initiate(p.Now, p.a.conns[0])
		_ = ds
		from := netip.MustParseAddrPort("10.0.0.1:500")
		to := netip.MustParseAddrPort("10.0.0.2:500")
		p.b.eng.HandleDatagram(p.Now, isakmp.Datagram{Local: to, Remote: from, Data: data})
		p.a.eng.HandleDatagram(p.Now, isakmp.Datagram{Local: from, Remote: to, Data: data})
		for _, n := range []*node{p.a, p.b} {
			for _, s := range n.eng.SAs() {
				if s.State == "ESTABLISHED" {
					t.Fatalf("garbage established an SA: %+v", s)
				}
			}
		}
	})
}

func newPairForFuzz(tb testing.TB) *pair {
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	log := zap.NewNop()
	return (&pair{t: tb,
		a: newNode(tb, "a", a, log, pskConn(tb, "ab", a, b, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"})),
		b: newNode(tb, "b", b, log, pskConn(tb, "ba", b, a, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"})),
	}).wire()
}

func TestInvalidMajorVersion(t *testing.T) {
	p := newPairForFuzz(t)
	m := isakmp.Message{Header: isakmp.Header{SPIi: 7, MajorVersion: 2, Exchange: isakmp.ExchangeIKESAInit, Flags: isakmp.FlagInitiator}}
	raw := m.Marshal()
	raw[17] = 0x30 // IKE version 3.0
	from, to := netip.MustParseAddrPort("10.0.0.1:500"), netip.MustParseAddrPort("10.0.0.2:500")
	out := p.b.eng.HandleDatagram(p.Now, isakmp.Datagram{Local: to, Remote: from, Data: raw})
	if len(out.Datagrams) != 1 {
		t.Fatalf("%d answers, want 1", len(out.Datagrams))
	}
	resp, err := isakmp.ParseMessage(out.Datagrams[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if n := isakmp.FindNotify(resp.Payloads, isakmp.NotifyInvalidMajorVersion); n == nil || resp.Header.MajorVersion != 2 || resp.Header.SPIi != 7 {
		t.Fatalf("answer %+v", resp)
	}
	// Rate limited: a second one within the second is not answered.
	if out := p.b.eng.HandleDatagram(p.Now, isakmp.Datagram{Local: to, Remote: from, Data: raw}); len(out.Datagrams) != 0 {
		t.Fatal("answered twice within a second")
	}
}

func TestUnsupportedCriticalPayloadInInit(t *testing.T) {
	p := newPairForFuzz(t)
	m := isakmp.Message{Header: isakmp.Header{SPIi: 9, MajorVersion: 2, Exchange: isakmp.ExchangeIKESAInit, Flags: isakmp.FlagInitiator},
		Payloads: []isakmp.Payload{&isakmp.Unknown{PType: 200, Critical: true, Data: []byte{1}}}}
	from, to := netip.MustParseAddrPort("10.0.0.1:500"), netip.MustParseAddrPort("10.0.0.2:500")
	out := p.b.eng.HandleDatagram(p.Now, isakmp.Datagram{Local: to, Remote: from, Data: m.Marshal()})
	if len(out.Datagrams) != 1 {
		t.Fatalf("%d answers", len(out.Datagrams))
	}
	resp, _ := isakmp.ParseMessage(out.Datagrams[0].Data)
	if n := isakmp.FindNotify(resp.Payloads, isakmp.NotifyUnsupportedCriticalPayload); n == nil || len(n.Data) != 1 || n.Data[0] != 200 {
		t.Fatalf("answer %+v", resp)
	}
}
