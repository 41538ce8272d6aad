package ikev1

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"ikegate/isakmp"
	"ikegate/oakley"
	"ikegate/policy"
)

// integForHash is the integrity transform that IKEv1's negotiated hash
// stands for when phase 1 proposals are compared with IKEv2-style ones.
var integForHash = map[uint16]uint16{
	oakley.V1HashMD5:     oakley.IntegHMACMD5_96,
	oakley.V1HashSHA1:    oakley.IntegHMACSHA1_96,
	oakley.V1HashSHA2256: oakley.IntegHMACSHA2_256,
	oakley.V1HashSHA2384: oakley.IntegHMACSHA2_384,
	oakley.V1HashSHA2512: oakley.IntegHMACSHA2_512,
}

func authMethod(conn *policy.Connection) uint16 {
	if conn.Auth == policy.AuthPubkey {
		return oakley.V1AuthRSASig
	}
	return oakley.V1AuthPSK
}

// offeredAuth is the authentication method our phase 1 proposals carry:
// the XAUTH variant when the connection has xauth (we are the client).
func offeredAuth(conn *policy.Connection) uint16 {
	switch {
	case conn.XAuth == policy.XAuthNone:
		return authMethod(conn)
	case conn.Auth == policy.AuthPubkey:
		return oakley.V1AuthXAUTHInitRSA
	}
	return oakley.V1AuthXAUTHInitPreShared
}

// acceptsAuth reports whether conn, as responder, takes a peer's phase 1
// authentication method: its own (PSK or RSA signatures), or, with xauth
// set, the XAUTH variant of it that a client offers (XAUTHInitPreShared,
// XAUTHInitRSA) and only that.
func acceptsAuth(conn *policy.Connection, m uint16) bool {
	if conn.XAuth == policy.XAuthNone {
		return m == authMethod(conn)
	}
	switch m {
	case oakley.V1AuthXAUTHInitPreShared:
		return conn.Auth == policy.AuthPSK
	case oakley.V1AuthXAUTHInitRSA:
		return conn.Auth == policy.AuthPubkey
	}
	return false
}

// baseAuth is the method that authenticates phase 1 and derives its keys
// for an authentication method, XAUTH variants included.
func baseAuth(m uint16) uint16 {
	switch m {
	case oakley.V1AuthXAUTHInitPreShared, oakley.V1AuthXAUTHRespPreShared:
		return oakley.V1AuthPSK
	case oakley.V1AuthXAUTHInitRSA, oakley.V1AuthXAUTHRespRSA:
		return oakley.V1AuthRSASig
	}
	return m
}

// authName names an IKEv1 authentication method for explanations.
func authName(m uint16) string {
	switch m {
	case oakley.V1AuthPSK:
		return "pre-shared key (1)"
	case oakley.V1AuthRSASig:
		return "RSA signatures (3)"
	case oakley.V1AuthXAUTHInitPreShared:
		return "XAUTHInitPreShared (65001)"
	case oakley.V1AuthXAUTHInitRSA:
		return "XAUTHInitRSA (65005)"
	}
	return fmt.Sprintf("method %d", m)
}

// phase1Transforms turns conn's IKE proposals into ISAKMP transforms, one
// per proposal (each configured proposal lists one algorithm of a kind).
func phase1Transforms(conn *policy.Connection) ([]isakmp.V1Transform, error) {
	life := conn.IKELifetime
	if life == 0 {
		life = 8 * time.Hour
	}
	var out []isakmp.V1Transform
	for i, p := range conn.IKE {
		encr, _ := p.First(oakley.TransformENCR)
		prf, _ := p.First(oakley.TransformPRF)
		dh, _ := p.First(oakley.TransformDH)
		encID, keyLen, err := oakley.V1EncrFromTransform(encr)
		if err != nil {
			return nil, fmt.Errorf("proposal %s: %w", p, err)
		}
		hash, err := oakley.V1HashFromPRF(prf.ID)
		if err != nil {
			return nil, fmt.Errorf("proposal %s: %w", p, err)
		}
		attrs := []isakmp.Attribute{isakmp.V1AttrTV(isakmp.V1IKEAttrEncryption, encID)}
		if keyLen != 0 {
			attrs = append(attrs, isakmp.V1AttrTV(isakmp.V1IKEAttrKeyLength, keyLen))
		}
		attrs = append(attrs,
			isakmp.V1AttrTV(isakmp.V1IKEAttrHash, hash),
			isakmp.V1AttrTV(isakmp.V1IKEAttrAuthMethod, offeredAuth(conn)),
			isakmp.V1AttrTV(isakmp.V1IKEAttrGroupDesc, dh.ID),
			isakmp.V1AttrTV(isakmp.V1IKEAttrLifeType, isakmp.V1LifeSeconds),
			isakmp.V1AttrUint(isakmp.V1IKEAttrLifeDuration, uint64(life/time.Second)),
		)
		out = append(out, isakmp.V1Transform{Num: uint8(i + 1), ID: isakmp.V1KeyIKE, Attrs: attrs})
	}
	return out, nil
}

