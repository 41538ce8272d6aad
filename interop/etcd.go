package interop

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Etcd is the path of Debian's etcd server (etcd-server), etcdctl its
// client (etcd-client); install.sh installs both.
var (
	Etcd    = "/usr/bin/etcd"
	Etcdctl = "/usr/bin/etcdctl"
)

// EtcdCluster is a running etcd cluster of the lab.
type EtcdCluster struct {
	NS        string
	Endpoints []string // client URLs
	Members   []*Proc
	TLS       bool // clients need a certificate of EtcdCerts (https)
}

// EtcdCerts are the test-only etcd TLS files of configs/certs (absolute):
// the CA, the server's certificate and key, and the client's.
func EtcdCerts(t testing.TB) (ca, serverCert, serverKey, clientCert, clientKey string) {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "configs", "certs"))
	if err != nil {
		t.Fatal(err)
	}
	f := func(n string) string { return filepath.Join(dir, n) }
	return f("etcd-ca.pem"), f("etcd-server.crt.pem"), f("etcd-server.key.pem"), f("etcd-client.crt.pem"), f("etcd-client.key.pem")
}

// StartEtcd starts an etcd cluster of n members in namespace ns, all on
// address addr (member i: client port 2379+100i, peer port 2380+100i),
// and waits until it has a leader. With useTLS, clients must present a
// certificate of EtcdCerts' CA (--client-cert-auth) over https.
func (l *Lab) StartEtcd(t testing.TB, ns, addr string, n int, useTLS bool) *EtcdCluster {
	t.Helper()
	scheme := "http"
	var tlsArgs []string
	if useTLS {
		scheme = "https"
		ca, cert, key, _, _ := EtcdCerts(t)
		tlsArgs = []string{"--cert-file", cert, "--key-file", key, "--trusted-ca-file", ca, "--client-cert-auth"}
	}
	dir := shortTempDir(t, "etcd-")
	var initial []string
	for i := range n {
		initial = append(initial, fmt.Sprintf("e%d=http://%s:%d", i, addr, 2380+100*i))
	}
	ec := &EtcdCluster{NS: ns, TLS: useTLS}
	for i := range n {
		client := fmt.Sprintf("%s://%s:%d", scheme, addr, 2379+100*i)
		peer := fmt.Sprintf("http://%s:%d", addr, 2380+100*i)
		name := fmt.Sprintf("e%d", i)
		ec.Endpoints = append(ec.Endpoints, client)
		p := startProc(t, "etcd-"+name, filepath.Join(dir, name+".log"), nil, append([]string{IPCmd, "netns", "exec", ns, Etcd,
			"--name", name, "--data-dir", filepath.Join(dir, name),
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "ikg-" + l.ID,
			// A LAN lab: quick heartbeats, so a lost member is noticed fast.
			"--heartbeat-interval", "100", "--election-timeout", "1000",
			"--log-level", "warn"}, tlsArgs...))
		ec.Members = append(ec.Members, p)
	}
	var last string
	if !WaitFor(t, 20*time.Second, func() bool {
		out, err := ec.Ctl(t, l, "endpoint", "status", "--write-out", "simple")
		last = out
		return err == nil && strings.Count(out, "true") >= 1 // one member is the leader
	}) {
		t.Fatalf("etcd in %s did not come up with a leader: %s", ns, last)
	}
	return ec
}

// Ctl runs etcdctl against the cluster.
func (ec *EtcdCluster) Ctl(t testing.TB, l *Lab, args ...string) (string, error) {
	pre := []string{"--endpoints", strings.Join(ec.Endpoints, ",")}
	if ec.TLS {
		ca, _, _, cert, key := EtcdCerts(t)
		pre = append(pre, "--cacert", ca, "--cert", cert, "--key", key)
	}
	return l.Exec(ec.NS, Etcdctl, append(pre, args...)...)
}
