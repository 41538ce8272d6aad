// Package cluster runs one node of a cluster of ikegate gateways that
// share their SA state and service addresses through etcd.
//
// Every service address has one owner at a time: the node whose etcd
// lease holds the address's owner key. The owner serves the address (it
// has the address on its service interface and answers IKE and ESP for
// it) and writes the state of every SA on it to etcd, encrypted with the
// cluster's state key. When an owner's lease expires (the node died, hung
// or lost etcd), the key goes with it and a survivor takes the address:
// it restores the SAs from etcd (through the gateway's Hooks, which hand
// them to the engines' restore path), adds the address and announces it
// on the link. The peers keep their SAs; nothing is negotiated again.
//
// Fencing. A node renews its lease with its own keepalives and knows how
// long the lease is valid for certain: from the moment it sent the last
// answered keepalive plus the lease's TTL, minus a margin (etcd counts
// the TTL from when it received the keepalive, which is later). When
// that moment passes without a newer answer, the node removes its
// service addresses and forgets their SAs, before etcd can expire the
// lease and hand the addresses to anyone else: there is no moment with
// two owners. The addresses are also added with a kernel lifetime that
// ends at that moment and is renewed with the lease, so a process that
// is killed or hangs loses them too. Every write of SA state is a
// transaction conditional on the writer's lease still holding the owner
// key, so a node that lost an address can never overwrite its new
// owner's state.
//
// This package knows etcd, addresses and encrypted blobs; what is in the
// blobs (engine.Record) is the gateway's business.
package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"ikegate/policy"
)

// Hooks connect a Node to the gateway that runs it.
type Hooks struct {
	// Acquire is called when this node has become the owner of addr,
	// before the address is added to the interface, with the SA records
	// stored for it (decrypted), by name. It returns how many SAs it
	// restored.
	Acquire func(addr netip.Addr, records map[string][]byte) int
	// Release is called when this node no longer owns addr (its lease
	// was lost, or it stops), after the address was removed: the SAs on
	// it must be forgotten without telling the peers, whom the next
	// owner serves.
	Release func(addr netip.Addr)
	// SAs returns the number of IKE SAs this node holds, for the status
	// it publishes.
	SAs func() int
	// Reserved reports another node's reservation of a pool address
	// (held), or its end: the pools skip such addresses (Reserve).
	Reserved func(pool string, addr netip.Addr, held bool)
}

// Stats are a node's counters (metrics).
type Stats struct {
	Takeovers   uint64 // service addresses taken over (including the first owner's)
	Restored    uint64 // SAs restored in takeovers
	Fences      uint64 // times the lease was lost and the addresses dropped
	Writes      uint64 // SA records written or deleted in etcd
	WriteErrors uint64 // failed batch writes (retried)
	// Lag is the age of the oldest change in the last batch written: how
	// far etcd's copy of the SA state was behind.
	Lag   time.Duration
	Owned int  // service addresses owned now
	Lease bool // the lease is held (false: fenced or not yet joined)
}

// NodeStatus is one node as `ikegate cluster --json` lists it.
type NodeStatus struct {
	Node      string    `json:"node"`
	Addresses []string  `json:"addresses"` // service addresses it owns now (from the owner keys)
	SAs       int       `json:"sas"`       // IKE SAs it holds (as it last published)
	Lease     string    `json:"lease"`     // "ok" while its lease lives; "expired" for a node only named by old state
	Updated   time.Time `json:"updated,omitzero"`
	Self      bool      `json:"self,omitempty"` // the node that answered
}

// fenceMargin is taken off the lease's validity: the time to remove the
// addresses and for clocks that run at slightly different rates.
const fenceMargin = 500 * time.Millisecond

