package interop

import (
	"strings"
	"testing"
)

// TestParseRadiusDetail: two records of a FreeRADIUS 3.2 detail file, as
// the detail module writes them (tab-indented attributes, octets in hex).
func TestParseRadiusDetail(t *testing.T) {
	text := strings.Join([]string{
		"Mon Dec  7 13:30:14 2026",
		"\tAcct-Status-Type = Start",
		"\tAcct-Session-Id = \"972474e75dc151fe\"",
		"\tUser-Name = \"alice\"",
		"\tFramed-IP-Address = 10.9.0.77",
		"\tClass = 0x67726f75702d61",
		"\tTimestamp = 1796650214",
		"",
		"Mon Dec  7 13:30:16 2026",
		"\tAcct-Status-Type = Stop",
		"\tAcct-Session-Id = \"972474e75dc151fe\"",
		"\tUser-Name = \"alice\"",
		"\tAcct-Input-Octets = 1680",
		"\tAcct-Output-Octets = 1680",
		"\tReply-Message = \"say \\\"hi\\\"\"",
		"",
	}, "\n")
	recs := ParseRadiusDetail("10.3.0.1", text)
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2: %v", len(recs), recs)
	}
	a, b := recs[0], recs[1]
	if a.Client != "10.3.0.1" || a.Time != "Mon Dec  7 13:30:14 2026" {
		t.Errorf("record 0: client %q time %q", a.Client, a.Time)
	}
	for _, c := range []struct{ got, want string }{
		{a.Get("Acct-Status-Type"), "Start"},
		{a.Get("Acct-Session-Id"), "972474e75dc151fe"},
		{a.Get("User-Name"), "alice"},
		{a.Get("Framed-IP-Address"), "10.9.0.77"},
		{a.Octets("Class"), "group-a"},
		{b.Get("Acct-Status-Type"), "Stop"},
		{b.Get("Reply-Message"), `say "hi"`},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	if b.Uint("Acct-Input-Octets") != 1680 || b.Uint("Acct-Session-Time") != -1 {
		t.Errorf("Acct-Input-Octets %d, Acct-Session-Time %d", b.Uint("Acct-Input-Octets"), b.Uint("Acct-Session-Time"))
	}
}

// TestParseRadclient: radclient -x output of an Access-Accept.
func TestParseRadclient(t *testing.T) {
	out := "Sent Access-Request Id 224 from 0.0.0.0:45913 to 127.0.0.1:1812 length 63\n" +
		"\tUser-Name = \"alice\"\n\tMessage-Authenticator = 0x00\n" +
		"Received Access-Accept Id 224 from 127.0.0.1:1812 to 127.0.0.1:45913 length 35\n" +
		"\tFramed-IP-Address = 10.9.0.77\n\tClass = 0x67726f75702d61\n"
	r := ParseRadclient(out)
	if r.Code != "Access-Accept" || len(r.Attrs) != 2 || r.Attrs["Framed-IP-Address"][0] != "10.9.0.77" {
		t.Errorf("ParseRadclient: %q %v", r.Code, r.Attrs)
	}
}

// TestParseIkeScan: ike-scan 1.9.5 --multiline --showbackoff output.
func TestParseIkeScan(t *testing.T) {
	out := "Starting ike-scan 1.9.5 with 1 hosts (http://www.nta-monitor.com/tools/ike-scan/)\n" +
		"10.200.0.2\tAggressive Mode Handshake returned\n" +
		"\tHDR=(CKY-R=40ae0737fb00cae1)\n" +
		"\tSA=(Enc=AES Hash=SHA1 Auth=XAUTH_PSK Group=14:modp2048 KeyLength=256)\n" +
		"\tKeyExchange(256 bytes)\n\tHash(20 bytes)\n" +
		"\n" +
		"IKE Backoff Patterns:\n\nIP Address\tNo.\tRecv time\t\tDelta Time\n" +
		"10.200.0.2\t1\t1796650335.629155\t0.000000\n" +
		"10.200.0.2\t2\t1796650336.626641\t0.997486\n" +
		"10.200.0.2\tImplementation guess: UNKNOWN\n" +
		"\n" +
		"Ending ike-scan 1.9.5: 1 hosts scanned in 0.028 seconds (36.25 hosts/sec).  1 returned handshake; 0 returned notify\n"
	r := &IkeScanResult{Out: out}
	parseIkeScan(r, "10.200.0.2")
	if r.Answer != "Aggressive Mode Handshake returned" || !r.Handshake || r.Notify {
		t.Errorf("answer %q handshake %v notify %v", r.Answer, r.Handshake, r.Notify)
	}
	if len(r.Payloads) != 4 || !strings.Contains(r.Shape(), "CKY-R=<cookie>") || strings.Contains(r.Shape(), "40ae07") {
		t.Errorf("payloads %q, shape %q", r.Payloads, r.Shape())
	}
	if len(r.Backoff) != 2 || r.Backoff[0] != 0 || r.Backoff[1] < 0.99 || r.Backoff[1] > 1.0 {
		t.Errorf("backoff %v", r.Backoff)
	}
}
