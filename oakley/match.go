package oakley

import (
	"fmt"
	"slices"
	"strings"
)

// Selection is the outcome of matching a peer's proposals against ours.
type Selection struct {
	Chosen    Proposal // one transform of each type: what both accept
	PeerIndex int      // index of the peer proposal it came from
	LocalIdx  int      // index of the local proposal it matched
}

// MatchOptions tune Select for the exchange at hand.
type MatchOptions struct {
	// IgnoreDH drops DH transforms from both sides before matching: IKEv2's
	// IKE_AUTH carries a CHILD SA proposal without a key exchange.
	IgnoreDH bool
	// OptionalESN treats a missing ESN transform on either side as
	// "no ESN" instead of a mismatch.
	OptionalESN bool
}

// Select picks, in our order of preference, the first local proposal that
// accepts some peer proposal, and returns for each transform type the
// first of the peer's transforms that the local proposal also lists. A
// proposal matches when every transform type present on either side has a
// transform in common.
func Select(local, peer []Proposal, opt MatchOptions) (Selection, bool) {
	for li, lp := range local {
		lp = normalise(lp, opt)
		for pi, pp := range peer {
			pp = normalise(pp, opt)
			if chosen, miss := intersect(lp, pp); len(miss) == 0 {
				return Selection{Chosen: chosen, PeerIndex: pi, LocalIdx: li}, true
			}
		}
	}
	return Selection{}, false
}

// Explain says why no local proposal accepted the peer's: what the peer
// offered and the nearest local proposal with the transform types in which
// it differs. It is the one-line explanation every failed negotiation logs.
func Explain(local, peer []Proposal, opt MatchOptions) string {
	if len(peer) == 0 {
		return "peer sent no proposal"
	}
	if len(local) == 0 {
		return "no local proposal configured"
	}
	bestMiss := -1
	var bestLocal, bestPeer Proposal
	var bestTypes []TransformType
	for _, lp := range local {
		lp = normalise(lp, opt)
		for _, pp := range peer {
			pp = normalise(pp, opt)
			_, miss := intersect(lp, pp)
			if bestMiss < 0 || len(miss) < bestMiss {
				bestMiss, bestLocal, bestPeer, bestTypes = len(miss), lp, pp, miss
			}
		}
	}
	offered := make([]string, 0, len(peer))
	for _, pp := range peer {
		offered = append(offered, normalise(pp, opt).String())
	}
	diffs := make([]string, 0, len(bestTypes))
	for _, t := range bestTypes {
		ours := names(bestLocal.Of(t))
		theirs := names(bestPeer.Of(t))
		diffs = append(diffs, fmt.Sprintf("%s: peer %s, local %s", typeWord(t), orNone(theirs), orNone(ours)))
	}
	return fmt.Sprintf("peer proposed %s; closest local proposal %s differs in %s",
		strings.Join(offered, ", "), bestLocal, strings.Join(diffs, "; "))
}

func typeWord(t TransformType) string {
	switch t {
	case TransformENCR:
		return "encryption"
	case TransformPRF:
		return "PRF"
	case TransformINTEG:
		return "integrity"
	case TransformDH:
		return "DH group"
	case TransformESN:
		return "ESN"
	}
	return t.String()
}

func names(ts []Transform) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.String()
	}
	return strings.Join(s, "|")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// normalise removes what the options say to ignore and the "none" values
// that mean absence (INTEG NONE with AEAD, a DH NONE that is the only DH
// transform). A DH NONE listed beside real groups stays: it makes PFS
// optional (RFC 7296 3.3.2), and intersect takes it as matching a local
// proposal without a DH group.
func normalise(p Proposal, opt MatchOptions) Proposal {
	out := Proposal{Transforms: make([]Transform, 0, len(p.Transforms))}
	hasESN := false
	onlyNone := !hasGroup(p)
	for _, t := range p.Transforms {
		switch {
		case t.Type == TransformDH && (opt.IgnoreDH || (t.ID == DHNone && onlyNone)):
			continue
		case t.Type == TransformINTEG && t.ID == IntegNone:
			continue
		case t.Type == TransformESN:
			hasESN = true
		}
		out.Transforms = append(out.Transforms, t)
	}
	if opt.OptionalESN && !hasESN {
		out.Transforms = append(out.Transforms, Transform{Type: TransformESN, ID: ESNNone})
	}
	return out
}

// hasGroup reports whether p lists a DH group other than NONE.
func hasGroup(p Proposal) bool {
	for _, t := range p.Of(TransformDH) {
		if t.ID != DHNone {
			return true
		}
	}
	return false
}

var matchOrder = []TransformType{TransformENCR, TransformPRF, TransformINTEG, TransformDH, TransformESN}

var dhNone = Transform{Type: TransformDH, ID: DHNone}

// intersect returns, for every transform type, the first peer transform
// also in local, and the types where there is none. A local proposal
// without a DH group takes the peer's NONE when the peer lists it among
// its groups (optional PFS): the choice then holds DH NONE, one transform
// of each type the peer proposed (RFC 7296 3.3.6). Likewise a local NONE
// among groups accepts a peer proposal without DH (the responder's answer
// to our optional PFS).
func intersect(local, peer Proposal) (Proposal, []TransformType) {
	var chosen Proposal
	var miss []TransformType
	for _, typ := range matchOrder {
		lts, pts := local.Of(typ), peer.Of(typ)
		if len(lts) == 0 && len(pts) == 0 {
			continue
		}
		if typ == TransformDH && len(lts) == 0 && slices.Contains(pts, dhNone) {
			chosen.Transforms = append(chosen.Transforms, dhNone)
			continue
		}
		if typ == TransformDH && len(pts) == 0 && slices.Contains(lts, dhNone) {
			continue // our optional PFS, answered without
		}
		found := false
		for _, pt := range pts {
			for _, lt := range lts {
				if pt == lt {
					chosen.Transforms = append(chosen.Transforms, pt)
					found = true
					break
				}
			}
			if found {
				break
			}
		}
		if !found {
			miss = append(miss, typ)
		}
	}
	return chosen, miss
}

// WithGroups returns a copy of props in which every proposal that lists
// no DH group (none, or only NONE) offers groups instead, in that order:
// the proposals of a responder that takes a peer's PFS offer in one of
// groups although its own ask for none (see LenientPFSGroups). Proposals
// with a group of their own are copied unchanged.
func WithGroups(props []Proposal, groups ...uint16) []Proposal {
	out := make([]Proposal, len(props))
	for i, p := range props {
		if hasGroup(p) || len(groups) == 0 {
			out[i] = Proposal{Transforms: slices.Clone(p.Transforms)}
			continue
		}
		// The groups go where ParseProposal puts DH: before ESN.
		ts := make([]Transform, 0, len(p.Transforms)+len(groups))
		added := false
		for _, t := range p.Transforms {
			if t.Type == TransformESN && !added {
				ts, added = appendGroups(ts, groups), true
			}
			if t.Type != TransformDH {
				ts = append(ts, t)
			}
		}
		if !added {
			ts = appendGroups(ts, groups)
		}
		out[i] = Proposal{Transforms: ts}
	}
	return out
}

func appendGroups(ts []Transform, groups []uint16) []Transform {
	for _, g := range groups {
		ts = append(ts, Transform{Type: TransformDH, ID: g})
	}
	return ts
}

// HasGroup reports whether any of props lists a DH group (other than
// NONE): for an ESP proposal list, whether it asks for PFS.
func HasGroup(props []Proposal) bool {
	return slices.ContainsFunc(props, hasGroup)
}
