package ikev2

import (
	"encoding/binary"

	"ikegate/isakmp"
	"ikegate/oakley"
)

// Security protocol IDs (RFC 7296 3.3.1).
const (
	protoIKE uint8 = 1
	protoAH  uint8 = 2
	protoESP uint8 = 3
)

const attrKeyLength = 14

// toWire turns local proposals into SA payload proposals numbered from one.
// dropDH omits key exchange transforms (IKE_AUTH carries no KE).
func toWire(props []oakley.Proposal, protocol uint8, spi []byte, dropDH bool) []isakmp.Proposal {
	out := make([]isakmp.Proposal, 0, len(props))
	for i, p := range props {
		wp := isakmp.Proposal{Num: uint8(i + 1), Protocol: protocol, SPI: spi}
		for _, t := range p.Transforms {
			if dropDH && t.Type == oakley.TransformDH {
				continue
			}
			wp.Transforms = append(wp.Transforms, transformToWire(t))
		}
		out = append(out, wp)
	}
	return out
}

func transformToWire(t oakley.Transform) isakmp.Transform {
	wt := isakmp.Transform{Type: uint8(t.Type), ID: t.ID}
	if t.KeyLen != 0 {
		wt.Attrs = []isakmp.Attribute{{Type: attrKeyLength, TV: true, TVValue: t.KeyLen}}
	}
	return wt
}

// chosenToWire is the single proposal of a response: the chosen
// transforms under the peer's proposal number.
func chosenToWire(chosen oakley.Proposal, num, protocol uint8, spi []byte) isakmp.Proposal {
	wp := isakmp.Proposal{Num: num, Protocol: protocol, SPI: spi}
	for _, t := range chosen.Transforms {
		wp.Transforms = append(wp.Transforms, transformToWire(t))
	}
	return wp
}

// fromWire converts the peer's proposals of the given protocol. A
// transform with an attribute we do not understand can never match
// (RFC 7296 3.3.6), so it is given an impossible key length.
func fromWire(ps []isakmp.Proposal, protocol uint8) ([]oakley.Proposal, []isakmp.Proposal) {
	var out []oakley.Proposal
	var kept []isakmp.Proposal
	for _, wp := range ps {
		if wp.Protocol != protocol {
			continue
		}
		var p oakley.Proposal
		for _, wt := range wp.Transforms {
			t := oakley.Transform{Type: oakley.TransformType(wt.Type), ID: wt.ID}
			for _, a := range wt.Attrs {
				if a.Type == attrKeyLength && a.TV {
					t.KeyLen = a.TVValue
				} else {
					t.KeyLen = 0xffff
				}
			}
			p.Transforms = append(p.Transforms, t)
		}
		out = append(out, p)
		kept = append(kept, wp)
	}
	return out, kept
}

func spi32(spi uint32) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], spi)
	return b[:]
}

// firstDH returns the first DH group listed in props, or 0.
func firstDH(props []oakley.Proposal) uint16 {
	for _, p := range props {
		if t, ok := p.First(oakley.TransformDH); ok && t.ID != oakley.DHNone {
			return t.ID
		}
	}
	return 0
}

// offersDH reports whether any of props lists DH group g.
func offersDH(props []oakley.Proposal, g uint16) bool {
	for _, p := range props {
		for _, t := range p.Of(oakley.TransformDH) {
			if t.ID == g {
				return true
			}
		}
	}
	return false
}
