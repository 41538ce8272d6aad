package interop

import (
	"strings"
	"testing"
	"time"
)

// pskConn is the IKEv2 PSK smoke case as the left peer sees it.
func pskConn(name string) Conn {
	return Conn{
		Name: name, Version: 2,
		LocalAddr: LeftAddr, RemoteAddr: RightAddr,
		LocalID: "@left.lab", RemoteID: "@right.lab",
		Auth: "psk", PSK: "interop-smoke-secret-0123456789",
		IKE: []string{"aes256-sha256-modp2048"},
		ESP: []string{"aes256-sha256"},
	}
}

// TestSmokeStrongSwanToStrongSwanIKEv2PSK proves the lab: two strongSwans in
// two namespaces negotiate an IKEv2 PSK IKE SA and both list it ESTABLISHED.
func TestSmokeStrongSwanToStrongSwanIKEv2PSK(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	left := pskConn("smoke")
	responder := lab.StartStrongSwan(t, lab.Right, SwanConfig{Conns: []Conn{left.Mirror()}})
	initiator := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: []Conn{left}})

	start := time.Now()
	out, err := initiator.Initiate("smoke", 10)
	t.Logf("swanctl --initiate (%v, err %v):\n%s", time.Since(start), err, out)

	for _, side := range []struct {
		name string
		s    *Swan
	}{{"initiator", initiator}, {"responder", responder}} {
		if !WaitFor(t, 5*time.Second, func() bool { return side.s.Established("smoke") }) {
			sas, err := side.s.ListSAs()
			t.Fatalf("%s: IKE SA smoke not ESTABLISHED: %+v %v", side.name, sas, err)
		}
		sa := side.s.IKESA("smoke")
		t.Logf("%s: %+v", side.name, *sa)
		if sa.Version != 2 || sa.EncrAlg != "AES_CBC" || sa.EncrKeysize != "256" || sa.DHGroup != "MODP_2048" {
			t.Errorf("%s: IKE SA %+v, want IKEv2 AES_CBC-256 MODP_2048", side.name, *sa)
		}
		if sa.InitSPI == "" || sa.RespSPI == "" {
			t.Errorf("%s: SPIs missing: %+v", side.name, *sa)
		}
		for _, c := range sa.Children {
			t.Logf("%s: CHILD SA %s state %s", side.name, c.Name, c.State)
		}
	}
	raw, _ := responder.Swanctl("--list-sas", "--pretty")
	t.Logf("responder swanctl --list-sas --pretty:\n%s", raw)
	ini, resp := initiator.IKESA("smoke"), responder.IKESA("smoke")
	if ini.InitSPI != resp.InitSPI || ini.RespSPI != resp.RespSPI {
		t.Errorf("SPIs differ: initiator %s/%s responder %s/%s", ini.InitSPI, ini.RespSPI, resp.InitSPI, resp.RespSPI)
	}
	if !ini.Initiator || resp.Initiator {
		t.Errorf("roles: initiator side says initiator=%v, responder side says initiator=%v", ini.Initiator, resp.Initiator)
	}
	// The CHILD SA: this host's kernel has no ESP, so the responder's SAD
	// install fails ("unable to add SAD entry ... (93)"), it answers
	// IKE_AUTH with NO_PROPOSAL_CHOSEN, and the initiator logs "failed to
	// establish CHILD_SA, keeping IKE_SA": the IKE SA stays, with no child.
	// On a kernel with ESP the child would be INSTALLED; accept both.
	for _, sa := range []*SwanIKESA{ini, resp} {
		for _, c := range sa.Children {
			if c.State != "INSTALLED" {
				t.Errorf("CHILD SA %s in state %s", c.Name, c.State)
			}
		}
	}
	if len(ini.Children) == 0 {
		t.Logf("CHILD SA not built (expected without kernel ESP): initiate err=%v; responder log: %q", err,
			grepLines(responder.Log(), "SAD entry", "NO_PROPOSAL", "CHILD_SA"))
	}
}

