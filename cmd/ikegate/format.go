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
			fmt.Fprintf(w, "  child %s: %s, ESP SPIs: %s (in) %s (out)%s\n", ch.Name, ch.State, orNone(ch.SPIIn), orNone(ch.SPIOut),
				ages(ch.InstalledAt, ch.RekeyAt, time.Now()))
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
