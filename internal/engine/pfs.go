package engine

import (
	"fmt"
	"strings"

	"ikegate/oakley"
	"ikegate/policy"
)

// SelectESP picks, as CHILD SA responder (IKEv1 Quick Mode, IKEv2
// IKE_AUTH and CREATE_CHILD_SA), the proposal conn accepts among the
// peer's props: oakley.Select with conn.ESP, plus PFS leniency. When the
// peer offers PFS (pfs: its request carries a KE payload) and conn takes
// PFS offers its ESP does not ask for (policy.Connection.LenientPFS), conn's
// proposals are matched first as if they named groups
// (oakley.LenientPFSGroups when groups is nil), so the peer's order
// decides among them and the Chosen proposal holds the group: the caller
// runs the key exchange with it and derives the keys from it, as if conn's
// ESP had named that group. Failing that, conn's own proposals are tried
// (a peer proposal without PFS, or with NONE among its groups). lenient
// reports whether the choice holds a group that conn.ESP does not name.
func SelectESP(conn *policy.Connection, props []oakley.Proposal, opt oakley.MatchOptions, pfs bool, groups []uint16) (sel oakley.Selection, lenient, ok bool) {
	if pfs && !opt.IgnoreDH && conn.LenientPFS() {
		if groups == nil {
			groups = oakley.LenientPFSGroups()
		}
		if sel, ok := oakley.Select(oakley.WithGroups(conn.ESP, groups...), props, opt); ok {
			g, _ := sel.Chosen.First(oakley.TransformDH)
			return sel, g.ID != oakley.DHNone, true
		}
	}
	sel, ok = oakley.Select(conn.ESP, props, opt)
	return sel, false, ok
}

// ExplainESP is the explanation of a SelectESP that found nothing
// (oakley.Explain), saying what PFS settled: with a PFS offer to a
// connection whose esp names no DH group, that pfs = "strict" refuses it,
// or which groups pfs = "lenient" would have taken.
func ExplainESP(conn *policy.Connection, props []oakley.Proposal, opt oakley.MatchOptions, pfs bool, groups []uint16) string {
	if !pfs || opt.IgnoreDH || oakley.HasGroup(conn.ESP) {
		return oakley.Explain(conn.ESP, props, opt)
	}
	if conn.StrictPFS {
		return oakley.Explain(conn.ESP, props, opt) + fmt.Sprintf(
			`; the peer offers PFS and connection %q has pfs = "strict": without a DH group in esp it takes no PFS offer`, conn.Name)
	}
	weaker := ""
	if groups == nil {
		groups = oakley.LenientPFSGroups()
		weaker = " (a weaker group only where esp names it)"
	}
	names := make([]string, len(groups))
	for i, g := range groups {
		names[i] = oakley.Transform{Type: oakley.TransformDH, ID: g}.String()
	}
	return oakley.Explain(oakley.WithGroups(conn.ESP, groups...), props, opt) + fmt.Sprintf(
		`; esp names no DH group, so connection %q (pfs = "lenient") takes PFS only with %s%s`,
		conn.Name, strings.Join(names, ", "), weaker)
}

// RekeyESP is what a CHILD SA initiator proposes to replace a CHILD SA of
// conn that chose chosen: conn's ESP proposals or, when that CHILD SA took
// the peer's PFS offer although esp names no DH group (pfs = "lenient"),
// the same with that group: the new CHILD SA keeps the PFS the peer asked
// for, which a peer that requires it would otherwise refuse.
func RekeyESP(conn *policy.Connection, chosen oakley.Proposal) []oakley.Proposal {
	if conn.LenientPFS() {
		if g, ok := chosen.First(oakley.TransformDH); ok && g.ID != oakley.DHNone {
			return oakley.WithGroups(conn.ESP, g.ID)
		}
	}
	return conn.ESP
}
