// Package esp implements ESP (RFC 4303) in tunnel mode for the userspace
// dataplane: one SA direction built from the keys an IKE engine derived,
// Encapsulate for outbound packets and Decapsulate (with anti-replay) for
// inbound ones. It is pure: no sockets, no clocks.
//
// Suites: AES-GCM with 8, 12 and 16-byte ICVs (RFC 4106), ChaCha20-Poly1305
// (RFC 7634), AES-CBC (RFC 3602) and 3DES-CBC (RFC 2451) with
// HMAC-SHA1-96 (RFC 2404), HMAC-MD5-96 (RFC 2403) or HMAC-SHA2-256/384/512
// (RFC 4868). Sequence numbers are 32 bits (no ESN). All crypto is Go's
// (crypto/aes, crypto/cipher, crypto/des, crypto/hmac and
// golang.org/x/crypto/chacha20poly1305).
//
// An SA is safe for concurrent use: the outbound sequence number is an
// atomic counter, the replay window has its own mutex, the cipher state
// is built once on first use, and per-call state comes from a pool (a
// per-SA one for the CBC modes and HMAC, a shared one for the AEADs'
// nonces). An SA holds about 160 bytes until its first packet (its key,
// no cipher state, no anti-replay window). With a destination
// buffer of sufficient capacity (see Overhead), Encapsulate and Decapsulate
// do not allocate, except Decapsulate for AES-GCM with an 8-byte ICV (Go's
// GCM cannot open truncated tags, so the tag is recomputed).
package esp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/chacha20poly1305"

	"ikegate/oakley"
)

// Errors returned by Encapsulate and Decapsulate. Each failed Decapsulate
// is counted under one of the Counters fields.
var (
	ErrTruncated     = errors.New("esp: packet too short or misaligned")
	ErrWrongSPI      = errors.New("esp: SPI does not belong to this SA")
	ErrReplay        = errors.New("esp: replayed or too old sequence number")
	ErrAuth          = errors.New("esp: integrity check failed")
	ErrPadding       = errors.New("esp: bad padding")
	ErrNextHeader    = errors.New("esp: next header is neither IPv4 (4) nor IPv6 (41)")
	ErrDummy         = errors.New("esp: dummy packet (next header 59)")
	ErrSeqExhausted  = errors.New("esp: sequence number space exhausted, the SA must be rekeyed")
	ErrNotIP         = errors.New("esp: inner packet is neither IPv4 nor IPv6")
	ErrWrongDir      = errors.New("esp: wrong direction for this SA")
	errNotSupported  = errors.New("not supported by the userspace ESP dataplane")
	errAEADWithInteg = errors.New("an AEAD takes no integrity algorithm")
)

// Next header values in tunnel mode.
const (
	NextHeaderIPv4  = 4
	NextHeaderIPv6  = 41
	NextHeaderDummy = 59
)

const (
	hdrLen    = 8 // SPI + sequence number
	maxICVLen = 32
	maxSeq    = 1<<32 - 1
)

// Counters are one SA's packet counters. Bytes count inner (plaintext)
// packets.
type Counters struct {
	Packets, Bytes uint64 // accepted (inbound) or sent (outbound)
	ReplayDrops    uint64 // replayed, too old or sequence number zero
	AuthFailures   uint64 // ICV mismatch
	PadErrors      uint64 // bad padding or next header
	Malformed      uint64 // truncated, misaligned or wrong SPI
	Errors         uint64 // outbound: sequence numbers exhausted, not IP
}

type counters struct {
	packets, bytes, replay, auth, pad, malformed, errs atomic.Uint64
}

// SA is one direction of an ESP security association.
//
// Its cipher state (for AES-GCM the key schedule and GHASH table, about
// 770 bytes) is built from the key on the SA's first packet, and its
// anti-replay window (inbound, about 270 bytes) on the first packet
// accepted: an SA that carries no traffic, as most of a concentrator's
// idle clients' do not most of the time, holds its key and little else.
type SA struct {
	spi     uint32
	inbound bool
	gcm8    bool // AES-GCM with an 8-byte ICV: the AEAD has 16-byte tags
	keyLen  uint8
	// Packet layout: block size (CBC, 0 for an AEAD), explicit IV,
	// padding alignment of the encrypted part, ICV.
	blockSize, ivLen, align, icvLen uint8
	integ                           uint16                      // INTEG transform (IntegNone for an AEAD)
	encr                            oakley.Transform            // ENCR transform
	salt                            [4]byte                     // AEAD suites
	key                             [32]byte                    // encryption key without the AEAD salt
	cs                              atomic.Pointer[cipherState] // built on first use (ciphers)
	cbc                             *cbcParams                  // CBC suites only

	seq atomic.Uint64 // outbound: last sequence number used

	mu     sync.Mutex    // inbound: guards replay
	replay *replayWindow // inbound, from the first packet accepted (nil before and outbound)

	c counters

	testIV *[8]byte // known-answer tests only: fixed explicit AEAD IV
}

