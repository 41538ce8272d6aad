package esp

import (
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
)

// grow returns dst with room for n more bytes after len(dst) (its length
// unchanged), reallocating only if the capacity is short.
func grow(dst []byte, n int) []byte {
	if cap(dst)-len(dst) >= n {
		return dst
	}
	nb := make([]byte, len(dst), len(dst)+n)
	copy(nb, dst)
	return nb
}

// Encapsulate appends to dst the ESP packet (tunnel mode) carrying the IP
// packet inner: SPI, sequence number, IV, the encrypted inner packet with
// padding (1, 2, 3, ...), pad length and next header (4 or 41, from the IP
// version of inner), and the ICV. It allocates only if dst has less than
// len(inner)+Overhead() bytes of spare capacity. dst's spare capacity must
// not overlap inner.
func (s *SA) Encapsulate(dst, inner []byte) ([]byte, error) {
	if s.inbound {
		return dst, ErrWrongDir
	}
	var nh byte
	switch {
	case len(inner) > 0 && inner[0]>>4 == 4:
		nh = NextHeaderIPv4
	case len(inner) > 0 && inner[0]>>4 == 6:
		nh = NextHeaderIPv6
	default:
		s.c.errs.Add(1)
		return dst, ErrNotIP
	}
	seq := s.seq.Add(1)
	if seq > maxSeq {
		s.seq.Store(maxSeq + 1) // stay exhausted, never wrap
		s.c.errs.Add(1)
		return dst, ErrSeqExhausted
	}

	align, ivLen, icvLen, bs := int(s.align), int(s.ivLen), int(s.icvLen), int(s.blockSize)
	padLen := (align - (len(inner)+2)%align) % align
	ptLen := len(inner) + padLen + 2
	bodyOff := hdrLen + ivLen
	total := bodyOff + ptLen + icvLen
	start := len(dst)
	// AES-GCM-8 seals a 16-byte tag and keeps 8: 8 bytes of slack.
	dst = grow(dst, total+8)
	pkt := dst[start : start+total]

	binary.BigEndian.PutUint32(pkt[0:4], s.spi)
	binary.BigEndian.PutUint32(pkt[4:8], uint32(seq))
	pt := pkt[bodyOff : bodyOff+ptLen]
	copy(pt, inner)
	for i := range padLen {
		pt[len(inner)+i] = byte(i + 1)
	}
	pt[ptLen-2] = byte(padLen)
	pt[ptLen-1] = nh

	cs, err := s.ciphers()
	if err != nil {
		s.c.errs.Add(1)
		return dst, err
	}
	pool := s.scratchPool()
	sc := pool.Get().(*scratch)
	if cs.aead != nil {
		// RFC 4106 3.1 / RFC 7634 2: the explicit IV is the sequence
		// number, unique per key; the nonce is salt || IV.
		binary.BigEndian.PutUint64(pkt[hdrLen:bodyOff], seq)
		if s.testIV != nil {
			copy(pkt[hdrLen:bodyOff], s.testIV[:])
		}
		copy(sc.nonce[:4], s.salt[:])
		copy(sc.nonce[4:], pkt[hdrLen:bodyOff])
		cs.aead.Seal(pkt[:bodyOff], sc.nonce[:], pt, pkt[:hdrLen])
		// For GCM-8 the last 8 tag bytes landed in the slack beyond pkt.
	} else {
		// NIST SP 800-38A Appendix C: an unpredictable CBC IV is the
		// block cipher, under the encryption key, applied to a nonce
		// (here a per-SA random prefix and the sequence number).
		iv := sc.iv[:bs]
		copy(iv, s.cbc.ivPrefix[:bs-4])
		binary.BigEndian.PutUint32(iv[bs-4:], uint32(seq))
		cs.block.Encrypt(iv, iv)
		copy(pkt[hdrLen:bodyOff], iv)
		mode := sc.mode.(ivSetter)
		mode.SetIV(iv)
		mode.CryptBlocks(pt, pt)
		sc.mac.Reset()
		sc.mac.Write(pkt[:bodyOff+ptLen])
		sum := sc.mac.Sum(sc.sum[:0])
		copy(pkt[bodyOff+ptLen:], sum[:icvLen])
	}
	pool.Put(sc)
	s.c.packets.Add(1)
	s.c.bytes.Add(uint64(len(inner)))
	return dst[:start+total], nil
}

