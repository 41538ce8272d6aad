package interop

// Group name enumeration and offline PSK cracking against ikegate's
// IKEv1 Aggressive Mode remote-access responder, with the tools an
// attacker uses: ike-scan and psk-crack.
//
// In Aggressive Mode the responder answers the first message,
// unauthenticated, with HASH_R keyed by the group PSK. A responder that
// answers only known group names (and a notify, or nothing, otherwise)
// tells an attacker which names exist; its answer for a known name can be
// cracked offline with a dictionary. ikegate answers an unknown group
// name with a decoy of the same shape keyed with a random PSK: by its content
// the name cannot be told from a real one, and the decoy has no PSK to
// crack (TestIkeScanDecoyRetransmissions checks its timing too). A
// known group's PSK stays crackable offline (inherent in Aggressive Mode
// with a PSK; XAUTH is what keeps a cracked group PSK from letting anyone
// in), which the test documents by cracking it.

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// ikeScanUnknown is a group name no connection has.
const ikeScanUnknown = "nosuchgroup"

// ikeScanLab starts the standard lab, a capture on the prober's link and
// ikegate (dataplane "none") with one Aggressive Mode group connection
// (remote_id keyid:vpngroup, the group PSK, xauth "local" with one user).
func ikeScanLab(t *testing.T) (*Lab, *Ikegate, *Capture) {
	t.Helper()
	lab := NewLab(t)
	requireIkeScan(t)
	c := Conn{Name: raConn, Version: 1, Aggressive: true,
		LocalAddr: RightAddr, RemoteAddr: "%any",
		LocalID: raGateID, RemoteID: "keyid:" + raGroup,
		Auth: "psk", PSK: raGroupPSK,
		IKE: []string{"aes256-sha1-modp2048"}, ESP: []string{"aes256-sha1"},
		LocalTS: []string{"0.0.0.0/0"},
	}
	toml := IkegateTOML(IkegateGateway{Listen: []string{RightAddr}}, c)
	toml = PatchIkegateTOML(toml, nil, raConn, []string{`xauth = "local"`})
	toml += fmt.Sprintf("\n[[user]]\nname = %q\npassword = %q\n", raUser, raPassword)
	capt := lab.Capture(t, lab.Left, LabIface)
	g := lab.StartIkegate(t, lab.Right, toml)
	keepLogs(t, g.LogPath)
	return lab, g, capt
}

// ikeScanTrans is what vpnc offers: AES-256, SHA-1, XAUTHInitPreShared
// (65001), MODP-2048 (group 14).
const ikeScanTrans = "7/256,2,65001,14"

// TestIkeScanGroupEnumeration: ikegate (dataplane "none") with an
// Aggressive Mode group connection (remote_id keyid:vpngroup, xauth
// "local"). ike-scan probes it twice with the real group name and twice
// with an unknown one: every probe gets an Aggressive Mode handshake (not a
// notify), all four answers have the same shape (payloads, sizes, SA, ID,
// vendor IDs as ike-scan prints them, and the same IKE and UDP lengths on
// the wire), psk-crack with a small wordlist that contains the group PSK
// cracks the real group's answer and finds nothing in the decoy.
func TestIkeScanGroupEnumeration(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	lab, g, capt := ikeScanLab(t)
	dir := t.TempDir()

	type probe struct {
		id  string
		res *IkeScanResult
	}
	var probes []probe
	for i, id := range []string{raGroup, ikeScanUnknown, raGroup, ikeScanUnknown} {
		pskFile := filepath.Join(dir, fmt.Sprintf("psk-%d-%s.txt", i, id))
		probes = append(probes, probe{id, IkeScanAggressive(t, lab.Left, pskFile, RightAddr, id, ikeScanTrans, 14)})
	}
	shape := probes[0].res.Shape()
	for i, p := range probes {
		r := p.res
		if !r.Handshake || r.Notify || !strings.HasPrefix(r.Answer, "Aggressive Mode Handshake returned") {
			t.Errorf("probe %d (--id=%s): answer %q (handshake %v, notify %v), want an Aggressive Mode handshake and no notify",
				i, p.id, r.Answer, r.Handshake, r.Notify)
			continue
		}
		if got := r.Shape(); got != shape {
			t.Errorf("probe %d (--id=%s): the answer's shape differs from probe 0's (--id=%s):\n%s\nwant:\n%s", i, p.id, probes[0].id, got, shape)
		}
	}
	t.Logf("every answer has this shape (responder cookie blanked):\n%s", shape)

	// The dictionary attack: a small wordlist that contains the group PSK.
	words := []string{"password", "cisco123", "vpn", "secret", "letmein", raGroup, "group-secret",
		raGroupPSK, "ra-group-secret", "0123456789"}
	wordlist := filepath.Join(dir, "wordlist.txt")
	writeFile(t, wordlist, strings.Join(words, "\n")+"\n", 0o600)
	for i, p := range probes[:2] {
		key, out := PskCrack(t, wordlist, p.res.PSKFile)
		t.Logf("psk-crack -d wordlist (%d words) on probe %d (--id=%s):\n%s", len(words), i, p.id, strings.TrimSpace(out))
		switch {
		case p.id == raGroup && key != raGroupPSK:
			t.Errorf("psk-crack did not crack the known group's answer with a wordlist that holds its PSK (got %q): "+
				"the capture is not what an Aggressive Mode PSK responder sends", key)
		case p.id == raGroup:
			t.Logf("documented: the known group's PSK is crackable offline from one unauthenticated answer (psk-crack found it)")
		case key != "":
			t.Errorf("psk-crack found key %q in the decoy answer for unknown group %q: the decoy's HASH is not random", key, ikeScanUnknown)
		}
	}

	// The wire: every answer dissects, and the decoys are as long as the
	// real answers.
	pcap := capt.Stop()
	CheckDissection(t, pcap)
	ikeScanCheckWire(t, pcap)
	raCheckSecrets(t, g, raGroupPSK, raPassword)
	if l, ok := v1Line(g.Log(), ikeScanUnknown); ok {
		t.Logf("ikegate: %s", v1Short(l, 400))
	}
	t.Logf("test took %v", time.Since(t0).Round(time.Millisecond))
}