// Node is this gateway's membership of a cluster.
type Node struct {
	cfg   *policy.Cluster
	log   *zap.Logger
	hooks Hooks
	cli   *clientv3.Client
	seal  *sealer
	link  linkAddrs
	svc   map[netip.Addr]netip.Prefix // the service addresses

	mu         sync.Mutex
	lease      clientv3.LeaseID // 0: none
	validUntil time.Time        // the lease surely lives until then
	owned      map[netip.Addr]bool
	pending    map[string]pendingOp // by etcd key
	oldest     time.Time            // of the pending changes

	takeovers, restored, fences, writes, writeErrs atomic.Uint64
	lag                                            atomic.Int64

	// view is the cluster as last read from etcd, for redirects, and
	// sent are the redirects made to each node since: a node's load is
	// what it published plus the clients sent to it after that.
	viewMu sync.Mutex
	view   []NodeStatus
	sent   map[string][]time.Time
	entry  map[netip.Addr]bool // redirect_from
	prefer map[netip.Addr]bool
}

type pendingOp struct {
	addr  netip.Addr
	value []byte // sealed; nil: delete
	at    time.Time
}

// New checks cfg and prepares the etcd client; nothing is contacted
// before Run.
func New(cfg *policy.Cluster, log *zap.Logger, hooks Hooks) (*Node, error) {
	if log == nil {
		log = zap.NewNop()
	}
	s, err := newSealer(cfg.StateKey)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := etcdTLS(cfg)
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: cfg.Etcd, DialTimeout: cfg.LeaseTTL, TLS: tlsCfg,
		DialKeepAliveTime: cfg.LeaseTTL, DialKeepAliveTimeout: cfg.LeaseTTL,
		Logger: log.Named("etcd").WithOptions(zap.IncreaseLevel(zap.WarnLevel)),
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: etcd client: %w", err)
	}
	n := &Node{
		cfg: cfg, log: log.Named("cluster").With(zap.String("node", cfg.Node)), hooks: hooks, cli: cli, seal: s,
		link: linkAddrs{ifname: cfg.ServiceInterface}, svc: map[netip.Addr]netip.Prefix{},
		owned: map[netip.Addr]bool{}, pending: map[string]pendingOp{},
	}
	for _, p := range cfg.ServiceAddresses {
		n.svc[p.Addr()] = p
	}
	n.entry, n.prefer = map[netip.Addr]bool{}, map[netip.Addr]bool{}
	for _, a := range cfg.RedirectFrom {
		n.entry[a] = true
	}
	for _, a := range cfg.Prefer {
		n.prefer[a] = true
	}
	return n, nil
}