// Decapsulate checks and decrypts the ESP packet pkt (tunnel mode) and
// appends the inner IP packet to dst. It returns the inner packet (a
// slice of the returned storage starting at len(dst)) and its next header
// (4 or 41). In order (RFC 4303 3.4.3): the anti-replay window is checked,
// then the ICV (in constant time), and only then is the window updated;
// padding and next header are checked last. dst's spare capacity must not
// overlap pkt. Decapsulate never panics on malformed input.
func (s *SA) Decapsulate(dst, pkt []byte) (inner []byte, nextHeader uint8, err error) {
	if !s.inbound {
		return nil, 0, ErrWrongDir
	}
	ivLen, icvLen, bs := int(s.ivLen), int(s.icvLen), int(s.blockSize)
	bodyOff := hdrLen + ivLen
	// The encrypted part holds at least pad length and next header; a
	// block cipher's must be whole blocks. AEAD senders should align to 4
	// bytes, but like Linux we do not insist.
	ctLen := len(pkt) - bodyOff - icvLen
	if ctLen < 2 || (bs > 0 && ctLen%bs != 0) {
		s.c.malformed.Add(1)
		return nil, 0, ErrTruncated
	}
	if binary.BigEndian.Uint32(pkt[0:4]) != s.spi {
		s.c.malformed.Add(1)
		return nil, 0, ErrWrongSPI
	}
	seq := uint64(binary.BigEndian.Uint32(pkt[4:8]))
	s.mu.Lock()
	ok := s.replay.check(seq) // nil before the first packet: any seq but 0
	s.mu.Unlock()
	if !ok {
		s.c.replay.Add(1)
		return nil, 0, ErrReplay
	}

	start := len(dst)
	dst = grow(dst, ctLen+16)
	var out []byte
	cs, err := s.ciphers()
	if err != nil {
		s.c.malformed.Add(1)
		return nil, 0, err
	}
	pool := s.scratchPool()
	sc := pool.Get().(*scratch)
	switch {
	case s.gcm8:
		copy(sc.nonce[:4], s.salt[:])
		copy(sc.nonce[4:], pkt[hdrLen:bodyOff])
		out, ok = s.openGCM8(cs, dst[start:start], sc.nonce[:], pkt[bodyOff:bodyOff+ctLen], pkt[:hdrLen], pkt[bodyOff+ctLen:])
	case cs.aead != nil:
		copy(sc.nonce[:4], s.salt[:])
		copy(sc.nonce[4:], pkt[hdrLen:bodyOff])
		var oerr error
		out, oerr = cs.aead.Open(dst[start:start], sc.nonce[:], pkt[bodyOff:], pkt[:hdrLen])
		ok = oerr == nil
	default:
		sc.mac.Reset()
		sc.mac.Write(pkt[:bodyOff+ctLen])
		sum := sc.mac.Sum(sc.sum[:0])
		ok = subtle.ConstantTimeCompare(sum[:icvLen], pkt[bodyOff+ctLen:]) == 1
		if ok {
			out = dst[start : start+ctLen]
			mode := sc.mode.(ivSetter)
			mode.SetIV(pkt[hdrLen:bodyOff])
			mode.CryptBlocks(out, pkt[bodyOff:bodyOff+ctLen])
		}
	}
	pool.Put(sc)
	if !ok {
		s.c.auth.Add(1)
		return nil, 0, ErrAuth
	}

	s.mu.Lock()
	if s.replay == nil {
		s.replay = new(replayWindow)
	}
	ok = s.replay.update(seq)
	s.mu.Unlock()
	if !ok {
		s.c.replay.Add(1)
		return nil, 0, ErrReplay
	}

	n := len(out)
	padLen := int(out[n-2])
	nh := out[n-1]
	if padLen+2 > n {
		s.c.pad.Add(1)
		return nil, 0, ErrPadding
	}
	pad := out[n-2-padLen : n-2]
	for i, b := range pad {
		if b != byte(i+1) {
			s.c.pad.Add(1)
			return nil, 0, ErrPadding
		}
	}
	switch nh {
	case NextHeaderIPv4, NextHeaderIPv6:
	case NextHeaderDummy:
		s.c.pad.Add(1)
		return nil, 0, ErrDummy
	default:
		s.c.pad.Add(1)
		return nil, 0, ErrNextHeader
	}
	inner = out[:n-2-padLen]
	s.c.packets.Add(1)
	s.c.bytes.Add(uint64(len(inner)))
	return inner, nh, nil
}

// openGCM8 opens an AES-GCM ciphertext with an 8-byte ICV into out. Go's
// GCM only verifies 12 to 16-byte tags, so the ciphertext is decrypted with
// the GCM counter stream (AES-CTR from inc32(J0), J0 = nonce || 0^31 || 1,
// SP 800-38D 7.2) into out, re-sealed into a scratch buffer to recompute
// the full tag, and the tag's first 8 bytes compared with icv in constant
// time. out is returned only if they match, and cleared otherwise.
func (s *SA) openGCM8(cs *cipherState, out, nonce, ct, aad, icv []byte) ([]byte, bool) {
	var ctr [16]byte
	copy(ctr[:12], nonce)
	ctr[15] = 2
	out = out[:len(ct)]
	cipher.NewCTR(cs.block, ctr[:]).XORKeyStream(out, ct)
	resealed := cs.aead.Seal(make([]byte, 0, len(ct)+16), nonce, out, aad)
	if len(icv) != 8 || subtle.ConstantTimeCompare(resealed[len(ct):len(ct)+8], icv) != 1 {
		clear(out)
		return nil, false
	}
	return out, true
}
