package policy

import (
	"net/netip"
	"strings"
	"time"
)

// XAuth says whether and against what an IKEv1 connection runs XAUTH
// (draft-ietf-ipsra-isakmp-xauth) after phase 1.
type XAuth string

// XAUTH backends.
const (
	XAuthNone   XAuth = ""       // no XAUTH round
	XAuthLocal  XAuth = "local"  // the [[user]] list
	XAuthRadius XAuth = "radius" // the [radius] servers (PAP)
)

// RemoteAuth is how an IKEv2 client authenticates when it differs from the
// connection's Auth (which stays how the gateway authenticates itself).
type RemoteAuth string

// Client authentication methods.
const (
	RemoteAuthSame        RemoteAuth = ""             // as Auth
	RemoteAuthPSK         RemoteAuth = "psk"          // pre-shared key
	RemoteAuthPubkey      RemoteAuth = "pubkey"       // certificate
	RemoteAuthEAPMSCHAPv2 RemoteAuth = "eap-mschapv2" // EAP-MSCHAPv2 against the [[user]] list
	RemoteAuthEAPRadius   RemoteAuth = "eap-radius"   // EAP passed through to the [radius] servers
)

// Unique says what happens when a peer identity that already has an IKE SA
// of the connection establishes another, as strongSwan's `unique`.
type Unique string

// Uniqueness policies.
const (
	UniqueNo      Unique = "no"      // both stay (unless the peer sends INITIAL_CONTACT)
	UniqueNever   Unique = "never"   // both stay, even with INITIAL_CONTACT
	UniqueKeep    Unique = "keep"    // the new one is refused
	UniqueReplace Unique = "replace" // the old one is deleted
)

// Pool is a [[pool]] table: the addresses handed to remote-access clients
// that ask for one (Mode Config, IKEv2 configuration payload) and the
// attributes that go with them.
type Pool struct {
	Name   string
	Ranges []AddrRange // "addresses": prefixes or first-last ranges, IPv4 or IPv6
	Attributes
}

// Attributes is what a client is handed with its address, in a [[pool]]
// or a [[group]] table.
type Attributes struct {
	DNS          []netip.Addr   // "dns"
	NBNS         []netip.Addr   // "nbns": WINS servers
	Domain       string         // "domain": the default domain
	SplitDNS     []string       // "split_dns": domains resolved through the tunnel
	SplitInclude []netip.Prefix // "split_include": networks routed into the tunnel; empty: everything
	SplitExclude []netip.Prefix // "split_exclude": networks the client keeps local (Cisco Unity's local LAN)
	Banner       string         // "banner": shown by Cisco-style clients
	SavePassword bool           // "save_password": the client may store the XAUTH password
	IdleTimeout  time.Duration  // "idle_timeout": end a client's session after this long without inbound traffic (0: never)
	PFSGroup     uint16         // "pfs_group": the DH group the client's Quick Modes must use (0: as the connection's esp says)
	// BackupServers is "backup_servers": other gateways the client may
	// try when this one does not answer (Cisco Unity), names or addresses.
	BackupServers []string
}

// Over returns base with every attribute a sets replacing base's (a
// group's attributes over its pool's). SavePassword is granted by either.
func (a Attributes) Over(base Attributes) Attributes {
	out := base
	if len(a.DNS) > 0 {
		out.DNS = a.DNS
	}
	if len(a.NBNS) > 0 {
		out.NBNS = a.NBNS
	}
	if a.Domain != "" {
		out.Domain = a.Domain
	}
	if len(a.SplitDNS) > 0 {
		out.SplitDNS = a.SplitDNS
	}
	if len(a.SplitInclude) > 0 {
		out.SplitInclude = a.SplitInclude
	}
	if len(a.SplitExclude) > 0 {
		out.SplitExclude = a.SplitExclude
	}
	if a.Banner != "" {
		out.Banner = a.Banner
	}
	out.SavePassword = out.SavePassword || a.SavePassword
	if a.IdleTimeout > 0 {
		out.IdleTimeout = a.IdleTimeout
	}
	if a.PFSGroup != 0 {
		out.PFSGroup = a.PFSGroup
	}
	if len(a.BackupServers) > 0 {
		out.BackupServers = a.BackupServers
	}
	return out
}

// Group is a [[group]] table: a named set of client attributes (and
// optionally the pool its members get addresses from), the equivalent of
// a Cisco group-policy. A connection names its clients' group (group =
// "..."; for IKEv1 the group ID selects the connection, hence the group);
// a RADIUS Access-Accept's Class attribute naming a group ("name" or
// Cisco's "OU=name;") overrides it per user.
type Group struct {
	Name string
	Pool string // "pool": where members' addresses come from ("": the connection's)
	Attributes
}

// GroupOfClass returns the group name a RADIUS Class value names: the
// value itself, or NAME of Cisco's "OU=NAME;" form.
func GroupOfClass(class []byte) string {
	s := strings.TrimSpace(string(class))
	if len(s) > 3 && strings.EqualFold(s[:3], "OU=") {
		s = strings.TrimSuffix(s[3:], ";")
	}
	return s
}

// AddrRange is an inclusive range of addresses of one family.
type AddrRange struct{ First, Last netip.Addr }

// Contains reports whether a lies in r.
func (r AddrRange) Contains(a netip.Addr) bool {
	return r.First.Is4() == a.Is4() && !a.Less(r.First) && !r.Last.Less(a)
}

// User is a [[user]] table: a user of the local list (XAUTH, EAP-MSCHAPv2).
type User struct {
	Name string
	// Password is the clear-text password (never logged), or nil when the
	// config gives only NTHash.
	Password []byte
	// NTHash is MD4 over the UTF-16LE password (what MSCHAPv2 needs),
	// from "nt_hash" or computed from Password.
	NTHash []byte
}

// Radius is the [radius] table: the RADIUS servers (RFC 2865/2866) used by
// xauth = "radius" and remote_auth = "eap-radius".
type Radius struct {
	Servers       []string      // "host:port" of the authentication service, tried in order
	Secret        []byte        // the shared secret (never logged)
	Accounting    bool          // Start/Interim/Stop to port+1 of each server
	Timeout       time.Duration // per try (0: 3 s)
	NASIdentifier string        // "nas_identifier" (empty: the host name)
	// Interim is "interim_interval": how often an accounted session sends
	// an Interim-Update with its traffic so far (0: only when an
	// Access-Accept asks with Acct-Interim-Interval).
	Interim time.Duration
}
