package interop

import (
	"crypto/x509"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"ikegate/oakley"
	"ikegate/policy"
)

// ra2ScaleClients is how many IKEv2 road warriors TestIKEv2RAScale brings
// up in each of its runs.
const ra2ScaleClients = 1000

// TestIKEv2RAScale: 1,000 concurrent IKEv2 road warriors against one
// ikegate (two workers, dataplane "none"), each asking for a virtual IP
// with a configuration payload, each its own UDP port (clients behind one
// NAT): with a PSK, with EAP-MSCHAPv2 against ikegate's local users, and
// with EAP-MSCHAPv2 passed through to FreeRADIUS. Every client must get a
// distinct address of the pool, and ikegate's leases must match. The
// clients are ikegate's own IKEv2 initiator engine as a remote-access
// client (strongSwan's load-tester plugin is not in Debian's packages).
// Reports per run the time to bring them all up, ikegate's CPU time and
// RSS per client.
func TestIKEv2RAScale(t *testing.T) {
	for _, mode := range []string{"psk", "eap-mschapv2", "eap-radius"} {
		t.Run(mode, func(t *testing.T) { ra2Scale(t, mode) })
	}
}

func ra2Scale(t *testing.T, mode string) {
	lab := newRadiusLab(t)
	var users strings.Builder
	var radUsers []RadiusUser
	for i := range ra2ScaleClients {
		fmt.Fprintf(&users, "[[user]]\nname = \"user%d\"\npassword = \"pass-%d\"\n", i, i)
		radUsers = append(radUsers, RadiusUser{Name: "user" + strconv.Itoa(i), Password: "pass-" + strconv.Itoa(i)})
	}
	auth := `auth = "psk"
psk = "scale-secret-0123456789abcdef"`
	extra := ""
	var cas *x509.CertPool
	if mode != "psk" {
		pki := NewTestPKI(t, t.TempDir())
		cas = x509.NewCertPool()
		if pem, err := os.ReadFile(pki.CACert); err != nil || !cas.AppendCertsFromPEM(pem) {
			t.Fatalf("CA certificate %s: %v", pki.CACert, err)
		}
		gl := pki.Leaf(t, raGateFQDN, ECDSAP256, []string{raGateFQDN}, nil)
		auth = fmt.Sprintf("auth = \"pubkey\"\ncert = %q\nkey = %q\nremote_auth = %q", gl.Cert, gl.Key, mode)
	}
	if mode == "eap-radius" {
		requireFreeRADIUS(t)
		fr := lab.StartFreeRADIUS(t, lab.Radius, FreeRADIUSConfig{Addr: radServerAddr,
			Clients: []RadiusClient{{Name: "ikegate", Addr: radGateAddr, Secret: radSecret}}, Users: radUsers})
		keepLogs(t, fr.LogPath)
		extra = fmt.Sprintf("[radius]\nservers = [\"%s\"]\nsecret = %q\n", fr.AuthAddr(), radSecret)
	}
	g := lab.StartIkegate(t, lab.Right, fmt.Sprintf(`[gateway]
listen = [%q]
dataplane = "none"
workers = 2
log_level = "warn"
control = %q

[[pool]]
name = "rw"
addresses = ["10.9.0.0/22"]
dns = ["10.2.0.53"]

%s
%s
[[connection]]
name = "rw"
version = "ikev2"
remote_addr = "%%any"
local_id = %q
remote_id = "%%any"
%s
pool = "rw"
ike = ["aes128-sha256-x25519"]
esp = ["aes128gcm16"]
local_ts = ["10.2.0.0/24"]
`, RightAddr, ControlPlaceholder, users.String(), extra, "@"+raGateFQDN, auth))
	rssBefore, cpuBefore := vmRSS(t, g.Proc.Pid()), cpuTime(t, g.Proc.Pid())

	ike, err := oakley.ParseProposal("aes128-sha256-x25519", false)
	if err != nil {
		t.Fatal(err)
	}
	esp, _ := oakley.ParseProposal("aes128gcm16", true)
	gw := netip.MustParseAddr(RightAddr)
	elapsed := raScaleRun(t, lab.Lab, g, ra2ScaleClients, netip.MustParsePrefix("10.9.0.0/22"), func(i int) *policy.Connection {
		conn := &policy.Connection{
			Name: "c" + strconv.Itoa(i), Version: policy.IKEv2,
			LocalAddr: netip.MustParseAddr(LeftAddr), RemoteAddr: gw,
			LocalID:  policy.Identity{Type: policy.IDFQDN, Data: []byte("c" + strconv.Itoa(i) + ".lab")},
			RemoteID: policy.Identity{Type: policy.IDFQDN, Data: []byte(raGateFQDN)},
			Auth:     policy.AuthPSK, PSK: []byte("scale-secret-0123456789abcdef"),
			IKE: []oakley.Proposal{ike}, ESP: []oakley.Proposal{esp},
			RemoteTS:  []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")},
			VirtualIP: true,
		}
		if mode != "psk" {
			conn.Auth, conn.PSK, conn.CAs = policy.AuthPubkey, nil, cas
			conn.XAuthUser, conn.XAuthPassword = "user"+strconv.Itoa(i), []byte("pass-"+strconv.Itoa(i))
		}
		return conn
	}, func(netip.Addr) string { return "" })
	rssAfter, cpuAfter := vmRSS(t, g.Proc.Pid()), cpuTime(t, g.Proc.Pid())
	t.Logf("%s: %d IKEv2 road warriors with virtual IPs up in %v (%.0f per second); ikegate CPU %v (%.2f ms per client), RSS %d KiB -> %d KiB: %.1f KiB per client",
		mode, ra2ScaleClients, elapsed.Round(time.Millisecond), float64(ra2ScaleClients)/elapsed.Seconds(),
		(cpuAfter - cpuBefore).Round(time.Millisecond), float64((cpuAfter-cpuBefore).Microseconds())/1000/ra2ScaleClients,
		rssBefore, rssAfter, float64(rssAfter-rssBefore)/ra2ScaleClients)
}

// cpuTime reads a process's user+system CPU time from /proc/PID/stat.
func cpuTime(t *testing.T, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // fields from 3 (state) on
	ut, _ := strconv.ParseInt(f[11], 10, 64)                 // field 14: utime
	st, _ := strconv.ParseInt(f[12], 10, 64)                 // field 15: stime
	return time.Duration(ut+st) * time.Second / 100          // clock ticks (USER_HZ 100)
}
