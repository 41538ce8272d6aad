package interop

import (
	"fmt"
	"strings"
)

// Conn is the high-level description of one IKE connection, seen from the
// end that uses it. A test declares a case once as a Conn for the peer, and
// Mirror() gives the same connection from the other end; StrongSwan,
// Libreswan and ikegate configs are all generated from Conns:
//
//	peer := Conn{Name: "psk", Version: 2, LocalAddr: LeftAddr, RemoteAddr: RightAddr,
//		LocalID: "@left", RemoteID: "@right", Auth: "psk", PSK: "secret",
//		IKE: []string{"aes256-sha256-modp2048"}, ESP: []string{"aes256-sha256"}}
//	lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: []Conn{peer}})
//	lab.StartIkegate(t, lab.Right, IkegateTOML(IkegateGateway{...}, peer.Mirror()))
type Conn struct {
	Name    string
	Version int // 1 (IKEv1) or 2 (IKEv2); ikegate also takes 0 = "any" (responder)

	LocalAddr, RemoteAddr string // IP addresses; RemoteAddr "" = %any
	LocalID, RemoteID     string // strongSwan syntax: "@fqdn", "user@fqdn", "10.200.0.1", DN; "" = address / any

	Auth string // "psk" or "pubkey"
	PSK  string

	// Pubkey: own certificate and key (PEM files) and the CA certificates
	// (PEM files) that must sign the peer's certificate. CertNick is the
	// NSS nickname Libreswan uses for Cert (set by TestPKI.Leaf).
	Cert, Key string
	CAs       []string
	CertNick  string
	// RemoteKeyType is the key type of the peer's certificate, when known
	// (Mirror sets it from Cert). Libreswan needs it when the two ends'
	// key types differ (leftauth=/rightauth=); "" means same as ours.
	RemoteKeyType KeyType

	IKE []string // IKE proposals, strongSwan syntax ("aes256-sha256-modp2048"); empty = daemon default
	ESP []string // ESP proposals, strongSwan syntax ("aes256-sha256", "aes128gcm16-modp2048" for PFS)

	LocalTS, RemoteTS []string // CIDRs; empty = the host address (transport-like host-to-host tunnel)

	Aggressive bool   // IKEv1 Aggressive Mode
	Start      string // "none" (default: respond only), "start" (initiate when loaded), "trap"
	// Mode is the IPsec mode of the CHILD SA: "" (each daemon's default,
	// tunnel), "tunnel" or "transport" (strongSwan mode =, Libreswan
	// type=, ikegate mode =).
	Mode string

	// ExtraChildren are further CHILD SAs of the same IKE connection
	// (IKEv2: negotiated with CREATE_CHILD_SA on the connection's IKE
	// SA). strongSwan lists them under the connection's children; ikegate
	// has one [[connection]] per CHILD SA, so IkegateTOML renders each as
	// a connection with the same peer, identities and credentials.
	// Libreswan configs ignore them.
	ExtraChildren []Child

	// SwanRekeyIKE and SwanRekeyChild set strongSwan's rekey_time for the
	// IKE SA and the CHILD SA ("" = its default); other daemons ignore them.
	SwanRekeyIKE, SwanRekeyChild string
	// SwanFragmentation is strongSwan's fragmentation = (yes, force,
	// accept, no; "" = its default); other daemons ignore it.
	SwanFragmentation string
	// IkegateLifetimes are ikegate's ike_lifetime and child_lifetime
	// ("" = its defaults); other daemons ignore them.
	IkegateLifetimes [2]string
	// IkegateExtra is raw TOML added to ikegate's [[connection]] (e.g.
	// `send_cert = "never"`); other daemons ignore it.
	IkegateExtra string
	// SwanExtra is raw text added to strongSwan's connection section
	// (e.g. "send_certreq = no"); SwanRemoteCert is a certificate file
	// strongSwan trusts for the peer (remote.certs: the peer need not
	// send it). Other daemons ignore them.
	SwanExtra, SwanRemoteCert string
}

// Child is one additional CHILD SA of a Conn.
type Child struct {
	Name              string
	LocalTS, RemoteTS []string // CIDRs
	ESP               []string // empty: the Conn's ESP
}

// Mirror returns the same connection as seen from the other end: addresses,
// IDs, traffic selectors swapped; Start reset to "none". Credentials
// (Cert/Key/CertNick) are cleared for pubkey: set the other end's own.
func (c Conn) Mirror() Conn {
	m := c
	m.LocalAddr, m.RemoteAddr = c.RemoteAddr, c.LocalAddr
	m.LocalID, m.RemoteID = c.RemoteID, c.LocalID
	m.LocalTS, m.RemoteTS = c.RemoteTS, c.LocalTS
	m.Start = "none"
	m.ExtraChildren = nil
	for _, ch := range c.ExtraChildren {
		ch.LocalTS, ch.RemoteTS = ch.RemoteTS, ch.LocalTS
		m.ExtraChildren = append(m.ExtraChildren, ch)
	}
	if c.Auth == "pubkey" {
		m.Cert, m.Key, m.CertNick, m.RemoteKeyType = "", "", "", ""
		if kind, err := certKeyKind(c.Cert); err == nil {
			m.RemoteKeyType = map[string]KeyType{"rsa": RSA2048, "ecdsa": ECDSAP256}[kind]
		}
	}
	return m
}

// childName is the CHILD SA (strongSwan) name of a connection.
func (c Conn) childName() string { return c.Name }

func (c Conn) validate() error {
	if c.Name == "" {
		return fmt.Errorf("connection without a name")
	}
	if strings.ContainsAny(c.Name, " \t\"{}") {
		return fmt.Errorf("connection name %q has spaces, quotes or braces", c.Name)
	}
	switch c.Auth {
	case "psk":
		if c.PSK == "" {
			return fmt.Errorf("%s: auth psk without PSK", c.Name)
		}
	case "pubkey":
		if c.Cert == "" || c.Key == "" {
			return fmt.Errorf("%s: auth pubkey needs Cert and Key", c.Name)
		}
	default:
		return fmt.Errorf("%s: auth %q: want psk or pubkey", c.Name, c.Auth)
	}
	switch c.Mode {
	case "", "tunnel", "transport":
	default:
		return fmt.Errorf("%s: mode %q: want tunnel or transport", c.Name, c.Mode)
	}
	return nil
}
