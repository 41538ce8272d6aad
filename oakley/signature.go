package oakley

// Public-key authentication for IKEv2's AUTH payload: the legacy methods of
// RFC 7296 3.8 (RSA Digital Signature) and RFC 4754 (ECDSA with a fixed
// hash and curve), and the Digital Signature method of RFC 7427, whose AUTH
// data names its own algorithm with an ASN.1 AlgorithmIdentifier. Ed25519
// follows RFC 8420 (method 14 with the "Identity" hash).

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	_ "crypto/sha1" // register crypto.SHA1
	_ "crypto/sha256"
	_ "crypto/sha512"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// IKEv2 authentication methods (RFC 7296 3.8, RFC 4754, RFC 7427).
const (
	AuthRSASig           uint8 = 1  // RSASSA-PKCS1-v1_5 with SHA-1 (RFC 7296)
	AuthSharedKeyMIC     uint8 = 2  // PSK (not a signature; see the PRF code)
	AuthDSS              uint8 = 3  // DSS with SHA-1: recognised, not supported
	AuthECDSA256         uint8 = 9  // ECDSA with SHA-256 on P-256, r||s (RFC 4754)
	AuthECDSA384         uint8 = 10 // ECDSA with SHA-384 on P-384, r||s (RFC 4754)
	AuthECDSA521         uint8 = 11 // ECDSA with SHA-512 on P-521, r||s (RFC 4754)
	AuthDigitalSignature uint8 = 14 // RFC 7427: AlgorithmIdentifier + signature
)

// Hash algorithm IDs of the SIGNATURE_HASH_ALGORITHMS notify (RFC 7427 4,
// IANA "IKEv2 Hash Algorithms"; 5 "Identity" is RFC 8420).
const (
	HashSHA1     uint16 = 1
	HashSHA256   uint16 = 2
	HashSHA384   uint16 = 3
	HashSHA512   uint16 = 4
	HashIdentity uint16 = 5
)

// ErrSignatureInvalid is wrapped by VerifyAuth's error when the AUTH data is
// well formed and of the right kind for the key, but the signature itself
// does not verify (wrong key, or the signed octets differ).
var ErrSignatureInvalid = errors.New("signature does not verify")

// SupportedSignatureHashes returns the hash algorithms we announce in
// SIGNATURE_HASH_ALGORITHMS: SHA2-256, SHA2-384, SHA2-512 and Identity.
func SupportedSignatureHashes() []uint16 {
	return []uint16{HashSHA256, HashSHA384, HashSHA512, HashIdentity}
}

// AuthMethodName names an IKEv2 authentication method for logs.
func AuthMethodName(m uint8) string {
	switch m {
	case AuthRSASig:
		return "RSA Digital Signature"
	case AuthSharedKeyMIC:
		return "Shared Key Message Integrity Code"
	case AuthDSS:
		return "DSS Digital Signature"
	case AuthECDSA256:
		return "ECDSA with SHA-256 on P-256"
	case AuthECDSA384:
		return "ECDSA with SHA-384 on P-384"
	case AuthECDSA521:
		return "ECDSA with SHA-512 on P-521"
	case AuthDigitalSignature:
		return "Digital Signature"
	}
	return fmt.Sprintf("AUTH_METHOD_%d", m)
}

// SignatureHashName names a SIGNATURE_HASH_ALGORITHMS value for logs.
func SignatureHashName(h uint16) string {
	switch h {
	case HashSHA1:
		return "SHA1"
	case HashSHA256:
		return "SHA2_256"
	case HashSHA384:
		return "SHA2_384"
	case HashSHA512:
		return "SHA2_512"
	case HashIdentity:
		return "IDENTITY"
	}
	return fmt.Sprintf("HASH_%d", h)
}

// Object identifiers.
var (
	oidSHA1WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	oidSHA256WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidRSASSAPSS     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidMGF1          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidSHA1          = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidECDSASHA256   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSASHA384   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSASHA512   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	oidEd25519       = asn1.ObjectIdentifier{1, 3, 101, 112}
)

// sigKeyKind is the kind of public key a signature algorithm needs.
type sigKeyKind uint8