func etcdTLS(cfg *policy.Cluster) (*tls.Config, error) {
	tlsURL := slices.ContainsFunc(cfg.Etcd, func(s string) bool { return strings.HasPrefix(s, "https://") })
	if !tlsURL && cfg.EtcdCA == "" && cfg.EtcdCert == "" {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.EtcdCA != "" {
		pem, err := os.ReadFile(cfg.EtcdCA)
		if err != nil {
			return nil, fmt.Errorf("cluster: etcd_ca: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("cluster: etcd_ca %s: no PEM certificate in it", cfg.EtcdCA)
		}
	}
	if cfg.EtcdCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.EtcdCert, cfg.EtcdKey)
		if err != nil {
			return nil, fmt.Errorf("cluster: etcd_cert/etcd_key: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// Service reports whether addr is one of the cluster's service addresses.
func (n *Node) Service(addr netip.Addr) bool { _, ok := n.svc[addr.Unmap()]; return ok }

// Owns reports whether this node serves addr now.
func (n *Node) Owns(addr netip.Addr) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.owned[addr.Unmap()]
}

// Name is this node's name.
func (n *Node) Name() string { return n.cfg.Node }

func (n *Node) ownerKey(a netip.Addr) string { return n.cfg.Prefix + "owner/" + a.String() }
func (n *Node) saPrefix(a netip.Addr) string { return n.cfg.Prefix + "sa/" + a.String() + "/" }
func (n *Node) nodeKey(node string) string   { return n.cfg.Prefix + "nodes/" + node }

// Put queues the state of an SA on addr, called name, for the next batch
// write; a newer Put or Delete of the same name replaces it. Nothing is
// written for an address this node does not own.
func (n *Node) Put(addr netip.Addr, name string, record []byte) {
	n.queue(addr, name, record)
}

// Delete queues the removal of the SA state called name on addr.
func (n *Node) Delete(addr netip.Addr, name string) { n.queue(addr, name, nil) }

func (n *Node) queue(addr netip.Addr, name string, record []byte) {
	addr = addr.Unmap()
	key := n.saPrefix(addr) + name
	var v []byte
	if record != nil {
		v = n.seal.seal(key, record)
	}
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.owned[addr] {
		return
	}
	if len(n.pending) == 0 {
		n.oldest = now
	}
	n.pending[key] = pendingOp{addr: addr, value: v, at: now}
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	n.mu.Lock()
	owned, lease := len(n.owned), n.lease != 0
	n.mu.Unlock()
	return Stats{Takeovers: n.takeovers.Load(), Restored: n.restored.Load(), Fences: n.fences.Load(),
		Writes: n.writes.Load(), WriteErrors: n.writeErrs.Load(), Lag: time.Duration(n.lag.Load()),
		Owned: owned, Lease: lease}
}

// Run serves as a member of the cluster until ctx is done: it joins with
// a lease, takes unowned service addresses, writes SA state, and fences
// itself when the lease is lost, then joins again. At the end it gives
// its addresses up (revoking the lease, so that survivors take them at
// once) and closes the client.
func (n *Node) Run(ctx context.Context) error {
	defer n.cli.Close()
	// Addresses left on the interface by an earlier run are not ours.
	for _, p := range n.svc {
		if err := n.link.remove(p); err != nil {
			n.log.Warn("removing a stale service address", zap.Error(err))
		}
	}
	for ctx.Err() == nil {
		err := n.session(ctx)
		if ctx.Err() != nil {
			break
		}
		n.log.Warn("cluster membership interrupted; joining again", zap.Error(err))
		select {
		case <-ctx.Done():
		case <-time.After(n.cfg.LeaseTTL / 3):
		}
	}
	return nil
}

var errLeaseLost = errors.New("the etcd lease was lost")

// session is one lease's life.
func (n *Node) session(ctx context.Context) error {
	t0 := time.Now()
	gctx, cancel := context.WithTimeout(ctx, n.cfg.LeaseTTL)
	g, err := n.cli.Grant(gctx, int64(n.cfg.LeaseTTL/time.Second))
	cancel()
	if err != nil {
		return fmt.Errorf("etcd lease: %w", err)
	}
	n.mu.Lock()
	n.lease = g.ID
	n.validUntil = t0.Add(time.Duration(g.TTL)*time.Second - fenceMargin)
	n.mu.Unlock()
	n.log.Info("joined the cluster", zap.Strings("etcd", n.cfg.Etcd), zap.Int64("lease_ttl_s", g.TTL))

	sctx, stop := context.WithCancel(ctx)
	defer stop()
	lost := make(chan struct{})
	go n.keepalive(sctx, g.ID, lost)
	go n.flusher(sctx, g.ID)
	watch := n.cli.Watch(clientv3.WithRequireLeader(sctx), n.cfg.Prefix+"owner/", clientv3.WithPrefix())
	if n.hooks.Reserved != nil {
		go n.watchReservations(sctx)
	}

	// Own addresses first; the others at the first tick, one TTL later.
	n.campaignAll(sctx, g.ID, len(n.prefer) > 0)
	n.publish(sctx, g.ID)
	n.refreshView(sctx)
	tick := time.NewTicker(n.cfg.LeaseTTL)
	defer tick.Stop()
	for {
		select {
		case <-lost:
			return errLeaseLost
		case <-ctx.Done():
			n.leave(g.ID)
			return nil
		case wr, ok := <-watch:
			if !ok {
				watch = n.cli.Watch(clientv3.WithRequireLeader(sctx), n.cfg.Prefix+"owner/", clientv3.WithPrefix())
				continue
			}
			if len(wr.Events) > 0 {
				n.refreshView(sctx)
			}
			for _, ev := range wr.Events {
				if ev.Type != clientv3.EventTypeDelete {
					continue
				}
				a, err := netip.ParseAddr(strings.TrimPrefix(string(ev.Kv.Key), n.cfg.Prefix+"owner/"))
				if err == nil && n.Service(a) {
					n.log.Info("service address has no owner any more", zap.Stringer("address", a))
					n.campaignAfterDelay(sctx, g.ID, a)
				}
			}
		case <-tick.C:
			n.campaignAll(sctx, g.ID, false)
			n.publish(sctx, g.ID)
			n.refreshView(sctx)
		}
	}
}

// campaignAfterDelay campaigns for a after a delay that grows with the
// addresses this node owns, so that the least loaded survivor tends to
// win and the addresses of a dead node spread.
func (n *Node) campaignAfterDelay(ctx context.Context, lease clientv3.LeaseID, a netip.Addr) {
	n.mu.Lock()
	d := time.Duration(len(n.owned)) * 100 * time.Millisecond
	n.mu.Unlock()
	if d > 0 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
	}
	n.campaign(ctx, lease, a)
}

// campaignAll campaigns for every unowned service address (only the
// preferred ones with preferredOnly).
func (n *Node) campaignAll(ctx context.Context, lease clientv3.LeaseID, preferredOnly bool) {
	for _, p := range n.cfg.ServiceAddresses {
		if !n.Owns(p.Addr()) && (!preferredOnly || n.prefer[p.Addr()]) {
			n.campaign(ctx, lease, p.Addr())
		}
	}
}

// campaign takes a if nobody owns it: the owner key is created with this
// node's lease, the SA records of a are restored, and the address is
// added and announced.
func (n *Node) campaign(ctx context.Context, lease clientv3.LeaseID, a netip.Addr) {
	start := time.Now()
	key := n.ownerKey(a)
	cctx, cancel := context.WithTimeout(ctx, n.cfg.LeaseTTL)
	defer cancel()
	resp, err := n.cli.Txn(cctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, n.cfg.Node, clientv3.WithLease(lease))).Commit()
	if err != nil {
		n.log.Debug("campaign failed", zap.Stringer("address", a), zap.Error(err))
		return
	}
	if !resp.Succeeded {
		return // owned by someone
	}
	recs, err := n.load(cctx, a)
	if err != nil {
		// Serve it anyway: the peers of SAs we could not restore start
		// again; a node that keeps the address unserved helps nobody.
		n.log.Error("taking over a service address without its SA state", zap.Stringer("address", a), zap.Error(err))
	}
	n.mu.Lock()
	if n.lease != lease {
		n.mu.Unlock()
		return // fenced meanwhile
	}
	n.owned[a] = true
	valid := time.Until(n.validUntil)
	n.mu.Unlock()
	restored := 0
	if n.hooks.Acquire != nil {
		restored = n.hooks.Acquire(a, recs)
	}
	if !n.Owns(a) {
		// Fenced while restoring: the fence's release may have run
		// before the restore; forget what was restored.
		if n.hooks.Release != nil {
			n.hooks.Release(a)
		}
		return
	}
	p := n.svc[a]
	if err := n.link.add(p, ceilSecond(valid)); err != nil {
		n.log.Error("cannot add the service address", zap.Error(err))
	}
	n.announce(p)
	n.takeovers.Add(1)
	n.restored.Add(uint64(restored))
	n.log.Info("serving service address", zap.Stringer("address", p), zap.Int("sas_restored", restored),
		zap.Int("records", len(recs)), zap.Duration("took", time.Since(start)))
}

// announce announces p now and twice more (a lost first announcement,
// a switch that learned late).
func (n *Node) announce(p netip.Prefix) {
	if err := n.link.announce(p); err != nil {
		n.log.Warn("announcing the service address", zap.Error(err))
	}
	go func() {
		for _, d := range []time.Duration{200 * time.Millisecond, time.Second} {
			time.Sleep(d)
			if n.Owns(p.Addr()) {
				_ = n.link.announce(p)
			}
		}
	}()
}

// ceilSecond rounds a remaining validity up to whole seconds (the
// kernel's address lifetimes count seconds), at least one.
func ceilSecond(d time.Duration) time.Duration {
	return max(time.Second, (d+time.Second-1)/time.Second*time.Second)
}

// load reads and decrypts the SA records of a.
func (n *Node) load(ctx context.Context, a netip.Addr) (map[string][]byte, error) {
	pfx := n.saPrefix(a)
	resp, err := n.cli.Get(ctx, pfx, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("reading the SA state of %s: %w", a, err)
	}
	out := make(map[string][]byte, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		p, err := n.seal.open(string(kv.Key), kv.Value)
		if err != nil {
			n.log.Error("SA record unreadable", zap.String("key", string(kv.Key)), zap.Error(err))
			continue
		}
		out[strings.TrimPrefix(string(kv.Key), pfx)] = p
	}
	return out, nil
}

// keepalive renews the lease and fences the node when it cannot.
func (n *Node) keepalive(ctx context.Context, lease clientv3.LeaseID, lost chan<- struct{}) {
	defer close(lost)
	every := n.cfg.LeaseTTL / 3
	for {
		t0 := time.Now()
		kctx, cancel := context.WithTimeout(ctx, every)
		resp, err := n.cli.KeepAliveOnce(kctx, lease)
		cancel()
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil && resp.TTL > 0:
			until := t0.Add(time.Duration(resp.TTL)*time.Second - fenceMargin)
			n.mu.Lock()
			n.validUntil = until
			owned := n.ownedLocked()
			n.mu.Unlock()
			for _, a := range owned {
				if err := n.link.add(n.svc[a], ceilSecond(time.Until(until))); err != nil {
					n.log.Warn("renewing the service address", zap.Error(err))
				}
			}
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			n.fence("etcd says the lease expired")
			return
		default:
			n.log.Warn("etcd lease keepalive failed", zap.Error(err))
		}
		n.mu.Lock()
		left := time.Until(n.validUntil)
		n.mu.Unlock()
		if left <= 0 {
			n.fence("the lease could not be renewed in time")
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(every, left)):
		}
	}
}

