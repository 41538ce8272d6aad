// Package policy is the policy database shared by the IKEv1 and IKEv2
// engines: connections, proposals, traffic selectors, identities and
// credentials, loaded and validated from TOML. It also defines the shapes
// both engines hand to the rest of the daemon: a negotiated CHILD SA for the
// kernel installer and the SA status shown by `ikegate sas`.
package policy

import (
	"crypto"
	"crypto/x509"
	"net/netip"
	"time"

	"ikegate/oakley"
)

// Version selects the IKE version a connection speaks.
type Version string

// Connection versions.
const (
	IKEv1 Version = "ikev1"
	IKEv2 Version = "ikev2"
	Any   Version = "any" // responder only: accept whichever the peer starts
)

// AuthMethod is how a connection authenticates both ends.
type AuthMethod string

// Authentication methods.
const (
	AuthPSK    AuthMethod = "psk"
	AuthPubkey AuthMethod = "pubkey"
)

// Start says what the daemon does with a connection at startup.
type Start string

// Start actions.
const (
	StartNone  Start = "none"  // respond only
	StartStart Start = "start" // initiate at startup
	StartTrap  Start = "trap"  // install a trap policy, negotiate on first packet
)

// Config is a loaded, validated configuration file.
type Config struct {
	File        string // path the config was read from
	Gateway     Gateway
	Connections []*Connection

	// Remote access (policy/access.go): address pools, local users and
	// the RADIUS servers (nil: none).
	Pools  []*Pool
	Groups []*Group
	Users  []*User
	Radius *Radius

	// Cluster is the [cluster] table (nil: this gateway runs alone).
	Cluster *Cluster
}

// Gateway holds daemon-wide settings.
type Gateway struct {
	Listen    []netip.Addr
	IKEPort   int
	NATTPort  int
	Dataplane string // "xfrm" | "userspace" | "none"
	Control   string // Unix socket path of the control API
	LogLevel  string // "debug" | "info" | "warn" | "error"
	LogFormat string // "console" (default) | "json"

	// CookieThreshold is the number of half-open IKE SAs above which an
	// IKEv2 responder demands a COOKIE (RFC 7296 2.6).
	CookieThreshold int
	// RetransmitTries is how many times a request is sent before the
	// exchange is given up; RetransmitBase is the first timeout, doubled on
	// each try.
	RetransmitTries int
	RetransmitBase  time.Duration
	// NATKeepalive is the interval of NAT keepalives (RFC 3948 2.3) sent
	// while we are behind a NAT.
	NATKeepalive time.Duration
	// Workers is the number of SA shards (0: one per CPU).
	Workers int
	// KeyExport, if set, is a directory where the IKE SA keys are written
	// in Wireshark's decryption-table formats: for lab debugging only.
	KeyExport string
	// ControlGroup, if set, is the group (name or numeric ID) that may
	// use the control socket: mode 0660 with that group instead of 0600.
	ControlGroup string
	// MetricsListen, if set, is the TCP address ("IP:port") of the
	// Prometheus endpoint (/metrics); unset: no endpoint.
	MetricsListen string
	// GCPercent ("gc_percent") is the Go garbage collector's target
	// percentage (GOGC) for the daemon: -1 turns the collector off until
	// MemoryLimit is reached; 0 (unset) leaves the runtime's (GOGC from
	// the environment, else 100). GOGC in the environment wins.
	GCPercent int
	// GCIdlePercent ("gc_idle_percent") is the collector's target while
	// the daemon idles (allocates little): it returns to GCPercent once
	// handshakes come in. 0 (unset): 25. A value not below GCPercent (or
	// 100), GOGC in the environment or GCPercent -1 turn the switching
	// off.
	GCIdlePercent int
	// MemoryLimit ("memory_limit") is the Go runtime's soft memory limit
	// in bytes (GOMEMLIMIT): past it the collector runs as often as it
	// must. 0 (unset): the runtime's. GOMEMLIMIT in the environment wins.
	MemoryLimit int64
	// ESPEncap ("esp_encap") says when CHILD SAs are UDP-encapsulated:
	// ESPEncapForce makes every peer use ESP-in-UDP (the engines claim a
	// NAT), ESPEncapAuto only peers behind a NAT (real NAT detection;
	// raw ESP, IP protocol 50, to the others). Empty: the dataplane's
	// default (ESPEncapDefault).
	ESPEncap string
	// LogSample ("log_sample"): once that many lines with the same
	// message and level were written within a second, only every
	// LogSample-th more is, so the per-SA lines of a mass (re)connect
	// cost little; 0 (unset) writes every line. The log followers
	// (ikegate log, the waiting commands) see every line regardless.
	LogSample int
}