const (
	sigKeyRSA sigKeyKind = iota + 1
	sigKeyECDSA
	sigKeyEd25519
)

func (k sigKeyKind) String() string {
	switch k {
	case sigKeyRSA:
		return "RSA"
	case sigKeyECDSA:
		return "ECDSA"
	case sigKeyEd25519:
		return "Ed25519"
	}
	return "unknown"
}

// sigAlg is a signature algorithm of RFC 7427 AUTH data.
type sigAlg struct {
	name    string
	key     sigKeyKind
	hash    crypto.Hash // 0 for Ed25519 (the message is signed whole)
	pss     bool
	saltLen int // RSASSA-PSS only
}

// pssParams is RSASSA-PSS-params (RFC 4055 3.1) as we send it: every field
// but the trailer explicit, so the encoding is that of RFC 7427 A.4.3.
type pssParams struct {
	Hash       pkix.AlgorithmIdentifier `asn1:"explicit,tag:0"`
	MGF        pkix.AlgorithmIdentifier `asn1:"explicit,tag:1"`
	SaltLength int                      `asn1:"explicit,tag:2"`
}

var hashOIDs = map[crypto.Hash]asn1.ObjectIdentifier{
	crypto.SHA1: oidSHA1, crypto.SHA256: oidSHA256, crypto.SHA384: oidSHA384, crypto.SHA512: oidSHA512,
}

var hashNames = map[crypto.Hash]string{
	crypto.SHA1: "SHA-1", crypto.SHA256: "SHA-256", crypto.SHA384: "SHA-384", crypto.SHA512: "SHA-512",
}

// algIDRSA returns the DER AlgorithmIdentifier for RSASSA-PKCS1-v1_5 with h
// (parameters NULL, RFC 7427 A.1).
func algIDRSA(h crypto.Hash) []byte {
	oid := map[crypto.Hash]asn1.ObjectIdentifier{
		crypto.SHA1: oidSHA1WithRSA, crypto.SHA256: oidSHA256WithRSA,
		crypto.SHA384: oidSHA384WithRSA, crypto.SHA512: oidSHA512WithRSA,
	}[h]
	return mustMarshal(pkix.AlgorithmIdentifier{Algorithm: oid, Parameters: asn1.NullRawValue})
}

// algIDECDSA returns the DER AlgorithmIdentifier for ECDSA with h
// (parameters absent, RFC 5758 3.2, RFC 7427 A.3).
func algIDECDSA(h crypto.Hash) []byte {
	oid := map[crypto.Hash]asn1.ObjectIdentifier{
		crypto.SHA256: oidECDSASHA256, crypto.SHA384: oidECDSASHA384, crypto.SHA512: oidECDSASHA512,
	}[h]
	return mustMarshal(pkix.AlgorithmIdentifier{Algorithm: oid})
}

// algIDEd25519 is id-Ed25519 with absent parameters (RFC 8410 3, RFC 8420).
func algIDEd25519() []byte {
	return mustMarshal(pkix.AlgorithmIdentifier{Algorithm: oidEd25519})
}

// algIDPSS returns the DER AlgorithmIdentifier for RSASSA-PSS with hash h,
// MGF1 with h and a salt as long as the hash (RFC 7427 A.4.3 for SHA-256).
func algIDPSS(h crypto.Hash) []byte {
	hashID := pkix.AlgorithmIdentifier{Algorithm: hashOIDs[h], Parameters: asn1.NullRawValue}
	p := pssParams{
		Hash:       hashID,
		MGF:        pkix.AlgorithmIdentifier{Algorithm: oidMGF1, Parameters: asn1.RawValue{FullBytes: mustMarshal(hashID)}},
		SaltLength: h.Size(),
	}
	return mustMarshal(pkix.AlgorithmIdentifier{
		Algorithm:  oidRSASSAPSS,
		Parameters: asn1.RawValue{FullBytes: mustMarshal(p)},
	})
}

func mustMarshal(v any) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		panic("oakley: marshalling a fixed ASN.1 value: " + err.Error())
	}
	return b
}