// phase1Offer is one peer transform read back into our terms.
type phase1Offer struct {
	prop     oakley.Proposal
	auth     uint16
	lifetime time.Duration
	hash     uint16
	wire     isakmp.V1Transform
	err      error // why it cannot be used at all
}

func readPhase1Transform(t isakmp.V1Transform) phase1Offer {
	o := phase1Offer{wire: t}
	var enc, keyLen, hash, group uint16
	lifeType := isakmp.V1LifeSeconds
	for _, a := range t.Attrs {
		v, err := a.Uint64()
		if err != nil {
			o.err = err
			return o
		}
		switch a.Type {
		case isakmp.V1IKEAttrEncryption:
			enc = uint16(v)
		case isakmp.V1IKEAttrKeyLength:
			keyLen = uint16(v)
		case isakmp.V1IKEAttrHash:
			hash = uint16(v)
		case isakmp.V1IKEAttrAuthMethod:
			o.auth = uint16(v)
		case isakmp.V1IKEAttrGroupDesc:
			group = uint16(v)
		case isakmp.V1IKEAttrLifeType:
			lifeType = uint16(v)
		case isakmp.V1IKEAttrLifeDuration:
			if lifeType == isakmp.V1LifeSeconds {
				o.lifetime = time.Duration(v) * time.Second
			}
		}
	}
	o.hash = hash
	encT, err := oakley.V1EncrToTransform(enc, keyLen)
	if err != nil {
		o.err = err
		return o
	}
	prfID, err := oakley.V1HashToPRF(hash)
	if err != nil {
		o.err = err
		return o
	}
	o.prop = oakley.Proposal{Transforms: []oakley.Transform{
		encT,
		{Type: oakley.TransformPRF, ID: prfID},
		{Type: oakley.TransformINTEG, ID: integForHash[hash]},
		{Type: oakley.TransformDH, ID: group},
	}}
	return o
}

// selectPhase1 picks the first peer transform (in our order of
// preference) that conn accepts, or explains why none is acceptable.
func selectPhase1(conn *policy.Connection, sa *isakmp.V1SA) (phase1Offer, string, bool) {
	var offers []phase1Offer
	var props []oakley.Proposal
	var methods []string // what the peer offered, for the explanation
	for _, p := range sa.Proposals {
		if p.ProtocolID != isakmp.V1ProtocolISAKMP {
			continue
		}
		for _, t := range p.Transforms {
			o := readPhase1Transform(t)
			if o.err == nil && !slices.Contains(methods, authName(o.auth)) {
				methods = append(methods, authName(o.auth))
			}
			if o.err != nil || !acceptsAuth(conn, o.auth) {
				continue
			}
			offers = append(offers, o)
			props = append(props, o.prop)
		}
	}
	if len(offers) == 0 {
		want := authName(authMethod(conn))
		hint := ""
		switch {
		case conn.XAuth != policy.XAuthNone && conn.Auth == policy.AuthPSK:
			want, hint = authName(oakley.V1AuthXAUTHInitPreShared), " (xauth is set: the client must do XAUTH)"
		case conn.XAuth != policy.XAuthNone:
			want, hint = authName(oakley.V1AuthXAUTHInitRSA), " (xauth is set: the client must do XAUTH)"
		case slices.Contains(methods, authName(oakley.V1AuthXAUTHInitPreShared)) || slices.Contains(methods, authName(oakley.V1AuthXAUTHInitRSA)):
			hint = " (the peer wants XAUTH: set xauth on the connection)"
		}
		return phase1Offer{}, fmt.Sprintf("peer offered authentication by %s; connection %q (auth = %s) takes %s%s",
			strings.Join(methods, ", "), conn.Name, conn.Auth, want, hint), false
	}
	sel, ok := oakley.Select(conn.IKE, props, oakley.MatchOptions{})
	if !ok {
		return phase1Offer{}, oakley.Explain(conn.IKE, props, oakley.MatchOptions{}), false
	}
	return offers[sel.PeerIndex], "", true
}

