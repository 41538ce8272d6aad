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
}

// StartEtcd starts an etcd cluster of n members in namespace ns, all on
// address addr (member i: client port 2379+100i, peer port 2380+100i),
// and waits until it has a leader.
func (l *Lab) StartEtcd(t testing.TB, ns, addr string, n int) *EtcdCluster {
	t.Helper()
	dir := shortTempDir(t, "etcd-")
	var initial []string
	for i := range n {
		initial = append(initial, fmt.Sprintf("e%d=http://%s:%d", i, addr, 2380+100*i))
	}
	ec := &EtcdCluster{NS: ns}
	for i := range n {
		client := fmt.Sprintf("http://%s:%d", addr, 2379+100*i)
		peer := fmt.Sprintf("http://%s:%d", addr, 2380+100*i)
		name := fmt.Sprintf("e%d", i)
		ec.Endpoints = append(ec.Endpoints, client)
		p := startProc(t, "etcd-"+name, filepath.Join(dir, name+".log"), nil, []string{IPCmd, "netns", "exec", ns, Etcd,
			"--name", name, "--data-dir", filepath.Join(dir, name),
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "ikg-" + l.ID,
			// A LAN lab: quick heartbeats, so a lost member is noticed fast.
			"--heartbeat-interval", "100", "--election-timeout", "1000",
			"--log-level", "warn"})
		ec.Members = append(ec.Members, p)
	}
	var last string
	if !WaitFor(t, 20*time.Second, func() bool {
		out, err := l.Exec(ns, Etcdctl, "--endpoints", strings.Join(ec.Endpoints, ","), "endpoint", "status", "--write-out", "simple")
		last = out
		return err == nil && strings.Count(out, "true") >= 1 // one member is the leader
	}) {
		t.Fatalf("etcd in %s did not come up with a leader: %s", ns, last)
	}
	return ec
}

// Ctl runs etcdctl against the cluster.
func (ec *EtcdCluster) Ctl(l *Lab, args ...string) (string, error) {
	return l.Exec(ec.NS, Etcdctl, append([]string{"--endpoints", strings.Join(ec.Endpoints, ",")}, args...)...)
}