// Connection is one [[connection]] table: a peer and how to talk to it.
type Connection struct {
	Name      string
	Version   Version
	IKEv1Mode string // "main" | "aggressive" (IKEv1 only)

	LocalAddr  netip.Addr
	RemoteAddr netip.Addr // zero value: %any

	LocalID  Identity
	RemoteID Identity // Any: whatever identity authenticates

	Auth AuthMethod
	PSK  []byte // never logged

	Cert      *x509.Certificate   // own certificate (pubkey)
	CertChain []*x509.Certificate // intermediates sent after Cert
	Key       crypto.Signer       // own private key (pubkey); never logged
	CAs       *x509.CertPool      // trust anchors for the peer's certificate
	CACerts   []*x509.Certificate // the same anchors as a list (for CERTREQ)
	// SendCert ("send_cert") says when Cert and CertChain go to the peer:
	// SendCertAlways (also ""), SendCertIfAsked (only after a certificate
	// request: CERTREQ / CR), SendCertNever (the peer has them already).
	SendCert string
	// SHA2TruncBug ("sha2_truncbug") installs HMAC-SHA2-256 ESP with its
	// ICV truncated to 96 bits instead of RFC 4868's 128, for peers with
	// that old bug (Linux before 2.6.33 and what copied it: old Android,
	// some Cisco), like Libreswan's sha2-truncbug. Both ends must agree.
	SHA2TruncBug bool
	// SplitChildSAs ("split_child_sas", IKEv2): negotiate one CHILD SA
	// per pair of local and remote prefixes instead of one CHILD SA with
	// all of them, for peers that take one subnet pair per CHILD SA
	// (Cisco crypto maps, FortiGate phase 2 selectors).
	SplitChildSAs bool
	// NATIKEv1Method ("nat_ikev1_method"): NATMethodBoth (also ""),
	// NATMethodRFC, NATMethodDrafts or NATMethodNone.
	NATIKEv1Method string

	IKE []oakley.Proposal // IKE SA proposals, in preference order
	ESP []oakley.Proposal // CHILD SA proposals, in preference order

	// StrictPFS (pfs = "strict") refuses a peer's PFS offer (a KE payload
	// in Quick Mode or CREATE_CHILD_SA) when ESP names no DH group, with
	// NO_PROPOSAL_CHOSEN. By default (pfs = "lenient", the zero value) such
	// a connection takes the offer when its group is one of
	// oakley.LenientPFSGroups, as if ESP named that group. When ESP names
	// a group, a PFS offer must use one of its groups either way.
	StrictPFS bool

	LocalTS  []netip.Prefix
	RemoteTS []netip.Prefix

	// Transport asks for IPsec transport mode (mode = "transport"); the
	// CHILD SA falls back to tunnel mode if the peer does not agree.
	Transport bool

	Start Start

	// Lifetimes; zero means the default.
	IKELifetime   time.Duration
	ChildLifetime time.Duration
	// ChildLifetimeBytes limits a CHILD SA by traffic (0: no limit): it is
	// rekeyed at 90% and the kernel drops it at 100%.
	ChildLifetimeBytes uint64

	DPDDelay   time.Duration
	DPDTimeout time.Duration
	DPDAction  string // "clear" | "hold" | "restart"

	// Remote access (policy/access.go).
	Pool  string // the [[pool]] clients of this connection get addresses from ("": none)
	Group string // the [[group]] whose attributes its clients get ("": the pool's only)
	XAuth XAuth  // IKEv1: a second, XAUTH round after phase 1
	// XAuthUser and XAuthPassword make an IKEv1 initiator a remote-access
	// client: it answers the gateway's XAUTH request with them (the load
	// generator and tests use it); VirtualIP makes it ask for an address
	// (Mode Config pull) and use it as its side of the Quick Mode.
	XAuthUser     string
	XAuthPassword []byte // never logged
	VirtualIP     bool
	// ModeCfgPush makes an IKEv1 gateway send the configuration (Mode
	// Config SET) instead of waiting for the client's REQUEST
	// (modecfg = "push"; strongSwan clients with `pull = no`).
	ModeCfgPush bool
	RemoteAuth  RemoteAuth // IKEv2: how the client authenticates ("": as Auth)
	// MOBIKE announces MOBIKE_SUPPORTED (RFC 4555, IKEv2): a client may
	// move its SAs to new addresses with UPDATE_SA_ADDRESSES, without
	// reauthentication (mobike = true).
	MOBIKE bool
	// EAPOnly lets an EAP client that asks for EAP-only authentication
	// (RFC 5998) have it: the gateway then sends no certificate or AUTH
	// before EAP, and the client relies on the EAP method (EAP-TLS, say,
	// through RADIUS) to authenticate the server (eap_only = true).
	EAPOnly bool
	Unique  Unique // what a second SA of the same peer identity does
	// AggressivePSK allows IKEv1 Aggressive Mode with a pre-shared key
	// and no XAUTH (allow_aggressive_psk): anyone who knows the peer
	// identity gets an offline-crackable hash of the PSK.
	AggressivePSK bool
}

