package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"ikegate/gateway"
	"ikegate/policy"
)

// writeSAs prints IKE SAs for people, e.g.
//
//	site-b: IKEv2 ESTABLISHED, 10.200.0.2[right.lab] <-> 10.200.0.1[left.lab], initiator
//	  IKE SPIs: 8a1c2e3f4b5d6e7f (local) 0123456789abcdef (remote)
//	  IKE proposal: AES_GCM_16_128/PRF_HMAC_SHA2_256/CURVE_25519
//	  child site-b: INSTALLED, ESP SPIs: c1a2b3c4 (in) c5d6e7f8 (out)
//	    proposal: AES_GCM_16_128/NO_ESN
//	    10.2.0.0/24 === 10.1.0.0/24
func writeSAs(w io.Writer, sas []policy.IKESAInfo) {
	if len(sas) == 0 {
		fmt.Fprintln(w, "no IKE SAs")
		return
	}
	for _, sa := range sas {
		role := "responder"
		if sa.Initiator {
			role = "initiator"
		}
		fmt.Fprintf(w, "%s: IKEv%d %s, %s <-> %s, %s\n", sa.Name, sa.Version, sa.State,
			endpoint(sa.Local, sa.LocalID), endpoint(sa.Remote, sa.RemoteID), role)
		fmt.Fprintf(w, "  IKE SPIs: %s (local) %s (remote)%s\n", orNone(sa.LocalSPI), orNone(sa.RemoteSPI), ages(sa.EstablishedAt, sa.RekeyAt, time.Now()))
		if sa.IKEProposal != "" {
			fmt.Fprintf(w, "  IKE proposal: %s\n", sa.IKEProposal)
		}
		if sa.PeerVendor != "" {
			fmt.Fprintf(w, "  peer vendor: %s\n", sa.PeerVendor)
		}
		if sa.User != "" || sa.VirtualIP != "" {
			fmt.Fprintf(w, "  remote access: user %s, virtual IP %s (pool %s, group %s)\n", orNone(sa.User), orNone(sa.VirtualIP), orNone(sa.Pool), orNone(sa.Group))
		}
		if len(sa.Children) == 0 {
			fmt.Fprintln(w, "  no CHILD SAs")
		}
		for _, ch := range sa.Children {
			fmt.Fprintf(w, "  child %s: %s, ESP SPIs: %s (in) %s (out)%s%s\n", ch.Name, ch.State, orNone(ch.SPIIn), orNone(ch.SPIOut),
				ages(ch.InstalledAt, ch.RekeyAt, time.Now()), expiry(ch.ExpiresAt, time.Now()))
			if ch.ESPProposal != "" {
				fmt.Fprintf(w, "    proposal: %s\n", ch.ESPProposal)
			}
			fmt.Fprintf(w, "    %s === %s\n", tsList(ch.LocalTS), tsList(ch.RemoteTS))
			if ch.InPackets+ch.OutPackets > 0 {
				fmt.Fprintf(w, "    in %d bytes, %d packets; out %d bytes, %d packets\n", ch.InBytes, ch.InPackets, ch.OutBytes, ch.OutPackets)
			}
			if ch.Error != "" {
				fmt.Fprintf(w, "    error: %s\n", ch.Error)
			}
		}
	}
}

// writeConns prints the configured connections for people.
func writeConns(w io.Writer, conns []gateway.ConnInfo) {
	if len(conns) == 0 {
		fmt.Fprintln(w, "no connections")
		return
	}
	for _, c := range conns {
		v := c.Version
		if c.IKEv1Mode != "" {
			v += "/" + c.IKEv1Mode
		}
		fmt.Fprintf(w, "%s: %s, %s <-> %s, auth %s, start %s\n", c.Name, v,
			endpoint(c.LocalAddr, c.LocalID), endpoint(c.RemoteAddr, c.RemoteID), c.Auth, c.Start)
		if c.Cert != "" {
			fmt.Fprintf(w, "  cert: %s\n", c.Cert)
		}
		fmt.Fprintf(w, "  ike: %s\n", strings.Join(c.IKE, ", "))
		fmt.Fprintf(w, "  esp: %s\n", strings.Join(c.ESP, ", "))
		fmt.Fprintf(w, "  %s === %s\n", tsList(c.LocalTS), tsList(c.RemoteTS))
		if c.LastError != "" {
			fmt.Fprintf(w, "  last error: %s\n", c.LastError)
		}
	}
}