// ikeScanCheckWire compares the responder's Aggressive Mode answers in
// the capture: the same UDP length, ISAKMP length and payload types and
// lengths for all.
func ikeScanCheckWire(t *testing.T, pcap string) {
	t.Helper()
	out, err := runOut(Tshark, "-r", pcap, "-n", "-Y", "ip.src == "+RightAddr+" && isakmp.exchangetype == 4",
		"-T", "fields", "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=,",
		"-e", "udp.length", "-e", "isakmp.length", "-e", "isakmp.typepayload", "-e", "isakmp.payloadlength")
	if err != nil {
		t.Errorf("tshark: %v\n%s", err, out)
		return
	}
	answers := meaningful(out)
	t.Logf("wire: the gateway's Aggressive Mode answers (udp length|isakmp length|payload types|payload lengths):\n%s", strings.Join(answers, "\n"))
	if len(answers) != 4 {
		t.Errorf("wire: %d Aggressive Mode answers from %s, want 4 (one per probe)", len(answers), RightAddr)
		return
	}
	for i, a := range answers[1:] {
		if a != answers[0] {
			t.Errorf("wire: answer %d differs from answer 0:\n%s\n%s", i+1, a, answers[0])
		}
	}
}

// TestIkeScanDecoyRetransmissions: the decoy must not differ from a real
// answer in time either. ike-scan --showbackoff (its own fingerprinting
// feature: it keeps listening after the answer and tabulates every
// retransmission of it) probes the real group name and an unknown one,
// waiting 3 s after the last packet; both must show the same number of
// answers. A responder that keeps state for a real group retransmits its
// message 2 while waiting for message 3 (which ike-scan never sends); a
// stateless decoy (ikegate's first one) answered once, and the
// retransmissions alone told a real group name from an unknown one. The
// decoy now runs the real responder's state machine.
func TestIkeScanDecoyRetransmissions(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	lab, g, capt := ikeScanLab(t)
	dir := t.TempDir()
	var runs []*IkeScanResult
	for i, id := range []string{raGroup, ikeScanUnknown} {
		pskFile := filepath.Join(dir, fmt.Sprintf("psk-%d-%s.txt", i, id))
		r := IkeScanAggressive(t, lab.Left, pskFile, RightAddr, id, ikeScanTrans, 14, "--showbackoff=3")
		if !r.Handshake || r.Notify {
			t.Errorf("--id=%s: answer %q (handshake %v, notify %v), want an Aggressive Mode handshake", id, r.Answer, r.Handshake, r.Notify)
		}
		t.Logf("--id=%s: %d answer(s) to one probe, at %s s", id, len(r.Backoff), secs(r.Backoff))
		runs = append(runs, r)
	}
	known, decoy := runs[0].Backoff, runs[1].Backoff
	if len(known) != len(decoy) {
		t.Errorf("group name enumeration by retransmissions: one probe for the real group %q got %d answers (at %s s: ikegate retransmits its message 2), "+
			"one for the unknown group %q got %d (at %s s): a scanner tells them apart by waiting",
			raGroup, len(known), secs(known), ikeScanUnknown, len(decoy), secs(decoy))
	}
	pcap := capt.Stop()
	CheckDissection(t, pcap)
	out, _ := runOut(Tshark, "-r", pcap, "-n", "-Y", "isakmp.exchangetype == 4", "-T", "fields", "-E", "separator= ",
		"-e", "frame.time_relative", "-e", "ip.src", "-e", "isakmp.ispi", "-e", "isakmp.rspi", "-e", "udp.length")
	t.Logf("wire (time, source, CKY-I, CKY-R, UDP length):\n%s", strings.Join(meaningful(out), "\n"))

	// A repeated message 1 (what an initiator sends when it thinks its
	// first was lost): the same bytes again, from the same port, for each
	// probe. The answer must not tell the real group from the unknown one.
	// Both are sent once both probes' half-open SAs have expired (an
	// unanswered Aggressive Mode SA lives 6 s, known group or decoy
	// alike): what is compared is then the group, not the SAs' ages,
	// which differ by the probes' order.
	time.Sleep(7 * time.Second)
	firsts := ikeScanFirstMessages(t, pcap)
	var again []string
	for i, id := range []string{raGroup, ikeScanUnknown} {
		if i >= len(firsts) {
			t.Errorf("capture: no message 1 of probe %d (--id=%s)", i, id)
			break
		}
		f := firsts[i]
		got := ikeScanResend(t, lab.Left, f.payload)
		t.Logf("--id=%s: message 1 (CKY-I %s) sent again: answers with CKY-R %v (the first answer had %s)", id, f.ckyI, got, f.ckyR)
		// Silence and the same answer again are one behaviour: the
		// responder's own retransmission of its message 2 may or may not
		// fall inside the listening window. A new CKY-R is another.
		if slices.ContainsFunc(got, func(c string) bool { return c != f.ckyR }) {
			again = append(again, "a new answer (new CKY-R)")
		} else {
			again = append(again, "no new answer (silence, or its message 2 again)")
		}
	}
	if len(again) == 2 && again[0] != again[1] {
		t.Errorf("group name enumeration by a repeated message 1: for the real group %q ikegate sends %s, for the unknown group %q %s",
			raGroup, again[0], ikeScanUnknown, again[1])
	}
	raCheckSecrets(t, g, raGroupPSK, raPassword)
	t.Logf("test took %v", time.Since(t0).Round(time.Millisecond))
}