// SignAuth computes the AUTH payload data over the signed octets (RFC 7296
// 2.15) with key and returns it with the authentication method to send.
//
// If peerHashes (the peer's SIGNATURE_HASH_ALGORITHMS) is empty, or shares
// no hash with SupportedSignatureHashes, a legacy method is used: 1 for RSA
// keys (RSASSA-PKCS1-v1_5 with SHA-1; pss is ignored), 9/10/11 for ECDSA
// keys on P-256/P-384/P-521 (RFC 4754, raw r||s); Ed25519 keys have no
// legacy method and fail.
//
// Otherwise method 14 (RFC 7427) is used: RSA keys sign with the strongest
// common hash, as sha{256,384,512}WithRSAEncryption or, when pss is true,
// RSASSA-PSS (MGF1 with the same hash, salt as long as the hash); ECDSA keys
// sign with the hash matching the curve if the peer supports it (else the
// strongest common one), as a DER ECDSA-Sig-Value; Ed25519 keys need the
// peer to announce the Identity hash (RFC 8420).
func SignAuth(key crypto.Signer, peerHashes []uint16, pss bool, octets []byte, rand io.Reader) (method uint8, data []byte, err error) {
	if key == nil {
		return 0, nil, errors.New("sign AUTH: no private key")
	}
	common := commonHashes(peerHashes)
	switch pub := key.Public().(type) {
	case *rsa.PublicKey:
		if len(common) == 0 {
			sig, err := key.Sign(rand, digest(crypto.SHA1, octets), crypto.SHA1)
			if err != nil {
				return 0, nil, fmt.Errorf("sign AUTH method 1 (RSA, SHA-1): %w", err)
			}
			return AuthRSASig, sig, nil
		}
		h := common[0]
		var opts crypto.SignerOpts = h
		algID := algIDRSA(h)
		if pss {
			opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
			algID = algIDPSS(h)
		}
		sig, err := key.Sign(rand, digest(h, octets), opts)
		if err != nil {
			return 0, nil, fmt.Errorf("sign AUTH method 14 (RSA, %s): %w", hashNames[h], err)
		}
		return AuthDigitalSignature, method14Data(algID, sig), nil

	case *ecdsa.PublicKey:
		legacy, h, size, ok := ecdsaCurveParams(pub.Curve)
		if !ok {
			return 0, nil, fmt.Errorf("sign AUTH: unsupported ECDSA curve %s", curveName(pub.Curve))
		}
		if len(common) == 0 {
			der, err := key.Sign(rand, digest(h, octets), h)
			if err != nil {
				return 0, nil, fmt.Errorf("sign AUTH method %d (%s): %w", legacy, AuthMethodName(legacy), err)
			}
			raw, err := ecdsaDERToRaw(der, size)
			if err != nil {
				return 0, nil, fmt.Errorf("sign AUTH method %d: %w", legacy, err)
			}
			return legacy, raw, nil
		}
		if !containsHash(common, h) {
			h = common[0]
		}
		der, err := key.Sign(rand, digest(h, octets), h)
		if err != nil {
			return 0, nil, fmt.Errorf("sign AUTH method 14 (ECDSA, %s): %w", hashNames[h], err)
		}
		return AuthDigitalSignature, method14Data(algIDECDSA(h), der), nil

	case ed25519.PublicKey:
		if !containsU16(peerHashes, HashIdentity) {
			return 0, nil, errors.New("sign AUTH: an Ed25519 key needs RFC 7427/8420 signature authentication, " +
				"but the peer did not announce the Identity hash in SIGNATURE_HASH_ALGORITHMS")
		}
		sig, err := key.Sign(rand, octets, crypto.Hash(0))
		if err != nil {
			return 0, nil, fmt.Errorf("sign AUTH method 14 (Ed25519): %w", err)
		}
		return AuthDigitalSignature, method14Data(algIDEd25519(), sig), nil
	}
	return 0, nil, fmt.Errorf("sign AUTH: unsupported private key type %T", key.Public())
}

// commonHashes returns the SHA-2 hashes both we and the peer support,
// strongest first.
func commonHashes(peer []uint16) []crypto.Hash {
	var out []crypto.Hash
	for _, c := range []struct {
		id uint16
		h  crypto.Hash
	}{{HashSHA512, crypto.SHA512}, {HashSHA384, crypto.SHA384}, {HashSHA256, crypto.SHA256}} {
		if containsU16(peer, c.id) {
			out = append(out, c.h)
		}
	}
	return out
}

