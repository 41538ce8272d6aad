package interop

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"ikegate/internal/loadgen"
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
// clients are the load generator (internal/loadgen, ikegate's own IKEv2
// initiator engine as a remote-access client; strongSwan's load-tester
// plugin is not in Debian's packages).
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
	var cas []*x509.Certificate
	if mode != "psk" {
		pki := NewTestPKI(t, t.TempDir())
		b, err := os.ReadFile(pki.CACert)
		if err != nil {
			t.Fatal(err)
		}
		for blk, rest := pem.Decode(b); blk != nil; blk, rest = pem.Decode(rest) {
			if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
				cas = append(cas, c)
			}
		}
		if len(cas) == 0 {
			t.Fatalf("CA certificate %s: no certificate", pki.CACert)
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

	cfg := loadgen.Config{
		Version: policy.IKEv2, LocalID: "c%d.lab", RemoteID: raGateFQDN,
		Auth: policy.AuthPSK, PSK: []byte("scale-secret-0123456789abcdef"), VirtualIP: true,
		IKE: raScaleProposals(t, false, "aes128-sha256-x25519"), ESP: raScaleProposals(t, true, "aes128gcm16"),
		Count: ra2ScaleClients,
	}
	if mode != "psk" {
		cfg.Auth, cfg.PSK, cfg.CAs = policy.AuthPubkey, nil, cas
		cfg.User, cfg.Password = "user%d", "pass-%d"
	}
	elapsed := raScaleRun(t, lab.Lab, g, netip.MustParsePrefix("10.9.0.0/22"), cfg, func(netip.Addr) string { return "" })
	rssAfter, cpuAfter := vmRSS(t, g.Proc.Pid()), cpuTime(t, g.Proc.Pid())
	t.Logf("%s: %d IKEv2 road warriors with virtual IPs up in %v (%.0f per second); ikegate CPU %v (%.2f ms per client), RSS %d KiB -> %d KiB: %.1f KiB per client",
		mode, ra2ScaleClients, elapsed.Round(time.Millisecond), float64(ra2ScaleClients)/elapsed.Seconds(),
		(cpuAfter - cpuBefore).Round(time.Millisecond), float64((cpuAfter-cpuBefore).Microseconds())/1000/ra2ScaleClients,
		rssBefore, rssAfter, float64(rssAfter-rssBefore)/ra2ScaleClients)
}

// cpuTime reads a process's user+system CPU time from /proc/PID/stat.
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	d, err := CPUTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
