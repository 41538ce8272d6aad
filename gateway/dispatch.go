package gateway

import (
	"encoding/binary"
	"math/bits"
	"net/netip"

	"ikegate/isakmp"
)

// Kind is what the dispatcher decided a received UDP payload is.
type Kind uint8

// Datagram kinds. KindInvalid covers everything dropped as malformed; the
// Reason says why.
const (
	KindInvalid   Kind = iota
	KindIKEv2          // IKEv2 message, for an ikev2.Engine
	KindIKEv1          // ISAKMP (IKEv1) message, for the IKEv1 engine
	KindKeepalive      // NAT-keepalive (RFC 3948 2.3): a single 0xFF byte
	KindESP            // ESP-in-UDP (RFC 3948), for the dataplane
	numKinds
)

var kindNames = [numKinds]string{
	KindInvalid:   "invalid",
	KindIKEv2:     "ikev2",
	KindIKEv1:     "ikev1",
	KindKeepalive: "natt_keepalive",
	KindESP:       "esp",
}

func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "kind?"
}

// Reason is why a datagram was dropped. ReasonNone means it was not.
type Reason uint8

// Drop reasons, counted separately in the stats.
const (
	ReasonNone           Reason = iota
	ReasonRunt                  // NAT-T port: neither keepalive, marker nor a whole ESP header
	ReasonTooShort              // IKE message shorter than the 28-byte header
	ReasonLengthMismatch        // header Length field differs from the datagram size
	ReasonBadVersion            // major version 0
	ReasonNoDataplane           // ESP-in-UDP, but there is no userspace dataplane hook
	ReasonQueueFull             // the shard's inbound queue was full
	ReasonNoSocket              // outbound: no socket for the datagram's local address
	ReasonSendError             // outbound: the socket write failed
	ReasonReadError             // a socket read failed (other than at shutdown)
	ReasonNotRunning            // the gateway was shutting down
	ReasonEnginePanic           // an engine panicked handling it (a bug; logged with a stack)
	ReasonTooLong               // longer than the receive buffer (truncated by the kernel)
	ReasonBadGRO                // a coalesced datagram (UDP GRO) whose segment size could not be read
	numReasons
)

var reasonNames = [numReasons]string{
	ReasonNone:           "none",
	ReasonRunt:           "natt_runt",
	ReasonTooShort:       "ike_too_short",
	ReasonLengthMismatch: "ike_length_mismatch",
	ReasonBadVersion:     "ike_bad_version",
	ReasonNoDataplane:    "esp_no_dataplane",
	ReasonQueueFull:      "queue_full",
	ReasonNoSocket:       "no_socket",
	ReasonSendError:      "send_error",
	ReasonReadError:      "read_error",
	ReasonNotRunning:     "not_running",
	ReasonEnginePanic:    "engine_panic",
	ReasonTooLong:        "too_long",
	ReasonBadGRO:         "bad_gro",
}

func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "reason?"
}

// nonESPMarker prefixes IKE messages on the NAT-T port (RFC 3948 2.2).
var nonESPMarker = [4]byte{}

// Classify decides what the UDP payload b received on a socket is. natt says
// whether the socket is the NAT-T port (4500) rather than the IKE port
// (500). For IKE messages, msg is the message itself (without the non-ESP
// marker on the NAT-T port) and aliases b; for ESP it is the ESP packet.
// A malformed datagram has KindInvalid and a Reason saying why. Whether
// there is an engine or dataplane for a well-formed IKEv1 or ESP datagram is
// the caller's business.
//
// Classify is pure and never panics, whatever b holds.
func Classify(b []byte, natt bool) (kind Kind, reason Reason, msg []byte) {
	if natt {
		switch {
		case len(b) == 1 && b[0] == 0xFF:
			return KindKeepalive, ReasonNone, nil
		case len(b) >= 4 && [4]byte(b[:4]) == nonESPMarker:
			b = b[4:]
		case len(b) < 8:
			// Not a keepalive, not a marker, and too short for an ESP
			// header (SPI + sequence number): nothing we can use.
			return KindInvalid, ReasonRunt, nil
		default:
			return KindESP, ReasonNone, b
		}
	}
	if len(b) < isakmp.HeaderLen {
		return KindInvalid, ReasonTooShort, nil
	}
	if binary.BigEndian.Uint32(b[24:28]) != uint32(len(b)) {
		return KindInvalid, ReasonLengthMismatch, nil
	}
	major, err := isakmp.PeekVersion(b)
	if err != nil {
		return KindInvalid, ReasonTooShort, nil
	}
	switch {
	case major >= 2:
		// A higher version goes to the IKEv2 engine, which answers
		// INVALID_MAJOR_VERSION (RFC 7296 2.5).
		return KindIKEv2, ReasonNone, b
	case major == 1:
		return KindIKEv1, ReasonNone, b
	}
	return KindInvalid, ReasonBadVersion, nil
}

// headerInfo is what the runtime reads from an IKE header for routing and
// log fields; never anything from the body.
type headerInfo struct {
	spii, spir uint64
	exchange   isakmp.ExchangeType
	flags      uint8
	msgID      uint32
}

func peekHeader(b []byte) headerInfo {
	if len(b) < isakmp.HeaderLen {
		return headerInfo{}
	}
	spii, _ := isakmp.PeekSPIi(b)
	spir, _ := isakmp.PeekSPIr(b)
	return headerInfo{
		spii:     spii,
		spir:     spir,
		exchange: isakmp.ExchangeType(b[18]),
		flags:    b[19],
		msgID:    binary.BigEndian.Uint32(b[20:24]),
	}
}

// routeSPI is the SPI that picks the shard for an IKEv2 message: the SPI
// this gateway chose for its side of the IKE SA, which the engine chose
// with its shard's SPIFilter.
//   - SPIr zero (IKE_SA_INIT request, or its retransmission / COOKIE or
//     INVALID_KE retry): the peer's SPIi, which is all there is; the engine
//     on that shard then picks its SPIr to hash to the same shard.
//   - Initiator flag set: the sender is the original initiator, so we are
//     the responder and our SPI is SPIr.
//   - Otherwise we are the original initiator and our SPI is SPIi.
//
// Routing by our own SPI rather than always by SPIi keeps an IKE SA that
// the peer rekeyed (new SPIi chosen by the peer) on the shard holding it.
func routeSPI(h headerInfo) uint64 {
	if h.spir == 0 || h.flags&isakmp.FlagInitiator == 0 {
		return h.spii
	}
	return h.spir
}

// shardOfPeer maps an IKEv1 peer's IP address to one of n shards: every
// ISAKMP SA with that peer, whichever side initiated it, and every
// initiation of ours towards it, runs on that shard (see the package
// comment for why IKEv1 is routed by address and IKEv2 by SPI). The port
// is left out on purpose: NAT-T floats it from 500 to 4500, and clients
// behind one NAT differ only in it.
func shardOfPeer(addr netip.Addr, n int) int {
	if n <= 1 {
		return 0
	}
	b := addr.Unmap().As16()
	return ShardOf(binary.BigEndian.Uint64(b[:8])^bits.RotateLeft64(binary.BigEndian.Uint64(b[8:]), 32), n)
}

// ShardOf maps an SPI to one of n shards. It is stable: the same SPI
// always maps to the same shard for a given n. SPIs are random, but a
// peer's are not ours to trust, so they are mixed first.
func ShardOf(spi uint64, n int) int {
	if n <= 1 {
		return 0
	}
	// splitmix64 finalizer.
	z := spi
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return int(z % uint64(n))
}