func (n *Node) ownedLocked() []netip.Addr {
	out := make([]netip.Addr, 0, len(n.owned))
	for a := range n.owned {
		out = append(out, a)
	}
	return out
}

// fence stops serving every owned address: remove it from the interface,
// then have the gateway forget its SAs.
func (n *Node) fence(why string) {
	n.mu.Lock()
	owned := n.ownedLocked()
	n.owned = map[netip.Addr]bool{}
	n.lease = 0
	n.pending = map[string]pendingOp{}
	n.mu.Unlock()
	n.fences.Add(1)
	n.log.Warn("stopped serving: "+why+" (another node may own the addresses now)", zap.Stringers("addresses", owned))
	n.drop(owned)
}

func (n *Node) drop(addrs []netip.Addr) {
	for _, a := range addrs {
		if err := n.link.remove(n.svc[a]); err != nil {
			n.log.Error("cannot remove the service address", zap.Error(err))
		}
	}
	for _, a := range addrs {
		if n.hooks.Release != nil {
			n.hooks.Release(a)
		}
	}
}

// leave gives the addresses up at shutdown: the last state is written,
// the addresses removed, the lease revoked (its owner keys go with it, so
// survivors take over at once).
func (n *Node) leave(lease clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.LeaseTTL)
	defer cancel()
	n.flush(ctx, lease)
	n.mu.Lock()
	owned := n.ownedLocked()
	n.owned = map[netip.Addr]bool{}
	n.lease = 0
	n.mu.Unlock()
	n.drop(owned)
	if _, err := n.cli.Revoke(ctx, lease); err != nil {
		n.log.Warn("revoking the etcd lease", zap.Error(err))
	}
	n.log.Info("left the cluster", zap.Stringers("addresses", owned))
}