func containsU16(s []uint16, v uint16) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func containsHash(s []crypto.Hash, v crypto.Hash) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func digest(h crypto.Hash, msg []byte) []byte {
	d := h.New()
	d.Write(msg)
	return d.Sum(nil)
}

func method14Data(algID, sig []byte) []byte {
	out := make([]byte, 0, 1+len(algID)+len(sig))
	out = append(out, byte(len(algID)))
	out = append(out, algID...)
	return append(out, sig...)
}

// ecdsaCurveParams returns the RFC 4754 method, hash and scalar size in
// bytes for a curve.
func ecdsaCurveParams(c elliptic.Curve) (method uint8, h crypto.Hash, size int, ok bool) {
	switch c {
	case elliptic.P256():
		return AuthECDSA256, crypto.SHA256, 32, true
	case elliptic.P384():
		return AuthECDSA384, crypto.SHA384, 48, true
	case elliptic.P521():
		return AuthECDSA521, crypto.SHA512, 66, true
	}
	return 0, 0, 0, false
}

func curveName(c elliptic.Curve) string {
	if c == nil || c.Params() == nil {
		return "(none)"
	}
	return c.Params().Name
}

type ecdsaSigValue struct {
	R, S *big.Int
}

// ecdsaDERToRaw converts a DER ECDSA-Sig-Value to RFC 4754's fixed-width
// r||s.
func ecdsaDERToRaw(der []byte, size int) ([]byte, error) {
	var v ecdsaSigValue
	rest, err := asn1.Unmarshal(der, &v)
	if err != nil || len(rest) != 0 || v.R == nil || v.S == nil || v.R.Sign() <= 0 || v.S.Sign() <= 0 {
		return nil, errors.New("signer returned a malformed ECDSA signature")
	}
	if v.R.BitLen() > 8*size || v.S.BitLen() > 8*size {
		return nil, errors.New("signer returned an ECDSA signature too large for the curve")
	}
	out := make([]byte, 2*size)
	v.R.FillBytes(out[:size])
	v.S.FillBytes(out[size:])
	return out, nil
}

// describeKey names a public key for errors: "RSA-2048 public key".
func describeKey(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return "empty RSA public key"
		}
		return fmt.Sprintf("RSA-%d public key", k.N.BitLen())
	case *ecdsa.PublicKey:
		if k == nil {
			return "empty ECDSA public key"
		}
		return fmt.Sprintf("ECDSA %s public key", curveName(k.Curve))
	case ed25519.PublicKey:
		return "Ed25519 public key"
	case nil:
		return "no public key"
	}
	return fmt.Sprintf("%T public key", pub)
}

// VerifyAuth checks AUTH payload data of the given method against the
// peer's public key (from its certificate) over the signed octets.
//
// Methods 1 (RSASSA-PKCS1-v1_5 with SHA-1), 9, 10 and 11 (RFC 4754, r||s)
// and 14 (RFC 7427) are supported. For method 14 the data is a 1-octet
// length, a DER AlgorithmIdentifier and the signature; accepted algorithms
// are sha{1,256,384,512}WithRSAEncryption, RSASSA-PSS (hash, MGF1 hash and
// salt length from its parameters; the MGF1 hash must equal the hash),
// ecdsa-with-SHA{256,384,512} (DER ECDSA-Sig-Value) and Ed25519. The key
// type must match the algorithm. A signature that is well formed but wrong
// yields an error wrapping ErrSignatureInvalid.
func VerifyAuth(pub crypto.PublicKey, method uint8, data, octets []byte) error {
	switch method {
	case AuthRSASig:
		k, err := rsaKey(pub)
		if err != nil {
			return fmt.Errorf("AUTH method 1 (RSA Digital Signature): %w", err)
		}
		if err := rsa.VerifyPKCS1v15(k, crypto.SHA1, digest(crypto.SHA1, octets), data); err != nil {
			return fmt.Errorf("AUTH method 1 (RSASSA-PKCS1-v1_5 with SHA-1) with %s: %w", describeKey(pub), ErrSignatureInvalid)
		}
		return nil

	case AuthECDSA256, AuthECDSA384, AuthECDSA521:
		return verifyLegacyECDSA(pub, method, data, octets)

	case AuthDigitalSignature:
		return verifyMethod14(pub, data, octets)

	case AuthSharedKeyMIC:
		return errors.New("AUTH method 2 (shared key MIC) is not a signature method")
	case AuthDSS:
		return errors.New("AUTH method 3 (DSS Digital Signature) is not supported")
	}
	return fmt.Errorf("AUTH method %d is not a supported signature method", method)
}