// ikeScanFirst is an initiator's Aggressive Mode message 1 in a capture
// and the CKY-R of the first answer to it.
type ikeScanFirst struct {
	ckyI, ckyR string
	payload    []byte
}

// ikeScanFirstMessages returns the Aggressive Mode messages 1 sent to
// ikegate, in capture order, with the responder cookie of the first answer.
func ikeScanFirstMessages(t *testing.T, pcap string) []ikeScanFirst {
	t.Helper()
	out, err := runOut(Tshark, "-r", pcap, "-n", "-Y", "isakmp.exchangetype == 4", "-T", "fields", "-E", "separator=|",
		"-e", "ip.dst", "-e", "isakmp.ispi", "-e", "isakmp.rspi", "-e", "udp.payload")
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	var fs []ikeScanFirst
	for _, l := range meaningful(out) {
		f := strings.Split(l, "|")
		if len(f) != 4 {
			continue
		}
		if f[0] == RightAddr {
			b, err := hex.DecodeString(strings.ReplaceAll(f[3], ":", ""))
			if err != nil {
				t.Fatalf("tshark udp.payload %q: %v", f[3], err)
			}
			fs = append(fs, ikeScanFirst{ckyI: f[1], payload: b})
			continue
		}
		for i := range fs {
			if fs[i].ckyI == f[1] && fs[i].ckyR == "" {
				fs[i].ckyR = f[2]
			}
		}
	}
	return fs
}

// ikeScanResend sends msg from UDP port 500 of namespace ns to ikegate's
// port 500 and returns the responder cookies of the answers that arrive
// within 700 ms.
func ikeScanResend(t *testing.T, ns string, msg []byte) []string {
	t.Helper()
	var c *net.UDPConn
	if err := InNetns(ns, func() error {
		var err error
		c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(LeftAddr), Port: 500})
		return err
	}); err != nil {
		t.Fatalf("UDP socket on %s:500 in %s: %v", LeftAddr, ns, err)
	}
	defer c.Close()
	if _, err := c.WriteToUDP(msg, &net.UDPAddr{IP: net.ParseIP(RightAddr), Port: 500}); err != nil {
		t.Fatal(err)
	}
	var got []string
	c.SetReadDeadline(time.Now().Add(700 * time.Millisecond))
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return got
		}
		if n >= 16 && bytes.Equal(buf[:8], msg[:8]) {
			got = append(got, hex.EncodeToString(buf[8:16]))
		}
	}
}

func secs(ts []float64) string {
	var out []string
	for _, x := range ts {
		out = append(out, fmt.Sprintf("%.2f", x))
	}
	return "[" + strings.Join(out, " ") + "]"
}
