package policy

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const testStateKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

func clusterSrc(lines string) string {
	return "[gateway]\nlisten = [\"192.0.2.11\"]\ndataplane = \"userspace\"\n\n[cluster]\n" + lines +
		"\n[[connection]]\nname = \"c\"\nlocal_addr = \"192.0.2.2\"\nremote_addr = \"198.51.100.1\"\npsk = \"pw\"\n"
}

const clusterOK = `node = "n1"
etcd = ["http://10.210.0.10:2379", "https://10.210.0.11:2379"]
service_addresses = ["192.0.2.2/24", "2001:db8::2/64"]
service_interface = "eth0"
state_key = "` + testStateKey + `"
`

func TestClusterConfig(t *testing.T) {
	cfg, err := Parse("c.toml", []byte(clusterSrc(clusterOK+"lease_ttl = \"2s\"\nprefer = \"192.0.2.2\"\nredirect_from = [\"192.0.2.2\"]\n")))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Cluster
	if c == nil || c.Node != "n1" || len(c.Etcd) != 2 || c.ServiceInterface != "eth0" || len(c.StateKey) != StateKeyLen ||
		c.LeaseTTL != 2*time.Second || c.SyncInterval != DefaultSyncInterval || c.Prefix != DefaultClusterPrefix {
		t.Fatalf("cluster %+v", c)
	}
	if len(c.Prefer) != 1 || c.Prefer[0] != netip.MustParseAddr("192.0.2.2") || len(c.RedirectFrom) != 1 {
		t.Fatalf("prefer %v redirect_from %v", c.Prefer, c.RedirectFrom)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("192.0.2.2/24"), netip.MustParsePrefix("2001:db8::2/64")}; len(c.ServiceAddresses) != 2 ||
		c.ServiceAddresses[0] != want[0] || c.ServiceAddresses[1] != want[1] {
		t.Fatalf("service addresses %v", c.ServiceAddresses)
	}
	// state_key from a file.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "k"), []byte(testStateKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(clusterSrc(clusterOK), `state_key = "`+testStateKey+`"`, `state_key = "file:k"`, 1)
	if cfg, err := Parse(filepath.Join(dir, "c.toml"), []byte(src)); err != nil || cfg.Cluster.StateKey[31] != 0x1f {
		t.Fatalf("state_key from a file: %v", err)
	}
	if cfg, _ := Parse("s.toml", []byte(clusterSrc(clusterOK)[:strings.Index(clusterSrc(clusterOK), "[cluster]")])); cfg != nil && cfg.Cluster != nil {
		t.Fatal("no [cluster], but a Cluster")
	}
}

func TestClusterConfigErrors(t *testing.T) {
	repl := func(old, new string) string { return clusterSrc(strings.Replace(clusterOK, old, new, 1)) }
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"no node", repl(`node = "n1"`, ""), []string{`cluster: key "node": missing`}},
		{"bad node", repl(`node = "n1"`, `node = "n 1"`), []string{`"n 1" is not a node name`}},
		{"bad endpoint", repl(`"http://10.210.0.10:2379"`, `"10.210.0.10:2379"`), []string{`key "etcd": "10.210.0.10:2379" is not an etcd endpoint URL`}},
		{"bad address", repl(`"192.0.2.2/24"`, `"192.0.2.300/24"`), []string{`key "service_addresses": "192.0.2.300/24"`}},
		{"twice", repl(`"2001:db8::2/64"`, `"192.0.2.2/32"`), []string{"address 192.0.2.2 listed twice"}},
		{"short key", repl(testStateKey, "abcd"), []string{`key "state_key": the value must be 64 hex digits`}},
		{"no key", repl(`state_key = "`+testStateKey+`"`, ""), []string{`key "state_key": missing`}},
		{"missing key file", repl(`"`+testStateKey+`"`, `"file:/nonexistent/k"`), []string{`key "state_key": reading the key`}},
		{"lease", clusterSrc(clusterOK + "lease_ttl = \"1s\"\n"), []string{`key "lease_ttl"`}},
		{"ca", clusterSrc(clusterOK + "etcd_ca = \"/nonexistent/ca.pem\"\n"), []string{`key "etcd_ca"`}},
		{"cert alone", clusterSrc(clusterOK + "etcd_cert = \"c.toml\"\n"), []string{"etcd_cert and etcd_key go together"}},
		{"unknown", clusterSrc(clusterOK + "nodes = 3\n"), []string{`"nodes"`}},
		{"xfrm", strings.Replace(clusterSrc(clusterOK), `dataplane = "userspace"`, `dataplane = "xfrm"`, 1), []string{`needs dataplane = "userspace" or "none"`}},
		{"prefer elsewhere", clusterSrc(clusterOK + "prefer = [\"192.0.2.7\"]\n"), []string{`key "prefer": 192.0.2.7 is not one of service_addresses`}},
		{"redirect everywhere", clusterSrc(clusterOK + "redirect_from = [\"192.0.2.2\", \"2001:db8::2\"]\n"), []string{"nowhere to go"}},
		{"not a table", "cluster = 3\n[gateway]\nlisten = [\"192.0.2.11\"]\n", []string{`key "cluster": must be a table`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("c.toml", []byte(tc.src))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "0102030405") || strings.Contains(err.Error(), "abcd") {
				t.Errorf("the state key shows in %q", err)
			}
			if !strings.Contains(err.Error(), "(line ") && tc.name != "not a table" {
				t.Errorf("no line in %q", err)
			}
		})
	}
}
