package policy

import (
	"net/netip"
	"strings"
)

// LastAddr is the highest address of prefix p.
func LastAddr(p netip.Prefix) netip.Addr {
	p = p.Masked()
	b := p.Addr().AsSlice()
	for i := range b {
		for j := 0; j < 8; j++ {
			if i*8+j >= p.Bits() {
				b[i] |= 0x80 >> j
			}
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// RangePrefixes returns the smallest list of prefixes covering exactly the
// addresses from start to end inclusive (traffic selectors are ranges,
// kernels and routes want prefixes). It is empty if end < start.
func RangePrefixes(start, end netip.Addr) []netip.Prefix {
	var out []netip.Prefix
	if start.Is4() != end.Is4() {
		return nil
	}
	for !end.Less(start) {
		bits := start.BitLen()
		// Grow the prefix while it stays aligned and inside the range.
		for bits > 0 {
			p := netip.PrefixFrom(start, bits-1).Masked()
			if p.Addr() != start || end.Less(LastAddr(p)) {
				break
			}
			bits--
		}
		p := netip.PrefixFrom(start, bits)
		out = append(out, p)
		next := LastAddr(p).Next()
		if !next.IsValid() {
			break
		}
		start = next
	}
	return out
}

// Covered reports whether every prefix of ps lies inside one of allowed.
func Covered(ps, allowed []netip.Prefix) bool {
	for _, p := range ps {
		ok := false
		for _, a := range allowed {
			if a.Bits() <= p.Bits() && a.Contains(p.Addr()) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return len(ps) > 0
}

// PrefixStrings returns the prefixes in text form (never nil, so that JSON
// shows an empty array).
func PrefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// JoinPrefixes writes prefixes comma-separated, as logs show selectors.
func JoinPrefixes(ps []netip.Prefix) string { return strings.Join(PrefixStrings(ps), ",") }
