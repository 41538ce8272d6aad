package oakley

import "encoding/binary"

// SKEYSEED returns prf(Ni | Nr, g^ir) (RFC 7296 section 2.14). For
// PRF_AES128_XCBC the key is the first 64 bits of Ni followed by the first
// 64 bits of Nr, as section 2.14 requires for fixed-key-size PRFs (all of
// Ni and Nr still go into prf+ through DeriveIKEKeys).
func SKEYSEED(p *PRF, ni, nr, gir []byte) []byte {
	var key []byte
	if p.id == PRFAES128XCBC {
		key = make([]byte, 0, 16)
		key = append(key, ni[:min(len(ni), 8)]...)
		key = append(key, nr[:min(len(nr), 8)]...)
	} else {
		key = make([]byte, 0, len(ni)+len(nr))
		key = append(key, ni...)
		key = append(key, nr...)
	}
	return p.Sum(key, gir)
}

// RekeySKEYSEED returns the SKEYSEED of a rekeyed IKE SA:
// prf(SK_d (old), g^ir (new) | Ni | Nr) (RFC 7296 section 2.18).
func RekeySKEYSEED(p *PRF, oldSKd, gir, ni, nr []byte) []byte {
	return p.Sum(oldSKd, gir, ni, nr)
}

// IKEKeys are the seven secrets of an IKE SA (RFC 7296 section 2.14).
type IKEKeys struct {
	SKd, SKai, SKar, SKei, SKer, SKpi, SKpr []byte
}

// DeriveIKEKeys splits prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) into
// SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr. SK_d, SK_pi and
// SK_pr take the PRF's preferred key length; encKeyLen is EncrKeyLen of the
// cipher (salt included for AES-CTR and the AEAD ciphers) and integKeyLen
// is IntegKeyLen of the integrity algorithm (0 with an AEAD cipher).
func DeriveIKEKeys(p *PRF, skeyseed, ni, nr []byte, spii, spir uint64, encKeyLen, integKeyLen int) IKEKeys {
	seed := make([]byte, 0, len(ni)+len(nr)+16)
	seed = append(seed, ni...)
	seed = append(seed, nr...)
	seed = binary.BigEndian.AppendUint64(seed, spii)
	seed = binary.BigEndian.AppendUint64(seed, spir)
	pk := p.KeyLen()
	km := PRFPlus(p, skeyseed, seed, 3*pk+2*integKeyLen+2*encKeyLen)
	next := func(n int) []byte {
		k := km[:n:n]
		km = km[n:]
		return k
	}
	var k IKEKeys
	k.SKd = next(pk)
	k.SKai = next(integKeyLen)
	k.SKar = next(integKeyLen)
	k.SKei = next(encKeyLen)
	k.SKer = next(encKeyLen)
	k.SKpi = next(pk)
	k.SKpr = next(pk)
	return k
}

// ChildKeymat returns n bytes of Child SA keying material (RFC 7296
// section 2.17): prf+(SK_d, Ni | Nr), or prf+(SK_d, g^ir (new) | Ni | Nr)
// when the CREATE_CHILD_SA exchange carried KE payloads (gir != nil).
func ChildKeymat(p *PRF, skd, gir, ni, nr []byte, n int) []byte {
	seed := make([]byte, 0, len(gir)+len(ni)+len(nr))
	seed = append(seed, gir...)
	seed = append(seed, ni...)
	seed = append(seed, nr...)
	return PRFPlus(p, skd, seed, n)
}

// keyPadIKEv2 is the fixed string of the shared-key AUTH computation.
var keyPadIKEv2 = []byte("Key Pad for IKEv2")

// PSKAuth returns the AUTH payload data for shared-key authentication
// (RFC 7296 section 2.15): prf(prf(Shared Secret, "Key Pad for IKEv2"),
// <SignedOctets>). It is also the EAP variant when psk is the MSK.
func PSKAuth(p *PRF, psk, signedOctets []byte) []byte {
	return p.Sum(p.Sum(psk, keyPadIKEv2), signedOctets)
}

// SignedOctets returns RealMessage | Nonce(peer) | prf(SK_p, RestOfIDPayload)
// (RFC 7296 section 2.15), the octets an AUTH payload covers. realMessage
// is the whole first message the signer sent (IKE_SA_INIT request for the
// initiator, response for the responder), peerNonce the other side's
// nonce data, skp the signer's SK_pi or SK_pr, and idPayloadBody the
// signer's ID payload from the ID Type field on (no generic header).
func SignedOctets(p *PRF, realMessage, peerNonce, skp, idPayloadBody []byte) []byte {
	mac := p.Sum(skp, idPayloadBody)
	out := make([]byte, 0, len(realMessage)+len(peerNonce)+len(mac))
	out = append(out, realMessage...)
	out = append(out, peerNonce...)
	return append(out, mac...)
}
