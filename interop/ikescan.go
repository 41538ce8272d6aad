package interop

// The ike-scan driver: ike-scan 1.9.5 (Debian bookworm), the IKEv1
// scanner, as an attacker probing an Aggressive Mode PSK responder from a
// lab namespace, and psk-crack, its offline dictionary attack on the
// captured hash.
//
// Facts (ike-scan 1.9.5, measured on this host):
//   - `ike-scan --aggressive --id=NAME --idtype=11 --trans=7/256,2,65001,14
//     --dhgroup=14 TARGET` sends one Aggressive Mode first message (AES-256,
//     SHA-1, XAUTHInitPreShared, MODP-2048, the name as ID_KEY_ID) from
//     UDP port 500 and never completes the exchange. It retries (--retry,
//     default 3 tries) only while nothing answers.
//   - With --multiline each answer is one line "ADDR<TAB>Aggressive Mode
//     Handshake returned" (or "Notify message N (NAME)"), then one
//     TAB-indented line per payload: HDR=(CKY-R=...), SA=(...),
//     KeyExchange(N bytes), Nonce(N bytes), ID(Type=..., Value=...),
//     Hash(N bytes), VID=<hex> (name), ...; the summary line at the end
//     counts "N returned handshake; M returned notify".
//   - --pskcrack=FILE writes the values psk-crack needs (g^xr, g^xi,
//     CKY-R, CKY-I, SAi_b, IDir_b, Ni_b, Nr_b, HASH_R, colon-separated).
//     `psk-crack -d WORDLIST FILE` prints `key "K" matches SHA1 hash H`
//     for a hit and `no match found for SHA1 hash H` otherwise.

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Paths of ike-scan and psk-crack (install.sh installs them).
var (
	IkeScanBin  = "/usr/bin/ike-scan"
	PskCrackBin = "/usr/bin/psk-crack"
)

// requireIkeScan fails the test when ike-scan or psk-crack is missing.
func requireIkeScan(t testing.TB) {
	t.Helper()
	for _, p := range []string{IkeScanBin, PskCrackBin} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("IKEGATE_INTEROP=1 but %s is missing: %v (run interop/install.sh)", p, err)
		}
	}
}

// IkeScanResult is one ike-scan run against one target.
type IkeScanResult struct {
	Out       string   // ike-scan's whole output
	Answer    string   // the answer's first line after the address ("Aggressive Mode Handshake returned", "Notify message 14 (NO-PROPOSAL-CHOSEN)")
	Payloads  []string // the answer's payload lines (--multiline), as printed
	Handshake bool     // the summary counts a handshake
	Notify    bool     // the summary counts a notify
	PSKFile   string   // --pskcrack output (empty file when no handshake)
	// Backoff is the --showbackoff table: the arrival times (seconds,
	// relative to the first) of every answer the target sent to the one
	// probe, retransmissions included.
	Backoff []float64
}

// Shape is the answer's payloads with the values that differ from one
// answer to the next (the responder cookie) blanked: two answers of the
// same shape have the same payloads, in the same order, of the same sizes,
// with the same SA, ID and vendor IDs.
func (r *IkeScanResult) Shape() string {
	var out []string
	for _, p := range r.Payloads {
		out = append(out, ikeScanCookie.ReplaceAllString(p, "CKY-R=<cookie>"))
	}
	return strings.Join(out, "\n")
}

var ikeScanCookie = regexp.MustCompile(`CKY-R=[0-9a-fA-F]+`)

// IkeScanAggressive runs ike-scan in namespace ns against target: one
// Aggressive Mode first message with id as ID_KEY_ID and the transform
// trans (ike-scan's --trans syntax), DH group dh; the PSK parameters go
// to pskFile. extra are more ike-scan options (e.g. "--showbackoff=3").
func IkeScanAggressive(t testing.TB, ns, pskFile, target, id, trans string, dh int, extra ...string) *IkeScanResult {
	t.Helper()
	requireIkeScan(t)
	r := &IkeScanResult{PSKFile: pskFile}
	argv := []string{IPCmd, "netns", "exec", ns, IkeScanBin, "--aggressive", "--multiline",
		"--id=" + id, "--idtype=11", "--trans=" + trans, fmt.Sprintf("--dhgroup=%d", dh),
		"--retry=2", "--timeout=1000", "--pskcrack=" + r.PSKFile}
	argv = append(append(argv, extra...), target)
	out, err := runOut(argv...)
	r.Out = out
	t.Logf("%s\n%s", strings.Join(argv[4:], " "), strings.TrimRight(out, "\n"))
	if err != nil {
		t.Errorf("ike-scan: %v", err)
	}
	parseIkeScan(r, target)
	return r
}

// ikeScanBackoff is a row of the --showbackoff table: ADDR, number, receive
// time, delta time (seconds).
var ikeScanBackoff = regexp.MustCompile(`^(\S+)\t(\d+)\t([0-9.]+)\t([0-9.]+)`)

var ikeScanSummary = regexp.MustCompile(`(\d+) returned handshake; (\d+) returned notify`)

// parseIkeScan fills r from r.Out (ike-scan --multiline).
func parseIkeScan(r *IkeScanResult, target string) {
	in := false
	var first float64
	for _, l := range strings.Split(r.Out, "\n") {
		if m := ikeScanBackoff.FindStringSubmatch(l); m != nil {
			if m[1] == target {
				at, _ := strconv.ParseFloat(m[3], 64)
				if len(r.Backoff) == 0 {
					first = at
				}
				r.Backoff = append(r.Backoff, at-first)
			}
			in = false
			continue
		}
		switch {
		case strings.HasPrefix(l, target+"\t") && r.Answer == "":
			r.Answer, in = strings.TrimSpace(strings.TrimPrefix(l, target+"\t")), true
		case in && strings.HasPrefix(l, "\t"):
			r.Payloads = append(r.Payloads, strings.TrimSpace(l))
		default:
			in = false
		}
		if m := ikeScanSummary.FindStringSubmatch(l); m != nil {
			r.Handshake, r.Notify = m[1] != "0", m[2] != "0"
		}
	}
}

// PskCrack runs `psk-crack -d wordlist pskfile`; it returns the key found
// ("" for none) and psk-crack's output.
func PskCrack(t testing.TB, wordlist, pskfile string) (string, string) {
	t.Helper()
	out, err := runOut(PskCrackBin, "-d", wordlist, pskfile)
	if m := pskCrackHit.FindStringSubmatch(out); m != nil {
		return m[1], out
	}
	if err != nil || !strings.Contains(out, "no match found") {
		t.Errorf("psk-crack -d %s %s: %v\n%s", wordlist, pskfile, err, out)
	}
	return "", out
}

var pskCrackHit = regexp.MustCompile(`key "(.*)" matches`)