// phase2Transforms builds the ESP transforms of a Quick Mode offer of
// proposals esp (conn's, or offeredESP's) with conn's lifetimes.
func phase2Transforms(conn *policy.Connection, esp []oakley.Proposal, encap uint16) ([]isakmp.V1Transform, uint16, error) {
	life := conn.ChildLifetime
	if life == 0 {
		life = time.Hour
	}
	var out []isakmp.V1Transform
	var pfs uint16
	for i, p := range esp {
		encr, _ := p.First(oakley.TransformENCR)
		attrs := lifetimeAttrs(life, conn.ChildLifetimeBytes)
		attrs = append(attrs, isakmp.V1AttrTV(isakmp.V1IPsecAttrEncapsulationMode, encap))
		if integ, ok := p.First(oakley.TransformINTEG); ok && integ.ID != oakley.IntegNone {
			auth, err := oakley.V1ESPAuthFromInteg(integ.ID)
			if err != nil {
				return nil, 0, fmt.Errorf("ESP proposal %s: %w", p, err)
			}
			attrs = append(attrs, isakmp.V1AttrTV(isakmp.V1IPsecAttrAuthAlg, auth))
		}
		if encr.KeyLen != 0 {
			attrs = append(attrs, isakmp.V1AttrTV(isakmp.V1IPsecAttrKeyLength, encr.KeyLen))
		}
		if dh, ok := p.First(oakley.TransformDH); ok && dh.ID != oakley.DHNone {
			attrs = append(attrs, isakmp.V1AttrTV(isakmp.V1IPsecAttrGroupDesc, dh.ID))
			if pfs == 0 {
				pfs = dh.ID
			}
		}
		out = append(out, isakmp.V1Transform{Num: uint8(i + 1), ID: uint8(encr.ID), Attrs: attrs})
	}
	return out, pfs, nil
}

// phase2Offer is one peer ESP transform in our terms.
type phase2Offer struct {
	prop      oakley.Proposal
	encap     uint16
	lifetime  time.Duration
	kilobytes uint64
	wire      isakmp.V1Transform
	spi       []byte
	num       uint8
	err       error
}

func readPhase2Transform(p isakmp.V1Proposal, t isakmp.V1Transform) phase2Offer {
	o := phase2Offer{wire: t, spi: p.SPI, num: p.Num, encap: isakmp.V1EncapTunnel}
	encr := oakley.Transform{Type: oakley.TransformENCR, ID: uint16(t.ID)}
	prop := oakley.Proposal{}
	lifeType := isakmp.V1LifeSeconds
	for _, a := range t.Attrs {
		v, err := a.Uint64()
		if err != nil {
			o.err = err
			return o
		}
		switch a.Type {
		case isakmp.V1IPsecAttrKeyLength:
			encr.KeyLen = uint16(v)
		case isakmp.V1IPsecAttrAuthAlg:
			integ, err := oakley.V1ESPAuthToInteg(uint16(v))
			if err != nil {
				o.err = err
				return o
			}
			prop.Transforms = append(prop.Transforms, oakley.Transform{Type: oakley.TransformINTEG, ID: integ})
		case isakmp.V1IPsecAttrGroupDesc:
			prop.Transforms = append(prop.Transforms, oakley.Transform{Type: oakley.TransformDH, ID: uint16(v)})
		case isakmp.V1IPsecAttrEncapsulationMode:
			o.encap = uint16(v)
		case isakmp.V1IPsecAttrLifeType:
			lifeType = uint16(v)
		case isakmp.V1IPsecAttrLifeDuration:
			if lifeType == isakmp.V1LifeSeconds {
				o.lifetime = time.Duration(v) * time.Second
			} else {
				o.kilobytes = v
			}
		}
	}
	if encr.ID == oakley.Encr3DES {
		encr.KeyLen = 0
	}
	o.prop = oakley.Proposal{Transforms: append([]oakley.Transform{encr}, prop.Transforms...)}
	return o
}

// lifetimeAttrs are the IPsec SA lifetime attributes: seconds and, with a
// byte limit, kilobytes (RFC 2407 4.5: a life type, then its duration).
func lifetimeAttrs(life time.Duration, bytes uint64) []isakmp.Attribute {
	attrs := []isakmp.Attribute{
		isakmp.V1AttrTV(isakmp.V1IPsecAttrLifeType, isakmp.V1LifeSeconds),
		isakmp.V1AttrUint(isakmp.V1IPsecAttrLifeDuration, uint64(life/time.Second)),
	}
	if kb := bytes / 1024; kb > 0 {
		attrs = append(attrs,
			isakmp.V1AttrTV(isakmp.V1IPsecAttrLifeType, isakmp.V1LifeKilobytes),
			isakmp.V1AttrUint(isakmp.V1IPsecAttrLifeDuration, kb))
	}
	return attrs
}

// shorter returns the smaller non-zero limit (zero means none).
func shorter[T time.Duration | uint64](a, b T) T {
	switch {
	case a == 0:
		return b
	case b == 0 || a < b:
		return a
	}
	return b
}