func rsaKey(pub crypto.PublicKey) (*rsa.PublicKey, error) {
	k, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("needs an RSA public key, have %s", describeKey(pub))
	}
	if k == nil || k.N == nil || k.N.Sign() <= 0 || k.E < 2 {
		return nil, errors.New("RSA public key is empty or invalid")
	}
	return k, nil
}

func ecdsaKeyOK(k *ecdsa.PublicKey) bool {
	return k != nil && k.Curve != nil && k.X != nil && k.Y != nil
}

func verifyLegacyECDSA(pub crypto.PublicKey, method uint8, data, octets []byte) error {
	prefix := fmt.Sprintf("AUTH method %d (%s)", method, AuthMethodName(method))
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return fmt.Errorf("%s: needs an ECDSA public key, have %s", prefix, describeKey(pub))
	}
	if !ecdsaKeyOK(k) {
		return fmt.Errorf("%s: ECDSA public key is empty", prefix)
	}
	m, h, size, ok := ecdsaCurveParams(k.Curve)
	if !ok || m != method {
		return fmt.Errorf("%s: does not match %s", prefix, describeKey(pub))
	}
	if len(data) != 2*size {
		return fmt.Errorf("%s: signature is %d octets, want %d (r||s)", prefix, len(data), 2*size)
	}
	r := new(big.Int).SetBytes(data[:size])
	s := new(big.Int).SetBytes(data[size:])
	if !ecdsa.Verify(k, digest(h, octets), r, s) {
		return fmt.Errorf("%s with %s: %w", prefix, describeKey(pub), ErrSignatureInvalid)
	}
	return nil
}

func verifyMethod14(pub crypto.PublicKey, data, octets []byte) error {
	const prefix = "AUTH method 14"
	if len(data) < 1 {
		return fmt.Errorf("%s: AUTH data is empty", prefix)
	}
	n := int(data[0])
	if n == 0 {
		return fmt.Errorf("%s: AlgorithmIdentifier length is zero", prefix)
	}
	if 1+n > len(data) {
		return fmt.Errorf("%s: AlgorithmIdentifier length %d exceeds the %d octets of AUTH data", prefix, n, len(data)-1)
	}
	alg, err := parseSigAlgID(data[1 : 1+n])
	if err != nil {
		return fmt.Errorf("%s: %w", prefix, err)
	}
	sig := data[1+n:]
	if len(sig) == 0 {
		return fmt.Errorf("%s: algorithm %s: signature is empty", prefix, alg.name)
	}
	mismatch := func() error {
		return fmt.Errorf("%s: algorithm %s does not match %s", prefix, alg.name, describeKey(pub))
	}
	fail := func() error {
		return fmt.Errorf("%s: algorithm %s with %s: %w", prefix, alg.name, describeKey(pub), ErrSignatureInvalid)
	}
	switch alg.key {
	case sigKeyRSA:
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return mismatch()
		}
		if _, err := rsaKey(k); err != nil {
			return fmt.Errorf("%s: %w", prefix, err)
		}
		d := digest(alg.hash, octets)
		if alg.pss {
			// SaltLength 0 is Go's "auto-detect"; a peer announcing salt 0
			// is then accepted with any salt, which weakens nothing.
			err = rsa.VerifyPSS(k, alg.hash, d, sig, &rsa.PSSOptions{SaltLength: alg.saltLen, Hash: alg.hash})
		} else {
			err = rsa.VerifyPKCS1v15(k, alg.hash, d, sig)
		}
		if err != nil {
			return fail()
		}
		return nil
	case sigKeyECDSA:
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return mismatch()
		}
		if !ecdsaKeyOK(k) {
			return fmt.Errorf("%s: ECDSA public key is empty", prefix)
		}
		if !ecdsa.VerifyASN1(k, digest(alg.hash, octets), sig) {
			return fail()
		}
		return nil
	case sigKeyEd25519:
		k, ok := pub.(ed25519.PublicKey)
		if !ok {
			return mismatch()
		}
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("%s: Ed25519 public key is %d octets, want %d", prefix, len(k), ed25519.PublicKeySize)
		}
		if !ed25519.Verify(k, octets, sig) {
			return fail()
		}
		return nil
	}
	return mismatch()
}