// nat_ikev1_method values: which IKEv1 NAT traversal a connection
// announces and accepts, like Libreswan's nat-ikev1-method ("" is both).
const (
	NATMethodBoth   = "both"   // RFC 3947, else the drafts
	NATMethodRFC    = "rfc"    // RFC 3947 only
	NATMethodDrafts = "drafts" // draft-ietf-ipsec-nat-t-ike-02/03 only (peers whose RFC 3947 is broken)
	NATMethodNone   = "none"   // no NAT traversal
)

// send_cert values.
const (
	SendCertAlways  = "always"
	SendCertIfAsked = "ifasked"
	SendCertNever   = "never"
)

// SendsCert reports whether our certificate goes to the peer, which asked
// for one (a certificate request) or not.
func (c *Connection) SendsCert(asked bool) bool {
	if c.Auth != AuthPubkey || c.Cert == nil {
		return false
	}
	switch c.SendCert {
	case SendCertNever:
		return false
	case SendCertIfAsked:
		return asked
	}
	return true
}

// RemoteAny reports whether the connection accepts any peer address.
func (c *Connection) RemoteAny() bool { return !c.RemoteAddr.IsValid() }

// LenientPFS reports whether the connection, as CHILD SA responder, takes
// a peer's PFS offer that its ESP proposals do not ask for: they name no
// DH group and StrictPFS is off.
func (c *Connection) LenientPFS() bool { return !c.StrictPFS && !oakley.HasGroup(c.ESP) }

// ID types, with IKEv2's numbering (RFC 7296 3.5). IKEv1's IPsec DOI uses
// the same numbers for the single-address, FQDN, USER_FQDN, DER_ASN1_DN and
// KEY_ID types.
const (
	IDIPv4Addr  uint8 = 1
	IDFQDN      uint8 = 2
	IDRFC822    uint8 = 3 // user@fqdn
	IDIPv6Addr  uint8 = 5
	IDDERASN1DN uint8 = 9
	IDKeyID     uint8 = 11
)

// Identity is an IKE identity: its ID type and the payload data. Any is set
// for "%any".
type Identity struct {
	Type uint8
	Data []byte
	Any  bool
}

// ChildSA is a negotiated IPsec SA pair as both engines hand it to the
// kernel installer.
type ChildSA struct {
	ConnName string
	ReqID    uint32
	Tunnel   bool // tunnel mode (else transport)
	// SHA256Trunc96: Integ is HMAC-SHA2-256 with a 96-bit ICV (the
	// connection's sha2_truncbug), not 128.
	SHA256Trunc96 bool
	// DeferOutbound: we answered the exchange that created the SA, so
	// the peer may not have installed it yet (its answer still on the
	// way). The dataplane sends on it only once a packet arrived on it,
	// or while no other SA takes the same traffic; until then the SA it
	// replaces carries our packets. (Honoured by the userspace
	// dataplane.)
	//
	// The three flags sit together after ReqID, in what would be
	// padding: the struct is one per CHILD SA (the engine's record, which
	// the none dataplane and the selector guard share), 280 bytes, the
	// 288-byte size class rather than 320.
	DeferOutbound bool

	Local, Remote netip.Addr
	// EncapLocalPort and EncapRemotePort are set (non-zero) when ESP is
	// UDP-encapsulated (RFC 3948).
	EncapLocalPort, EncapRemotePort uint16

	SPIIn, SPIOut uint32

	Encr  oakley.Transform // ENCR transform (KeyLen in bits)
	Integ oakley.Transform // INTEG transform; ID IntegNone for AEAD

	// Keys: the encryption key (including any salt/nonce bytes the cipher
	// takes from KEYMAT, e.g. 4 bytes for AES-GCM) and the integrity key,
	// for each direction.
	EncKeyIn, IntegKeyIn   []byte
	EncKeyOut, IntegKeyOut []byte

	LocalTS, RemoteTS []netip.Prefix

	Lifetime      time.Duration
	LifetimeBytes uint64 // 0: no byte limit

	// ResumeSeqOut and ResumeSeqIn continue the SA where another node of
	// a cluster left it (a takeover): the first outbound sequence number
	// is ResumeSeqOut+1, and inbound numbers up to ResumeSeqIn count as
	// seen. Zero for a new SA. Only the userspace dataplane honours them
	// (Capabilities().Resume).
	ResumeSeqOut, ResumeSeqIn uint32

	// Owner is who the CHILD SA speaks for, for selector conflicts: the
	// remote-access user if there is one, else the peer's identity and
	// address. CHILD SAs of one owner (a rekey, a reconnect) may overlap;
	// another owner's remote selectors may not (ErrSelectorConflict).
	Owner string
}

