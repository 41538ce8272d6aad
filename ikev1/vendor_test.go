package ikev1

import (
	"testing"

	"ikegate/internal/vendorid"
	"ikegate/isakmp"
	"ikegate/policy"
)

// The catalogue itself is tested in internal/vendorid; here: the IDs the
// IKEv1 engine sends are known to it with the kinds readVIDs acts on, and
// readVIDs names the product.
func TestOurVIDsKnown(t *testing.T) {
	conn := &policy.Connection{XAuth: policy.XAuthLocal, Pool: "p"}
	for _, responder := range []bool{false, true} {
		for _, p := range ourVIDs(natTRFC, responder, conn) {
			v := p.(*isakmp.V1VendorID)
			e, ok := vendorid.Lookup(v.Data)
			if !ok || e.Product != "" {
				t.Errorf("responder=%v: we send %x: %+v, %v; want a known extension ID", responder, v.Data, e, ok)
			}
		}
	}
	for _, tc := range []struct {
		vid  []byte
		kind vendorid.Kind
	}{
		{VIDNATTRFC3947, vendorid.KindNATT}, {VIDNATTDraft02, vendorid.KindNATT}, {VIDNATTDraft02n, vendorid.KindNATT},
		{VIDNATTDraft03, vendorid.KindNATT}, {VIDDPD, vendorid.KindDPD}, {VIDFragmentation, vendorid.KindFragmentation},
		{VIDXAUTH, vendorid.KindXAUTH}, {VIDCiscoUnity, vendorid.KindUnity}, {VIDStrongSwan, vendorid.KindProduct},
	} {
		if got, ok := vendorid.Lookup(tc.vid); !ok || got.Kind != tc.kind {
			t.Errorf("Lookup(%x) = %+v, %v; want kind %v", tc.vid, got, ok, tc.kind)
		}
	}
}

func TestReadVIDs(t *testing.T) {
	vids := func(ids ...[]byte) []isakmp.V1Payload {
		var ps []isakmp.V1Payload
		for _, id := range ids {
			ps = append(ps, &isakmp.V1VendorID{Data: id})
		}
		return ps
	}
	for _, tc := range []struct {
		name      string
		ps        []isakmp.V1Payload
		product   string
		natT      natTVariant
		dpd, frag bool
	}{
		{"strongSwan default", vids(VIDXAUTH, VIDDPD, VIDFragmentation, VIDNATTRFC3947), vendorid.ProductStrongSwan, natTRFC, true, true},
		{"strongSwan send_vendor_id", vids(VIDStrongSwan, VIDDPD, VIDNATTDraft02n), vendorid.ProductStrongSwan, natTDraft, true, false},
		{"Libreswan", vids([]byte("OE-Libreswan-4.10"), VIDDPD), vendorid.ProductLibreswan, natTNone, true, false},
		{"nothing to tell", vids(VIDDPD), "", natTNone, true, false},
	} {
		sa := &p1SA{}
		(&Engine{}).readVIDs(sa, tc.ps)
		if sa.product != tc.product || sa.natT != tc.natT || sa.peerDPD != tc.dpd || sa.peerFrags != tc.frag {
			t.Errorf("%s: product %q natT %v dpd %v frags %v; want %q %v %v %v", tc.name,
				sa.product, sa.natT, sa.peerDPD, sa.peerFrags, tc.product, tc.natT, tc.dpd, tc.frag)
		}
	}
}