// readAlgID reads one DER AlgorithmIdentifier from s and returns its OID
// and its raw parameters (empty when absent).
func readAlgID(s *cryptobyte.String) (oid asn1.ObjectIdentifier, params cryptobyte.String, ok bool) {
	var ai cryptobyte.String
	if !s.ReadASN1(&ai, casn1.SEQUENCE) || !ai.ReadASN1ObjectIdentifier(&oid) {
		return nil, nil, false
	}
	return oid, ai, true
}

// nullOrAbsent reports whether AlgorithmIdentifier parameters are absent or
// an ASN.1 NULL.
func nullOrAbsent(params cryptobyte.String) bool {
	return len(params) == 0 || (len(params) == 2 && params[0] == 0x05 && params[1] == 0x00)
}

// parseSigAlgID parses the DER AlgorithmIdentifier of RFC 7427 AUTH data.
func parseSigAlgID(der []byte) (sigAlg, error) {
	in := cryptobyte.String(der)
	oid, params, ok := readAlgID(&in)
	if !ok {
		return sigAlg{}, fmt.Errorf("malformed AlgorithmIdentifier %x", der)
	}
	if !in.Empty() {
		return sigAlg{}, fmt.Errorf("AlgorithmIdentifier is followed by %d stray octets inside its stated length", len(in))
	}
	simple := func(name string, key sigKeyKind, h crypto.Hash) (sigAlg, error) {
		if !nullOrAbsent(params) {
			return sigAlg{}, fmt.Errorf("algorithm %s has unexpected parameters %x", name, []byte(params))
		}
		return sigAlg{name: name, key: key, hash: h}, nil
	}
	switch {
	case oid.Equal(oidSHA1WithRSA):
		return simple("sha1WithRSAEncryption", sigKeyRSA, crypto.SHA1)
	case oid.Equal(oidSHA256WithRSA):
		return simple("sha256WithRSAEncryption", sigKeyRSA, crypto.SHA256)
	case oid.Equal(oidSHA384WithRSA):
		return simple("sha384WithRSAEncryption", sigKeyRSA, crypto.SHA384)
	case oid.Equal(oidSHA512WithRSA):
		return simple("sha512WithRSAEncryption", sigKeyRSA, crypto.SHA512)
	case oid.Equal(oidECDSASHA256):
		return simple("ecdsa-with-SHA256", sigKeyECDSA, crypto.SHA256)
	case oid.Equal(oidECDSASHA384):
		return simple("ecdsa-with-SHA384", sigKeyECDSA, crypto.SHA384)
	case oid.Equal(oidECDSASHA512):
		return simple("ecdsa-with-SHA512", sigKeyECDSA, crypto.SHA512)
	case oid.Equal(oidEd25519):
		return simple("Ed25519", sigKeyEd25519, 0)
	case oid.Equal(oidRSASSAPSS):
		return parsePSS(params)
	}
	return sigAlg{}, fmt.Errorf("unsupported signature algorithm %s", oid)
}