// cbcParams is what a CBC suite's SA has beyond an AEAD's.
type cbcParams struct {
	ivPrefix [16]byte // random per SA; IV = E_K(ivPrefix || seq)
	newMAC   func() hash.Hash
	integKey []byte
	pool     sync.Pool // *scratch with this SA's HMAC and CBC mode
}

// aeadScratch serves the AEAD suites' per-call state (a nonce), which
// holds nothing of an SA's.
var aeadScratch = sync.Pool{New: func() any { return new(scratch) }}

// scratchPool is where s's per-call state comes from.
func (s *SA) scratchPool() *sync.Pool {
	if s.cbc != nil {
		return &s.cbc.pool
	}
	return &aeadScratch
}

// cipherState is an SA's cipher state, built from its key on first use.
type cipherState struct {
	aead  cipher.AEAD  // AEAD suites
	block cipher.Block // AES-GCM-8 (for CTR decryption) and CBC suites only: nil otherwise
}

// scratch is per-call state that may not be shared between goroutines.
type scratch struct {
	nonce [12]byte
	iv    [16]byte
	sum   [64]byte
	mac   hash.Hash
	mode  cipher.BlockMode // CBC encrypter or decrypter with SetIV
}

type ivSetter interface {
	cipher.BlockMode
	SetIV([]byte)
}

// NewOutbound returns the outbound SA for spi. encr is the negotiated ENCR
// transform (KeyLen in bits, 0 for the default), integID the INTEG
// transform ID (oakley.IntegNone for an AEAD), encKey the encryption key
// including any salt (4 bytes at the end for AES-GCM and ChaCha20-Poly1305)
// and integKey the integrity key.
func NewOutbound(spi uint32, encr oakley.Transform, integID uint16, encKey, integKey []byte) (*SA, error) {
	return newSA(spi, false, encr, integID, encKey, integKey)
}

// NewInbound returns the inbound SA for spi; see NewOutbound.
func NewInbound(spi uint32, encr oakley.Transform, integID uint16, encKey, integKey []byte) (*SA, error) {
	return newSA(spi, true, encr, integID, encKey, integKey)
}

func newSA(spi uint32, inbound bool, encr oakley.Transform, integID uint16, encKey, integKey []byte) (*SA, error) {
	if spi == 0 {
		return nil, errors.New("esp: SPI 0 is reserved")
	}
	s := &SA{spi: spi, inbound: inbound, encr: encr, integ: integID}
	if oakley.IsAEAD(encr.ID) {
		if integID != oakley.IntegNone || len(integKey) != 0 {
			return nil, fmt.Errorf("esp: %v: %w", encr, errAEADWithInteg)
		}
		if err := s.initAEAD(encr, encKey); err != nil {
			return nil, err
		}
	} else if err := s.initCBC(encr, integID, encKey, integKey); err != nil {
		return nil, err
	}
	if s.cbc != nil {
		s.cbc.pool.New = s.newScratch
	}
	return s, nil
}

func aesKeyLen(encr oakley.Transform) (int, error) {
	switch encr.KeyLen {
	case 0:
		return 16, nil
	case 128, 192, 256:
		return int(encr.KeyLen) / 8, nil
	}
	return 0, fmt.Errorf("esp: %v: AES key length %d bits is not 128, 192 or 256", encr, encr.KeyLen)
}

func (s *SA) initAEAD(encr oakley.Transform, encKey []byte) error {
	s.ivLen, s.align = 8, 4
	var keyLen int
	switch encr.ID {
	case oakley.EncrAESGCM8, oakley.EncrAESGCM12, oakley.EncrAESGCM16:
		n, err := aesKeyLen(encr)
		if err != nil {
			return err
		}
		keyLen = n
		s.icvLen = 16
		switch encr.ID {
		case oakley.EncrAESGCM8:
			s.icvLen, s.gcm8 = 8, true
		case oakley.EncrAESGCM12:
			s.icvLen = 12
		}
	case oakley.EncrChaCha20Poly1305:
		if encr.KeyLen != 0 && encr.KeyLen != 256 {
			return fmt.Errorf("esp: %v: key length must be 256 bits", encr)
		}
		keyLen = chacha20poly1305.KeySize
		s.icvLen = chacha20poly1305.Overhead
	default:
		return fmt.Errorf("esp: AEAD %v: %w", encr, errNotSupported)
	}
	if len(encKey) != keyLen+4 {
		return fmt.Errorf("esp: %v: key is %d bytes, want %d (key plus 4-byte salt)", encr, len(encKey), keyLen+4)
	}
	s.keyLen = uint8(copy(s.key[:], encKey[:keyLen]))
	copy(s.salt[:], encKey[keyLen:])
	return nil
}