// flusher writes the queued SA state every sync interval.
func (n *Node) flusher(ctx context.Context, lease clientv3.LeaseID) {
	t := time.NewTicker(n.cfg.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fctx, cancel := context.WithTimeout(ctx, n.cfg.LeaseTTL)
			n.flush(fctx, lease)
			cancel()
		}
	}
}

// maxTxnOps stays under etcd's default --max-txn-ops (128).
const maxTxnOps = 100

// flush writes the pending changes, per address in transactions that
// succeed only while this node's lease still owns the address.
func (n *Node) flush(ctx context.Context, lease clientv3.LeaseID) {
	n.mu.Lock()
	if len(n.pending) == 0 || n.lease != lease {
		n.mu.Unlock()
		return
	}
	batch, oldest := n.pending, n.oldest
	n.pending = map[string]pendingOp{}
	n.mu.Unlock()

	byAddr := map[netip.Addr][]clientv3.Op{}
	keys := map[netip.Addr][]string{}
	for k, op := range batch {
		if op.value == nil {
			byAddr[op.addr] = append(byAddr[op.addr], clientv3.OpDelete(k))
		} else {
			byAddr[op.addr] = append(byAddr[op.addr], clientv3.OpPut(k, string(op.value)))
		}
		keys[op.addr] = append(keys[op.addr], k)
	}
	for a, ops := range byAddr {
		cmp := clientv3.Compare(clientv3.LeaseValue(n.ownerKey(a)), "=", int64(lease))
		for i := 0; i < len(ops); i += maxTxnOps {
			part := ops[i:min(i+maxTxnOps, len(ops))]
			resp, err := n.cli.Txn(ctx).If(cmp).Then(part...).Commit()
			switch {
			case err != nil:
				n.writeErrs.Add(1)
				n.log.Warn("writing SA state to etcd failed; will retry", zap.Stringer("address", a), zap.Error(err))
				n.requeue(batch, keys[a][i:min(i+maxTxnOps, len(ops))])
			case !resp.Succeeded:
				n.log.Warn("not writing SA state: this node no longer owns the address", zap.Stringer("address", a))
			default:
				n.writes.Add(uint64(len(part)))
			}
		}
	}
	n.lag.Store(int64(time.Since(oldest)))
}