// parsePSS parses RSASSA-PSS-params (RFC 4055 3.1), applying its defaults
// (SHA-1, MGF1 with SHA-1, salt 20, trailer 1) to absent fields:
//
//	RSASSA-PSS-params ::= SEQUENCE {
//	    hashAlgorithm      [0] HashAlgorithm DEFAULT sha1Identifier,
//	    maskGenAlgorithm   [1] MaskGenAlgorithm DEFAULT mgf1SHA1Identifier,
//	    saltLength         [2] INTEGER DEFAULT 20,
//	    trailerField       [3] INTEGER DEFAULT 1 }
func parsePSS(params cryptobyte.String) (sigAlg, error) {
	h, mgfHash := crypto.SHA1, crypto.SHA1
	salt, trailer := int64(20), int64(1)
	if len(params) != 0 {
		// Absent parameters (RFC 4055 wants them for signatures) can only
		// mean the defaults; present ones must be exactly one SEQUENCE.
		var seq cryptobyte.String
		if !params.ReadASN1(&seq, casn1.SEQUENCE) || !params.Empty() {
			return sigAlg{}, errors.New("algorithm RSASSA-PSS: malformed parameters")
		}
		var err error
		tag := func(n uint8) casn1.Tag { return casn1.Tag(n).Constructed().ContextSpecific() }
		if seq.PeekASN1Tag(tag(0)) {
			var f cryptobyte.String
			seq.ReadASN1(&f, tag(0))
			if h, err = pssHash(&f, "hash"); err != nil {
				return sigAlg{}, err
			}
		}
		if seq.PeekASN1Tag(tag(1)) {
			var f cryptobyte.String
			seq.ReadASN1(&f, tag(1))
			oid, mgfParams, ok := readAlgID(&f)
			if !ok || !f.Empty() {
				return sigAlg{}, errors.New("algorithm RSASSA-PSS: malformed mask generation function")
			}
			if !oid.Equal(oidMGF1) {
				return sigAlg{}, fmt.Errorf("algorithm RSASSA-PSS: unsupported mask generation function %s (want MGF1)", oid)
			}
			if mgfHash, err = pssHash(&mgfParams, "MGF1 hash"); err != nil {
				return sigAlg{}, err
			}
		}
		if seq.PeekASN1Tag(tag(2)) {
			var f cryptobyte.String
			seq.ReadASN1(&f, tag(2))
			if !f.ReadASN1Integer(&salt) || !f.Empty() {
				return sigAlg{}, errors.New("algorithm RSASSA-PSS: malformed salt length")
			}
		}
		if seq.PeekASN1Tag(tag(3)) {
			var f cryptobyte.String
			seq.ReadASN1(&f, tag(3))
			if !f.ReadASN1Integer(&trailer) || !f.Empty() {
				return sigAlg{}, errors.New("algorithm RSASSA-PSS: malformed trailer field")
			}
		}
		if !seq.Empty() {
			return sigAlg{}, errors.New("algorithm RSASSA-PSS: unexpected or misordered fields in the parameters")
		}
	}
	if mgfHash != h {
		return sigAlg{}, fmt.Errorf("algorithm RSASSA-PSS with %s and MGF1 with %s: a different MGF1 hash is not supported",
			hashNames[h], hashNames[mgfHash])
	}
	if salt < 0 || salt > 1024 {
		return sigAlg{}, fmt.Errorf("algorithm RSASSA-PSS: invalid salt length %d", salt)
	}
	if trailer != 1 {
		return sigAlg{}, fmt.Errorf("algorithm RSASSA-PSS: unsupported trailer field %d (want 1)", trailer)
	}
	return sigAlg{
		name:    fmt.Sprintf("RSASSA-PSS(%s, MGF1-%s, salt %d)", hashNames[h], hashNames[mgfHash], salt),
		key:     sigKeyRSA,
		hash:    h,
		pss:     true,
		saltLen: int(salt),
	}, nil
}

// pssHash reads the one hash AlgorithmIdentifier that s must hold.
func pssHash(s *cryptobyte.String, what string) (crypto.Hash, error) {
	oid, params, ok := readAlgID(s)
	if !ok || !s.Empty() {
		return 0, fmt.Errorf("algorithm RSASSA-PSS: malformed %s", what)
	}
	if !nullOrAbsent(params) {
		return 0, fmt.Errorf("algorithm RSASSA-PSS: %s %s has unexpected parameters", what, oid)
	}
	for h, hoid := range hashOIDs {
		if oid.Equal(hoid) {
			return h, nil
		}
	}
	return 0, fmt.Errorf("algorithm RSASSA-PSS: unsupported %s %s", what, oid)
}