// expiry renders ", expires in 59m0s" ("" without a time).
func expiry(at string, now time.Time) string {
	t, err := time.Parse(time.RFC3339, at)
	if err != nil {
		return ""
	}
	return ", expires in " + max(t.Sub(now), 0).Truncate(time.Second).String()
}

// writeCerts prints the configuration's certificates for people, e.g.
//
//	own CN=gw.example (connections site-a, ra)
//	  issuer CN=Lab CA, serial 1f, key ECDSA P-256
//	  valid 2026-01-01T00:00:00Z to 2027-01-01T00:00:00Z: expires in 203 days
//	  DNS:gw.example, IP:10.0.0.1
//	  SHA-256 ab12...
func writeCerts(w io.Writer, certs []gateway.CertInfo, now time.Time) {
	if len(certs) == 0 {
		fmt.Fprintln(w, "no certificates (the connections use pre-shared keys)")
		return
	}
	for _, c := range certs {
		fmt.Fprintf(w, "%s %s (connections %s)\n", c.Role, c.Subject, strings.Join(c.Conns, ", "))
		fmt.Fprintf(w, "  issuer %s, serial %s, key %s\n", c.Issuer, c.Serial, c.Key)
		fmt.Fprintf(w, "  valid %s to %s: %s\n", c.NotBefore, c.NotAfter, validity(c.NotBefore, c.NotAfter, now))
		if len(c.SANs) > 0 {
			fmt.Fprintf(w, "  %s\n", strings.Join(c.SANs, ", "))
		}
		fmt.Fprintf(w, "  SHA-256 %s\n", c.SHA256)
	}
}

// validity says how a certificate's validity stands at now: "not yet
// valid", "EXPIRED 3 days ago", "expires in 12 days (SOON)", "expires in
// 203 days".
func validity(notBefore, notAfter string, now time.Time) string {
	nb, err1 := time.Parse(time.RFC3339, notBefore)
	na, err2 := time.Parse(time.RFC3339, notAfter)
	if err1 != nil || err2 != nil {
		return "unknown"
	}
	days := func(d time.Duration) int { return int(d.Hours() / 24) }
	switch left := na.Sub(now); {
	case now.Before(nb):
		return "NOT YET VALID"
	case left < 0:
		return fmt.Sprintf("EXPIRED %d days ago", days(-left))
	case left < 30*24*time.Hour:
		return fmt.Sprintf("expires in %d days (SOON)", days(left))
	default:
		return fmt.Sprintf("expires in %d days", days(left))
	}
}

func endpoint(addr, id string) string {
	if id == "" {
		return addr
	}
	return addr + "[" + id + "]"
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func tsList(ts []string) string {
	if len(ts) == 0 {
		return "-"
	}
	return strings.Join(ts, ",")
}

// ages renders ", up 5m12s, rekey in 43m0s" from RFC 3339 times ("" when
// there are none).
func ages(since, rekeyAt string, now time.Time) string {
	out := ""
	if t, err := time.Parse(time.RFC3339, since); err == nil {
		out += ", up " + now.Sub(t).Truncate(time.Second).String()
	}
	if t, err := time.Parse(time.RFC3339, rekeyAt); err == nil {
		if d := t.Sub(now).Truncate(time.Second); d > 0 {
			out += ", rekey in " + d.String()
		} else {
			out += ", rekey due"
		}
	}
	return out
}