// ciphers returns the SA's cipher state, building it on first use. Two
// goroutines may build it at once; one result is kept. The key and
// algorithms were checked when the SA was made, and the constructors
// fail on nothing else, so the error is not expected.
func (s *SA) ciphers() (*cipherState, error) {
	if c := s.cs.Load(); c != nil {
		return c, nil
	}
	c, err := s.build()
	if err != nil {
		return nil, fmt.Errorf("esp: %s: %w", s.Suite(), err)
	}
	if !s.cs.CompareAndSwap(nil, c) {
		return s.cs.Load(), nil
	}
	return c, nil
}

// build makes the cipher state from the key.
func (s *SA) build() (*cipherState, error) {
	key := s.key[:s.keyLen]
	c := &cipherState{}
	var err error
	switch s.encr.ID {
	case oakley.EncrChaCha20Poly1305:
		c.aead, err = chacha20poly1305.New(key)
	case oakley.EncrAESGCM8, oakley.EncrAESGCM12, oakley.EncrAESGCM16:
		// The GCM keeps its own copy of the key schedule: the block is
		// kept only where CTR decryption needs it (GCM-8), which saves
		// about 500 bytes per SA of the others.
		var block cipher.Block
		if block, err = aes.NewCipher(key); err != nil {
			break
		}
		switch s.encr.ID {
		case oakley.EncrAESGCM8:
			c.block = block
			c.aead, err = cipher.NewGCM(block)
		case oakley.EncrAESGCM12:
			c.aead, err = cipher.NewGCMWithTagSize(block, 12)
		default:
			c.aead, err = cipher.NewGCM(block)
		}
	case oakley.EncrAESCBC:
		c.block, err = aes.NewCipher(key)
	case oakley.Encr3DES:
		c.block, err = des.NewTripleDESCipher(key)
	default:
		err = errNotSupported
	}
	return c, err
}

type integAlg struct {
	name   string
	newH   func() hash.Hash
	keyLen int
	icvLen int
}

// IntegSHA256Trunc96 is HMAC-SHA2-256 with a 96-bit ICV, the pre-RFC 4868
// truncation some old peers use (sha2_truncbug). It is not an IANA
// number: only the installer passes it, never the wire.
const IntegSHA256Trunc96 uint16 = 0xff00 | oakley.IntegHMACSHA2_256

var integAlgs = map[uint16]integAlg{
	IntegSHA256Trunc96:       {"sha256_96", sha256.New, 32, 12},
	oakley.IntegHMACMD5_96:   {"md5_96", md5.New, 16, 12},
	oakley.IntegHMACSHA1_96:  {"sha1_96", sha1.New, 20, 12},
	oakley.IntegHMACSHA2_256: {"sha256_128", sha256.New, 32, 16},
	oakley.IntegHMACSHA2_384: {"sha384_192", sha512.New384, 48, 24},
	oakley.IntegHMACSHA2_512: {"sha512_256", sha512.New, 64, 32},
}

func (s *SA) initCBC(encr oakley.Transform, integID uint16, encKey, integKey []byte) error {
	if encr.Type != 0 && encr.Type != oakley.TransformENCR {
		return fmt.Errorf("esp: encryption transform has type %v, want ENCR", encr.Type)
	}
	switch encr.ID {
	case oakley.EncrAESCBC:
		n, err := aesKeyLen(encr)
		if err != nil {
			return err
		}
		if len(encKey) != n {
			return fmt.Errorf("esp: %v: key is %d bytes, want %d", encr, len(encKey), n)
		}
		s.blockSize = aes.BlockSize
	case oakley.Encr3DES:
		if encr.KeyLen != 0 && encr.KeyLen != 192 {
			return fmt.Errorf("esp: %v: 3DES has a fixed 192-bit key", encr)
		}
		if len(encKey) != 24 {
			return fmt.Errorf("esp: %v: key is %d bytes, want 24", encr, len(encKey))
		}
		if _, err := des.NewTripleDESCipher(encKey); err != nil {
			return fmt.Errorf("esp: %v: %w", encr, err)
		}
		s.blockSize = des.BlockSize
	default:
		return fmt.Errorf("esp: encryption algorithm %v: %w", encr, errNotSupported)
	}
	if integID == oakley.IntegNone {
		return fmt.Errorf("esp: %v is not an AEAD and needs an integrity algorithm", encr)
	}
	ia, ok := integAlgs[integID]
	if !ok {
		return fmt.Errorf("esp: integrity algorithm %d: %w", integID, errNotSupported)
	}
	if len(integKey) != ia.keyLen {
		return fmt.Errorf("esp: %s integrity key is %d bytes, want %d", ia.name, len(integKey), ia.keyLen)
	}
	s.keyLen = uint8(copy(s.key[:], encKey))
	s.ivLen, s.align, s.icvLen = s.blockSize, s.blockSize, uint8(ia.icvLen)
	s.cbc = &cbcParams{newMAC: ia.newH, integKey: append([]byte(nil), integKey...)}
	if _, err := rand.Read(s.cbc.ivPrefix[:]); err != nil {
		return fmt.Errorf("esp: IV prefix: %w", err)
	}
	return nil
}