// requeue puts back the ops of keys that failed, unless newer ones came.
func (n *Node) requeue(batch map[string]pendingOp, keys []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, k := range keys {
		if _, newer := n.pending[k]; !newer && n.owned[batch[k].addr] {
			if len(n.pending) == 0 {
				n.oldest = batch[k].at
			}
			n.pending[k] = batch[k]
		}
	}
}

// nodeInfo is what a node publishes about itself (under its lease).
type nodeInfo struct {
	Node    string    `json:"node"`
	SAs     int       `json:"sas"`
	Updated time.Time `json:"updated"`
}

func (n *Node) publish(ctx context.Context, lease clientv3.LeaseID) {
	info := nodeInfo{Node: n.cfg.Node, Updated: time.Now().UTC()}
	if n.hooks.SAs != nil {
		info.SAs = n.hooks.SAs()
	}
	b, _ := json.Marshal(info)
	pctx, cancel := context.WithTimeout(ctx, n.cfg.LeaseTTL)
	defer cancel()
	if _, err := n.cli.Put(pctx, n.nodeKey(n.cfg.Node), string(b), clientv3.WithLease(lease)); err != nil {
		n.log.Debug("publishing node status", zap.Error(err))
	}
}

// Status lists the cluster's nodes as etcd knows them: the live nodes
// (their published status) and the owner of every service address.
func (n *Node) Status(ctx context.Context) ([]NodeStatus, error) {
	nodes, err := n.cli.Get(ctx, n.cfg.Prefix+"nodes/", clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	owners, err := n.cli.Get(ctx, n.cfg.Prefix+"owner/", clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	byName := map[string]*NodeStatus{}
	var out []*NodeStatus
	get := func(name string) *NodeStatus {
		if s := byName[name]; s != nil {
			return s
		}
		s := &NodeStatus{Node: name, Addresses: []string{}, Lease: "expired", Self: name == n.cfg.Node}
		byName[name] = s
		out = append(out, s)
		return s
	}
	for _, kv := range nodes.Kvs {
		var info nodeInfo
		if json.Unmarshal(kv.Value, &info) != nil {
			continue
		}
		s := get(info.Node)
		s.SAs, s.Updated, s.Lease = info.SAs, info.Updated, "ok"
	}
	for _, kv := range owners.Kvs {
		a := strings.TrimPrefix(string(kv.Key), n.cfg.Prefix+"owner/")
		if p, err := netip.ParseAddr(a); err == nil && n.Service(p) {
			a = n.svc[p].String()
		}
		s := get(string(kv.Value))
		s.Addresses = append(s.Addresses, a)
	}
	if _, ok := byName[n.cfg.Node]; !ok {
		s := get(n.cfg.Node) // we are not (or no longer) joined
		if n.hooks.SAs != nil {
			s.SAs = n.hooks.SAs()
		}
	}
	res := make([]NodeStatus, len(out))
	for i, s := range out {
		slices.Sort(s.Addresses)
		res[i] = *s
	}
	slices.SortFunc(res, func(a, b NodeStatus) int { return strings.Compare(a.Node, b.Node) })
	return res, nil
}

// refreshView reads the cluster's nodes and owners for Redirect.
func (n *Node) refreshView(ctx context.Context) {
	if len(n.entry) == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, n.cfg.LeaseTTL)
	defer cancel()
	v, err := n.Status(rctx)
	if err != nil {
		n.log.Debug("reading the cluster's load", zap.Error(err))
		return
	}
	n.refreshed(v)
}

// refreshed takes a new view of the cluster.
func (n *Node) refreshed(v []NodeStatus) {
	n.viewMu.Lock()
	n.view = v
	n.viewMu.Unlock()
}

// redirectSettle is how long a redirected client counts against its new
// node beyond that node's next published SA count: the client has to
// reconnect there and complete IKE_AUTH before the count can have it.
const redirectSettle = 5 * time.Second

// Redirect says where a new client that reached local should go (RFC
// 5685): if local is an entry address this node serves, to a service
// address (not an entry) of the live node with the fewest IKE SAs, unless
// this node has fewer than that one. A node's count is what it last
// published plus the clients redirected to it after it did, so that a
// burst spreads before the nodes publish their load again. It never
// blocks (it reads the last view of etcd).
func (n *Node) Redirect(local netip.Addr) (netip.Addr, bool) {
	local = local.Unmap()
	if !n.entry[local] || !n.Owns(local) {
		return netip.Addr{}, false
	}
	self := 0
	if n.hooks.SAs != nil {
		self = n.hooks.SAs()
	}
	n.viewMu.Lock()
	defer n.viewMu.Unlock()
	if n.sent == nil {
		n.sent = map[string][]time.Time{}
	}
	best, bestLoad, bestAddr := "", 0, netip.Addr{}
	for _, v := range n.view {
		if v.Node == n.cfg.Node || v.Lease != "ok" {
			continue
		}
		var to netip.Addr
		for _, a := range v.Addresses {
			if p, err := netip.ParsePrefix(a); err == nil && !n.entry[p.Addr()] {
				to = p.Addr()
				break
			}
		}
		if !to.IsValid() {
			continue
		}
		// Forget what the node's published count includes: a client
		// sent at t counts until the node published after t +
		// redirectSettle (it reconnects there and completes IKE_AUTH
		// first; a count published in between may not have it yet).
		recent := n.sent[v.Node][:0]
		for _, at := range n.sent[v.Node] {
			if at.Add(redirectSettle).After(v.Updated) {
				recent = append(recent, at)
			}
		}
		n.sent[v.Node] = recent
		if load := v.SAs + len(recent); best == "" || load < bestLoad {
			best, bestLoad, bestAddr = v.Node, load, to
		}
	}
	if best == "" || self < bestLoad {
		return netip.Addr{}, false
	}
	n.sent[best] = append(n.sent[best], time.Now())
	return bestAddr, true
}

func (n *Node) leaseKey(pool string, addr netip.Addr) string {
	return n.cfg.Prefix + "lease/" + pool + "/" + addr.String()
}

// reserveTimeout bounds a reservation: a client waits for it.
const reserveTimeout = time.Second

// Reserve claims addr of pool in etcd for this node (bound to its lease,
// so that a dead node's reservations go with it): false when another
// node holds it. It fails when this node is not a member now (fenced, or
// etcd unreachable): no address is handed out then rather than one that
// may be another's.
func (n *Node) Reserve(pool string, addr netip.Addr, identity string) (bool, error) {
	n.mu.Lock()
	lease := n.lease
	n.mu.Unlock()
	if lease == 0 {
		return false, errors.New("this node is not a member of the cluster now (its etcd lease is lost)")
	}
	key := n.leaseKey(pool, addr)
	ctx, cancel := context.WithTimeout(context.Background(), reserveTimeout)
	defer cancel()
	resp, err := n.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, n.cfg.Node+" "+identity, clientv3.WithLease(lease))).
		Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return false, fmt.Errorf("etcd: %w", err)
	}
	if resp.Succeeded {
		return true, nil
	}
	if r := resp.Responses[0].GetResponseRange(); r != nil && len(r.Kvs) == 1 && clientv3.LeaseID(r.Kvs[0].Lease) == lease {
		return true, nil // ours already
	}
	return false, nil
}