// grepLines returns the lines of s containing any of subs.
func grepLines(s string, subs ...string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, sub := range subs {
			if strings.Contains(l, sub) {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

// TestSmokeStrongSwanToLibreswanIKEv2PSK: strongSwan initiates an IKEv2 PSK
// IKE SA to Libreswan; both daemons list it established; the capture on the
// wire dissects cleanly in tshark.
func TestSmokeStrongSwanToLibreswanIKEv2PSK(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	left := pskConn("lsw")
	cap := lab.Capture(t, lab.Right, LabIface)
	lsw := lab.StartLibreswan(t, lab.Right, LibreswanConfig{Conns: []Conn{left.Mirror()}})
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: []Conn{left}})

	start := time.Now()
	out, err := swan.Initiate("lsw", 10)
	t.Logf("swanctl --initiate (%v, err %v):\n%s", time.Since(start), err, out)

	if !WaitFor(t, 5*time.Second, func() bool { return swan.Established("lsw") }) {
		sas, err := swan.ListSAs()
		t.Fatalf("strongSwan: IKE SA lsw not ESTABLISHED: %+v %v", sas, err)
	}
	if !WaitFor(t, 5*time.Second, func() bool { return lsw.IKEEstablished("lsw") }) {
		st, err := lsw.ShowStates()
		t.Fatalf("Libreswan: no established IKE SA for lsw: %+v %v", st, err)
	}
	sa := swan.IKESA("lsw")
	states, _ := lsw.ShowStates()
	t.Logf("strongSwan: %+v", *sa)
	for _, s := range states {
		t.Logf("Libreswan: %+v", s)
	}
	if sa.Version != 2 || sa.EncrAlg != "AES_CBC" || sa.EncrKeysize != "256" || sa.DHGroup != "MODP_2048" {
		t.Errorf("strongSwan IKE SA %+v, want IKEv2 AES_CBC-256 MODP_2048", *sa)
	}
	// Libreswan's CHILD SA: it cannot install one without kernel ESP. Fact
	// (4.10 here): it logs "responder established IKE SA", picks the ESP
	// proposal, then "ERROR: ... netlink response for Add SA esp.SPI@...:
	// Protocol not supported (errno 93)" / "setup_half_ipsec_sa() hit fail"
	// and answers IKE_AUTH with IDr AUTH N(TS_UNACCEPTABLE); strongSwan
	// logs "received TS_UNACCEPTABLE notify, no CHILD_SA built" and keeps
	// the IKE SA.
	t.Logf("Libreswan child outcome: %q", grepLines(lsw.Log(), "Add SA", "hit fail", "TS_UNACCEPTABLE", "established"))
	if len(sa.Children) == 0 && !strings.Contains(out, "TS_UNACCEPTABLE") {
		t.Logf("note: no CHILD SA, and strongSwan did not see TS_UNACCEPTABLE: %s", out)
	}

	pkts := CheckDissection(t, cap.Stop())
	for _, p := range pkts {
		t.Logf("wire: %s", p)
	}
	var init, auth int
	for _, p := range pkts {
		if p.ISPI != sa.InitSPI && p.ISPI != "" {
			t.Errorf("packet %s: initiator SPI differs from strongSwan's %s", p, sa.InitSPI)
		}
		switch p.ExchangeType {
		case 34:
			init++
		case 35:
			auth++
		}
	}
	if init < 2 || auth < 2 {
		t.Errorf("wire: %d IKE_SA_INIT and %d IKE_AUTH messages, want at least 2 of each", init, auth)
	}
}

// TestDissectFlagsMalformed proves CheckDissection is not vacuous: a
// truncated IKEv2 IKE_SA_INIT (testdata/malformed-ike.pcap) is reported.
func TestDissectFlagsMalformed(t *testing.T) {
	RequireLab(t)
	t.Parallel()
	pkts, problems, err := Dissect("testdata/malformed-ike.pcap")
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 1 || !strings.Contains(problems[0], "Malformed") {
		t.Errorf("problems = %q, want one Malformed", problems)
	}
	if len(pkts) != 1 || pkts[0].ExchangeType != 34 || pkts[0].Initiator != true {
		t.Errorf("packets = %v, want one IKE_SA_INIT request", pkts)
	}
}

// TestSmokeStrongSwanToLibreswanIKEv2Pubkey proves the test PKI: strongSwan
// (RSA-2048 certificate) initiates to Libreswan (ECDSA P-256 certificate
// imported into NSS), both authenticating with certificates from one CA.
func TestSmokeStrongSwanToLibreswanIKEv2Pubkey(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	pki := NewTestPKI(t, t.TempDir())
	leftCert := pki.Leaf(t, "left", RSA2048, []string{"left.lab"}, []string{LeftAddr})
	rightCert := pki.Leaf(t, "right", ECDSAP256, []string{"right.lab"}, []string{RightAddr})

	left := Conn{Name: "cert", Version: 2, LocalAddr: LeftAddr, RemoteAddr: RightAddr,
		LocalID: "left.lab", RemoteID: "right.lab",
		IKE: []string{"aes256-sha256-modp2048"}, ESP: []string{"aes256-sha256"}}
	leftCert.UseIn(&left, pki)
	right := left.Mirror()
	rightCert.UseIn(&right, pki)

	lsw := lab.StartLibreswan(t, lab.Right, LibreswanConfig{Conns: []Conn{right}, PKI: pki})
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: []Conn{left}})
	out, err := swan.Initiate("cert", 10)
	t.Logf("swanctl --initiate (err %v):\n%s", err, out)
	if !WaitFor(t, 5*time.Second, func() bool { return swan.Established("cert") }) {
		sas, err := swan.ListSAs()
		t.Fatalf("strongSwan: IKE SA cert not ESTABLISHED: %+v %v", sas, err)
	}
	if !WaitFor(t, 5*time.Second, func() bool { return lsw.IKEEstablished("cert") }) {
		st, err := lsw.ShowStates()
		t.Fatalf("Libreswan: no established IKE SA for cert: %+v %v", st, err)
	}
	sa := swan.IKESA("cert")
	if sa.RemoteID != "right.lab" {
		t.Errorf("strongSwan sees remote id %q, want right.lab", sa.RemoteID)
	}
	t.Logf("Libreswan auth: %q", grepLines(lsw.Log(), "established IKE SA"))
}