func (s *SA) newScratch() any {
	sc := &scratch{}
	if s.cbc != nil {
		sc.mac = hmac.New(s.cbc.newMAC, s.cbc.integKey)
		var zero [16]byte
		block := s.cs.Load().block // built by Get's caller (ciphers)
		if s.inbound {
			sc.mode = cipher.NewCBCDecrypter(block, zero[:s.blockSize])
		} else {
			sc.mode = cipher.NewCBCEncrypter(block, zero[:s.blockSize])
		}
		if _, ok := sc.mode.(ivSetter); !ok {
			panic("esp: CBC mode without SetIV") // Go's CBC modes all have it
		}
	}
	return sc
}

// SPI returns the SA's SPI.
func (s *SA) SPI() uint32 { return s.spi }

// Inbound reports whether the SA decapsulates.
func (s *SA) Inbound() bool { return s.inbound }

// Suite names the SA's algorithms, e.g. "aes128gcm128" or
// "aes256cbc-sha256_128".
func (s *SA) Suite() string {
	switch s.encr.ID {
	case oakley.EncrChaCha20Poly1305:
		return "chacha20poly1305"
	case oakley.EncrAESCBC:
		return fmt.Sprintf("aes%dcbc-%s", int(s.keyLen)*8, integAlgs[s.integ].name)
	case oakley.Encr3DES:
		return "3des-" + integAlgs[s.integ].name
	}
	return fmt.Sprintf("aes%dgcm%d", int(s.keyLen)*8, int(s.icvLen)*8)
}

// Overhead returns how many bytes Encapsulate adds at most to an inner
// packet: header, IV, padding, pad length and next header, ICV, plus
// slack the AES-GCM-8 path needs in the buffer.
func (s *SA) Overhead() int { return hdrLen + int(s.ivLen) + int(s.align) + 2 + maxICVLen }

// Counters returns a snapshot of the SA's counters.
func (s *SA) Counters() Counters {
	return Counters{
		Packets:      s.c.packets.Load(),
		Bytes:        s.c.bytes.Load(),
		ReplayDrops:  s.c.replay.Load(),
		AuthFailures: s.c.auth.Load(),
		PadErrors:    s.c.pad.Load(),
		Malformed:    s.c.malformed.Load(),
		Errors:       s.c.errs.Load(),
	}
}

// Seq returns the last outbound sequence number used (0: none yet).
func (s *SA) Seq() uint32 { return uint32(min(s.seq.Load(), maxSeq)) }

// Highest returns the highest sequence number an inbound SA has accepted
// (0: none yet).
func (s *SA) Highest() uint32 {
	if s.replay == nil {
		return 0 // outbound
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return uint32(s.replay.last)
}

// Resume continues an SA that another process (a failed cluster node)
// used before: an outbound SA's next sequence number is after seq, and an
// inbound SA accepts only numbers above seq. Sequence numbers, and with
// them AES-GCM and ChaCha20 nonces, are never used twice under one key
// when seq is at or above the last the other process used. Call it
// before the SA carries traffic.
func (s *SA) Resume(seq uint32) {
	if seq == 0 {
		return // nothing used yet: a fresh SA
	}
	if s.inbound {
		s.mu.Lock()
		defer s.mu.Unlock()
		// Everything at or below seq counts as seen: the blocks behind
		// seq's whole, seq's own up to seq.
		if s.replay == nil {
			s.replay = new(replayWindow)
		}
		*s.replay = replayWindow{last: uint64(seq)}
		for i := range s.replay.bitmap {
			s.replay.bitmap[i] = ^uint64(0)
		}
		pos := uint64(seq) & replayBitMask
		s.replay.bitmap[(uint64(seq)>>replayBitsLog)&replayBlockMask] = ^uint64(0) >> (63 - pos)
		return
	}
	if uint64(seq) > s.seq.Load() {
		s.seq.Store(uint64(seq))
	}
}