// Unreserve gives addr of pool up (if this node's lease holds it); it
// does not wait for etcd.
func (n *Node) Unreserve(pool string, addr netip.Addr) {
	n.mu.Lock()
	lease := n.lease
	n.mu.Unlock()
	if lease == 0 {
		return
	}
	key := n.leaseKey(pool, addr)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.LeaseTTL)
		defer cancel()
		if _, err := n.cli.Txn(ctx).If(clientv3.Compare(clientv3.LeaseValue(key), "=", int64(lease))).
			Then(clientv3.OpDelete(key)).Commit(); err != nil {
			n.log.Debug("releasing an address reservation", zap.String("key", key), zap.Error(err))
		}
	}()
}

// watchReservations hands the other nodes' reservations to the pools:
// those there now, then each change.
func (n *Node) watchReservations(ctx context.Context) {
	pfx := n.cfg.Prefix + "lease/"
	parse := func(k []byte) (string, netip.Addr, bool) {
		rest := strings.TrimPrefix(string(k), pfx)
		i := strings.LastIndexByte(rest, '/')
		if i < 0 {
			return "", netip.Addr{}, false
		}
		a, err := netip.ParseAddr(rest[i+1:])
		return rest[:i], a, err == nil
	}
	mine := func(v []byte) bool { return strings.HasPrefix(string(v), n.cfg.Node+" ") }
	gctx, cancel := context.WithTimeout(ctx, n.cfg.LeaseTTL)
	resp, err := n.cli.Get(gctx, pfx, clientv3.WithPrefix())
	cancel()
	rev := int64(0)
	if err == nil {
		rev = resp.Header.Revision + 1
		for _, kv := range resp.Kvs {
			if pool, a, ok := parse(kv.Key); ok && !mine(kv.Value) {
				n.hooks.Reserved(pool, a, true)
			}
		}
	}
	opts := []clientv3.OpOption{clientv3.WithPrefix()}
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	for wr := range n.cli.Watch(clientv3.WithRequireLeader(ctx), pfx, opts...) {
		for _, ev := range wr.Events {
			pool, a, ok := parse(ev.Kv.Key)
			if !ok {
				continue
			}
			switch {
			case ev.Type == clientv3.EventTypeDelete:
				n.hooks.Reserved(pool, a, false)
			case !mine(ev.Kv.Value):
				n.hooks.Reserved(pool, a, true)
			}
		}
	}
}
