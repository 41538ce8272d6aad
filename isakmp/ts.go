package isakmp

import (
	"encoding/binary"
	"net/netip"
)

// Traffic selector types (RFC 7296 3.13.1).
const (
	TSIPv4AddrRange uint8 = 7
	TSIPv6AddrRange uint8 = 8
)

// TrafficSelector is one traffic selector (RFC 7296 3.13.1). For types
// TSIPv4AddrRange and TSIPv6AddrRange the ports and addresses are used and
// Data is empty. For any other type (such as TS_SECLABEL, RFC 9478) only
// TSType, IPProtocol (the selector's second byte) and Data (everything after
// the 4-byte selector header) are used, so unknown selectors survive a
// round trip and the engine can decide what to do with them.
type TrafficSelector struct {
	TSType             uint8
	IPProtocol         uint8 // 0 means any
	StartPort, EndPort uint16
	StartAddr, EndAddr netip.Addr
	Data               []byte
}

// TS is the Traffic Selector payload, TSi or TSr (RFC 7296 3.13).
type TS struct {
	PType     PayloadType // PayloadTSi or PayloadTSr
	Selectors []TrafficSelector
}

func (ts *TS) Type() PayloadType { return ts.PType }

func (ts *TS) appendBody(b []byte) []byte {
	if ts.PType != PayloadTSi && ts.PType != PayloadTSr {
		encodeFail("TS payload with type %s", ts.PType)
	}
	if len(ts.Selectors) > 0xff {
		encodeFail("%s: %d selectors", ts.PType, len(ts.Selectors))
	}
	b = append(b, byte(len(ts.Selectors)), 0, 0, 0)
	for i := range ts.Selectors {
		s := &ts.Selectors[i]
		start := len(b)
		b = append(b, s.TSType, s.IPProtocol, 0, 0)
		switch s.TSType {
		case TSIPv4AddrRange:
			if !s.StartAddr.Is4() || !s.EndAddr.Is4() {
				encodeFail("%s selector %d: IPv4 range with addresses %v-%v", ts.PType, i+1, s.StartAddr, s.EndAddr)
			}
			b = s.appendPortsAddrs(b)
		case TSIPv6AddrRange:
			if !s.StartAddr.Is6() || !s.EndAddr.Is6() {
				encodeFail("%s selector %d: IPv6 range with addresses %v-%v", ts.PType, i+1, s.StartAddr, s.EndAddr)
			}
			b = s.appendPortsAddrs(b)
		default:
			b = append(b, s.Data...)
		}
		if n := putLen16(b, start, start+2); n > 0xffff {
			encodeFail("%s selector %d length %d exceeds 65535", ts.PType, i+1, n)
		}
	}
	return b
}

func (s *TrafficSelector) appendPortsAddrs(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, s.StartPort)
	b = binary.BigEndian.AppendUint16(b, s.EndPort)
	b = append(b, s.StartAddr.AsSlice()...)
	return append(b, s.EndAddr.AsSlice()...)
}

func parseTS(t PayloadType, b []byte) (*TS, error) {
	if len(b) < 4 {
		return nil, errTrunc("body of %d bytes, need at least 4", len(b))
	}
	count := int(b[0])
	b = b[4:]
	ts := &TS{PType: t}
	if count > 0 {
		ts.Selectors = make([]TrafficSelector, 0, min(count, len(b)/4))
	}
	for i := 1; len(b) > 0; i++ {
		if len(b) < 4 {
			return nil, errTrunc("selector %d: header: %d bytes left, need 4", i, len(b))
		}
		s := TrafficSelector{TSType: b[0], IPProtocol: b[1]}
		n := int(binary.BigEndian.Uint16(b[2:4]))
		if n < 4 {
			return nil, errBad("selector %d: length %d is less than 4", i, n)
		}
		if n > len(b) {
			return nil, errTrunc("selector %d: length %d exceeds remaining %d", i, n, len(b))
		}
		body := b[4:n]
		switch s.TSType {
		case TSIPv4AddrRange, TSIPv6AddrRange:
			alen := 4
			if s.TSType == TSIPv6AddrRange {
				alen = 16
			}
			if want := 8 + 2*alen; n != want {
				return nil, errBad("selector %d: length %d, want %d for type %d", i, n, want, s.TSType)
			}
			s.StartPort = binary.BigEndian.Uint16(body[0:2])
			s.EndPort = binary.BigEndian.Uint16(body[2:4])
			s.StartAddr, _ = netip.AddrFromSlice(body[4 : 4+alen])
			s.EndAddr, _ = netip.AddrFromSlice(body[4+alen : 4+2*alen])
		default:
			s.Data = clip(body)
		}
		ts.Selectors = append(ts.Selectors, s)
		b = b[n:]
	}
	if len(ts.Selectors) != count {
		return nil, errBad("%d selectors present, header says %d", len(ts.Selectors), count)
	}
	return ts, nil
}
