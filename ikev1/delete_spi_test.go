package ikev1

import (
	"testing"
	"time"

	"ikegate/isakmp"
)

// TestDeleteNamingOurInboundSPI: a Delete for an ESP SA may name either SPI
// of the pair. strongSwan 5.9.8, as Quick Mode responder whose install
// failed (kernel-libipsec and transport mode), sends a Delete naming the
// initiator's SPI, i.e. our inbound one; the phase 2 SA must go anyway
// (Libreswan does the same: "is our own SPI (bogus implementation) -
// deleting anyway").
func TestDeleteNamingOurInboundSPI(t *testing.T) {
	for _, which := range []string{"peer-inbound", "our-inbound"} {
		t.Run(which, func(t *testing.T) {
			p := newPair(t, "main", []string{"aes256-sha256-modp2048"}, []string{"aes256-sha256"})
			p.initiate(p.a, p.a.conns[0])
			p.run(time.Minute)
			requireUp(t, p.a, p.b, 1)
			for _, sa := range p.b.eng.sas {
				c := sa.children[0]
				spi := c.SPIIn // b's inbound: what a sends with (the usual Delete)
				if which == "our-inbound" {
					spi = c.SPIOut // b's outbound: a's inbound (strongSwan's failed install)
				}
				p.b.eng.sendInfo(sa, []isakmp.V1Payload{&isakmp.V1Delete{DOI: isakmp.V1DOIIPsec,
					ProtocolID: isakmp.ProtocolESP, SPISize: 4, SPIs: [][]byte{spi32(spi)}}})
			}
			p.do(p.b, p.b.eng.Flush())
			p.run(time.Second)
			if sas := p.a.eng.SAs(); len(sas) != 1 || len(sas[0].Children) != 0 {
				t.Fatalf("a after the Delete: %+v", sas)
			}
			if len(p.a.inst.Live) != 0 {
				t.Fatalf("a still has %d phase 2 SAs installed", len(p.a.inst.Live))
			}
		})
	}
}
