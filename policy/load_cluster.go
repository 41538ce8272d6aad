package policy

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
)

// Cluster is the [cluster] table: this node's place in a cluster of
// gateways that share SA state and service addresses through etcd.
type Cluster struct {
	Node string   // unique name of this node
	Etcd []string // etcd endpoints (http:// or https:// URLs)
	// EtcdCA, EtcdCert and EtcdKey are PEM files for TLS to etcd (the CA
	// that signed etcd's certificate; this node's client certificate and
	// key). Empty: no client certificate / the system roots.
	EtcdCA, EtcdCert, EtcdKey string
	// ServiceAddresses are the addresses the cluster serves, each owned
	// by one node at a time; the prefix length is the one the owner adds
	// the address with.
	ServiceAddresses []netip.Prefix
	ServiceInterface string // where a node adds an address it owns
	// StateKey encrypts SA secrets at rest in etcd (AES-256-GCM).
	StateKey []byte
	// LeaseTTL is the lifetime of this node's etcd lease: a node that
	// cannot renew it stops serving before it expires, and a survivor
	// takes its addresses after it expired.
	LeaseTTL time.Duration
	// SyncInterval is how often SA state changes are written (batched).
	SyncInterval time.Duration
	// Prefix is the etcd key prefix of the cluster's keys.
	Prefix string
	// Prefer are the service addresses this node takes first when it
	// joins; it campaigns for the others one lease TTL later, so that
	// each node starts with its own (no preemption afterwards).
	Prefer []netip.Addr
	// RedirectFrom are entry addresses: a new IKEv2 client that reaches
	// one of them (on this node) and supports RFC 5685 is redirected to a
	// service address of the least-loaded node, unless this node is less
	// loaded than every other.
	RedirectFrom []netip.Addr
}

// Cluster defaults and bounds.
const (
	DefaultLeaseTTL      = 3 * time.Second
	MinLeaseTTL          = 2 * time.Second
	MaxLeaseTTL          = time.Minute
	DefaultSyncInterval  = 200 * time.Millisecond
	MinSyncInterval      = 10 * time.Millisecond
	MaxSyncInterval      = 5 * time.Second
	DefaultClusterPrefix = "/ikegate/"
	// StateKeyLen is the length of [cluster] state_key: an AES-256 key.
	StateKeyLen = 32
)

var validClusterKeys = []string{
	"node", "etcd", "etcd_ca", "etcd_cert", "etcd_key", "service_addresses", "service_interface",
	"state_key", "lease_ttl", "sync_interval", "prefix", "prefer", "redirect_from",
}

var cfgNodeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// cluster reads the [cluster] table (nil when there is none).
func (l *cfgLoader) cluster(top *cfgTable, g *Gateway) *Cluster {
	v, ok := top.take("cluster")
	if !ok {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		top.errf("cluster", "must be a table ([cluster]), not %s", cfgTOMLType(v))
		return nil
	}
	t := &cfgTable{l: l, sec: "cluster", loc: "cluster", m: m}
	defer t.unknown(validClusterKeys)
	c := &Cluster{LeaseTTL: DefaultLeaseTTL, SyncInterval: DefaultSyncInterval, Prefix: DefaultClusterPrefix}
	if s, ok := t.str("node"); ok {
		if !cfgNodeRE.MatchString(s) {
			t.errf("node", "%q is not a node name (letters, digits, '.', '_', '-'; up to 63)", s)
		}
		c.Node = s
	} else if !t.has("node") {
		t.errf("node", `missing: this node's unique name, e.g. node = "n1"`)
	}
	if list, ok := t.strs("etcd"); ok {
		for _, s := range list {
			u, err := url.Parse(s)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				t.errf("etcd", "%q is not an etcd endpoint URL (like \"http://10.210.0.10:2379\")", s)
				continue
			}
			c.Etcd = append(c.Etcd, s)
		}
		if len(list) == 0 {
			t.errf("etcd", "must list at least one etcd endpoint")
		}
	} else if !t.has("etcd") {
		t.errf("etcd", `missing: the etcd endpoints, e.g. etcd = ["http://10.210.0.10:2379"]`)
	}
	for _, k := range []struct {
		key string
		dst *string
	}{{"etcd_ca", &c.EtcdCA}, {"etcd_cert", &c.EtcdCert}, {"etcd_key", &c.EtcdKey}} {
		if s, ok := t.str(k.key); ok {
			p := l.resolve(s)
			if _, err := os.Stat(p); err != nil {
				t.errf(k.key, "%v", err)
			}
			*k.dst = p
		}
	}
	if (c.EtcdCert == "") != (c.EtcdKey == "") {
		t.errf("etcd_cert", "etcd_cert and etcd_key go together")
	}
	if list, ok := t.strs("service_addresses"); ok {
		seen := map[netip.Addr]bool{}
		for _, s := range list {
			p, err := netip.ParsePrefix(strings.TrimSpace(s))
			if err != nil {
				a, aerr := cfgParseAddr(s)
				if aerr != nil {
					t.errf("service_addresses", "%q is not an address with prefix length (like \"10.200.0.2/24\")", s)
					continue
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits())
			if seen[p.Addr()] {
				t.errf("service_addresses", "address %s listed twice", p.Addr())
				continue
			}
			seen[p.Addr()] = true
			if l.service == nil {
				l.service = map[netip.Addr]bool{}
			}
			l.service[p.Addr()] = true
			c.ServiceAddresses = append(c.ServiceAddresses, p)
		}
		if len(list) == 0 {
			t.errf("service_addresses", "must list at least one address")
		}
	} else if !t.has("service_addresses") {
		t.errf("service_addresses", `missing: the addresses the cluster serves, e.g. service_addresses = ["10.200.0.2/24"]`)
	}
	if s, ok := t.str("service_interface"); ok {
		if s == "" || len(s) > 15 || strings.ContainsAny(s, "/ \t") {
			t.errf("service_interface", "%q is not an interface name", s)
		}
		c.ServiceInterface = s
	} else if !t.has("service_interface") {
		t.errf("service_interface", `missing: the interface a node adds an address it takes over to, e.g. service_interface = "eth0"`)
	}
	// The key is never quoted in errors.
	if s, ok := t.str("state_key"); ok {
		key, err := l.stateKey(s)
		if err != nil {
			t.errf("state_key", "%w", err)
		}
		c.StateKey = key
	} else if !t.has("state_key") {
		t.errf("state_key", "missing: 64 hex digits, or file:/path to a file holding them (encrypts SA secrets in etcd)")
	}
	t.durationIn("lease_ttl", &c.LeaseTTL, MinLeaseTTL, MaxLeaseTTL)
	t.durationIn("sync_interval", &c.SyncInterval, MinSyncInterval, MaxSyncInterval)
	if s, ok := t.str("prefix"); ok {
		if !strings.HasPrefix(s, "/") || !strings.HasSuffix(s, "/") {
			t.errf("prefix", "%q must start and end with '/' (like \"/ikegate/\")", s)
		}
		c.Prefix = s
	}
	for _, k := range []struct {
		key string
		dst *[]netip.Addr
	}{{"prefer", &c.Prefer}, {"redirect_from", &c.RedirectFrom}} {
		list, ok := t.strs(k.key)
		if !ok {
			continue
		}
		for _, s := range list {
			a, err := cfgParseAddr(s)
			switch {
			case err != nil:
				t.errf(k.key, "%w", err)
			case !l.service[a]:
				t.errf(k.key, "%s is not one of service_addresses", a)
			default:
				*k.dst = append(*k.dst, a)
			}
		}
	}
	if len(c.RedirectFrom) > 0 && len(c.RedirectFrom) == len(c.ServiceAddresses) {
		t.errf("redirect_from", "names every service address: clients would have nowhere to go")
	}
	if g.Dataplane == "xfrm" {
		t.errf("node", `a cluster needs dataplane = "userspace" or "none": the xfrm dataplane cannot yet resume ESP sequence numbers after a takeover, and restarting them would reuse AES-GCM nonces`)
	}
	return c
}

// stateKey decodes state_key: 64 hex digits, or file:PATH of a file
// holding them (or the 32 raw bytes). Errors never quote the key.
func (l *cfgLoader) stateKey(s string) ([]byte, error) {
	src := "the value"
	if p, ok := strings.CutPrefix(s, "file:"); ok {
		p = l.resolve(p)
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading the key: %w", err)
		}
		if len(b) == StateKeyLen {
			return b, nil
		}
		s, src = strings.TrimSpace(string(b)), "the file "+p
	}
	key, err := hex.DecodeString(s)
	if err != nil || len(key) != StateKeyLen {
		return nil, fmt.Errorf("%s must be %d hex digits (a %d-byte key; make one with: openssl rand -hex %d)", src, 2*StateKeyLen, StateKeyLen, StateKeyLen)
	}
	return key, nil
}
