// Package natt implements NAT traversal: IKEv2 NAT detection (RFC 7296
// 2.23), IKEv1 NAT-D (RFC 3947 and its drafts), UDP encapsulation of ESP
// (RFC 3948) and NAT keepalives.
package natt

import (
	"crypto/sha1"
	"encoding/binary"
	"net/netip"
	"time"
)

// IKEv2Hash is the NAT_DETECTION_*_IP notification data:
// SHA-1(SPIi | SPIr | IP | Port) (RFC 7296 2.23). In the IKE_SA_INIT
// request SPIr is zero.
func IKEv2Hash(spii, spir uint64, ap netip.AddrPort) []byte {
	h := sha1.New()
	var b [18]byte
	binary.BigEndian.PutUint64(b[0:], spii)
	binary.BigEndian.PutUint64(b[8:], spir)
	h.Write(b[:16])
	ip := ap.Addr().Unmap()
	if ip.Is4() {
		a := ip.As4()
		h.Write(a[:])
	} else {
		a := ip.As16()
		h.Write(a[:])
	}
	binary.BigEndian.PutUint16(b[16:], ap.Port())
	h.Write(b[16:18])
	return h.Sum(nil)
}

// Detection is the outcome of comparing NAT detection hashes.
type Detection struct {
	LocalBehindNAT bool // our address as the peer saw it differs from ours (or Forced)
	PeerBehindNAT  bool // the peer's source differs from what it claims
	// Forced: LocalBehindNAT is claimed, not seen. We made the peer
	// believe we are behind a NAT (a made-up NAT_DETECTION_SOURCE_IP) so
	// that ESP goes in UDP (esp_encap = "force"); no NAT mapping of ours
	// needs keepalives then.
	Forced bool `json:",omitempty"`
}

// Force claims a NAT on our side where none was seen, to force UDP
// encapsulation.
func (d *Detection) Force() {
	if !d.LocalBehindNAT {
		d.LocalBehindNAT, d.Forced = true, true
	}
}

// Keepalives reports whether we send NAT keepalives (RFC 3948 4): only
// behind a NAT actually detected, not one claimed to force UDP
// encapsulation (at 100,000 SAs and the 20 s default, 5,000 pointless
// datagrams a second).
func (d Detection) Keepalives() bool { return d.LocalBehindNAT && !d.Forced }

// Any reports whether any NAT was detected, so that IKE moves to the NAT-T
// port and ESP is UDP-encapsulated.
func (d Detection) Any() bool { return d.LocalBehindNAT || d.PeerBehindNAT }

// DetectIKEv2 compares the peer's NAT_DETECTION_SOURCE_IP hashes (sourceHashes,
// any may match) and NAT_DETECTION_DESTINATION_IP hash (destHash) with the
// addresses the message actually arrived with. ok is false when the peer
// sent no NAT detection payloads.
func DetectIKEv2(spii, spir uint64, local, remote netip.AddrPort, sourceHashes [][]byte, destHash []byte) (d Detection, ok bool) {
	if len(sourceHashes) == 0 || destHash == nil {
		return Detection{}, false
	}
	if string(destHash) != string(IKEv2Hash(spii, spir, local)) {
		d.LocalBehindNAT = true
	}
	want := IKEv2Hash(spii, spir, remote)
	d.PeerBehindNAT = true
	for _, h := range sourceHashes {
		if string(h) == string(want) {
			d.PeerBehindNAT = false
			break
		}
	}
	return d, true
}

// DetectIKEv1 evaluates RFC 3947 NAT-D payloads: peerSawUs is the first
// NAT-D payload (the peer's hash of our address as it saw it), peerOwn the
// others (the peer's hashes of its own addresses); ourHash and peerHash
// are the hashes of the addresses the message actually arrived with.
func DetectIKEv1(peerSawUs []byte, peerOwn [][]byte, ourHash, peerHash []byte) (d Detection, ok bool) {
	if peerSawUs == nil || len(peerOwn) == 0 {
		return Detection{}, false
	}
	d.LocalBehindNAT = string(peerSawUs) != string(ourHash)
	d.PeerBehindNAT = true
	for _, h := range peerOwn {
		if string(h) == string(peerHash) {
			d.PeerBehindNAT = false
			break
		}
	}
	return d, true
}

// Keepalive is the NAT keepalive datagram (RFC 3948 2.3): one 0xFF byte on
// the NAT-T port, without the non-ESP marker.
var Keepalive = []byte{0xFF}

// IsKeepalive reports whether a datagram is a NAT keepalive.
func IsKeepalive(b []byte) bool { return len(b) == 1 && b[0] == 0xFF }

// DefaultKeepaliveInterval is how often a host behind a NAT sends
// keepalives when the configuration does not say.
const DefaultKeepaliveInterval = 20 * time.Second