// IKESAInfo is one IKE SA as shown by `ikegate sas --json`.
type IKESAInfo struct {
	Name        string `json:"name"`
	Version     int    `json:"version"`
	State       string `json:"state"` // "ESTABLISHED" once up
	Local       string `json:"local"`
	Remote      string `json:"remote"`
	LocalSPI    string `json:"local_spi"`
	RemoteSPI   string `json:"remote_spi"`
	Initiator   bool   `json:"initiator"`
	IKEProposal string `json:"ike_proposal"`
	LocalID     string `json:"local_id,omitempty"`
	RemoteID    string `json:"remote_id,omitempty"`
	PeerVendor  string `json:"peer_vendor,omitempty"`
	// Remote access: the authenticated user (XAUTH, EAP), the client's
	// virtual IP, the pool it came from and the [[group]] it got.
	User      string `json:"user,omitempty"`
	VirtualIP string `json:"virtual_ip,omitempty"`
	Pool      string `json:"pool,omitempty"`
	Group     string `json:"group,omitempty"`
	// When the IKE SA was established and when our side replaces it
	// (RFC 3339; empty: not yet, or never).
	EstablishedAt string        `json:"established_at,omitempty"`
	RekeyAt       string        `json:"rekey_at,omitempty"`
	Children      []ChildSAInfo `json:"children"`
}

// ChildSAInfo is one CHILD SA (IKEv1: phase 2 SA) inside IKESAInfo.
type ChildSAInfo struct {
	Name        string   `json:"name"`
	State       string   `json:"state"` // "INSTALLED", "INSTALL_FAILED", ...
	Mode        string   `json:"mode"`  // "tunnel" or "transport"
	SPIIn       string   `json:"spi_in"`
	SPIOut      string   `json:"spi_out"`
	ESPProposal string   `json:"esp_proposal"`
	LocalTS     []string `json:"local_ts"`
	RemoteTS    []string `json:"remote_ts"`
	Error       string   `json:"error,omitempty"`
	// When the CHILD SA was installed and when our side replaces it
	// (RFC 3339; empty: not installed).
	InstalledAt string `json:"installed_at,omitempty"`
	RekeyAt     string `json:"rekey_at,omitempty"`
	// ExpiresAt is when the dataplane drops it (the negotiated lifetime;
	// empty: not installed).
	ExpiresAt string `json:"expires_at,omitempty"`

	// Dataplane counters, filled in by the gateway when the dataplane
	// keeps them (the userspace one); absent (zero) otherwise. Bytes
	// count inner packets. ReplayDrops: replayed, too old or sequence
	// number zero; AuthFailures: ICV mismatch; OutsideTSDrops: decrypted
	// packets outside the traffic selectors.
	InPackets      uint64 `json:"in_packets,omitempty"`
	InBytes        uint64 `json:"in_bytes,omitempty"`
	OutPackets     uint64 `json:"out_packets,omitempty"`
	OutBytes       uint64 `json:"out_bytes,omitempty"`
	ReplayDrops    uint64 `json:"replay_drops,omitempty"`
	AuthFailures   uint64 `json:"auth_failures,omitempty"`
	PadErrors      uint64 `json:"pad_errors,omitempty"`
	Malformed      uint64 `json:"malformed,omitempty"`
	OutsideTSDrops uint64 `json:"outside_ts_drops,omitempty"`
}

// ExportedKeys are the keys of one IKE SA as the explicit key export
// (gateway.key_export) writes them for Wireshark. Nothing else may
// receive them.
type ExportedKeys struct {
	Version    int
	SPIi, SPIr uint64 // IKEv1: the cookies
	Encr       oakley.Transform
	Integ      uint16 // IKEv2 only
	// IKEv2: SK_ei, SK_er, SK_ai, SK_ar. IKEv1: EncI is the encryption
	// key of the ISAKMP SA, the others are empty.
	EncI, EncR, IntegI, IntegR []byte
}
