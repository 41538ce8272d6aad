package gateway

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"

	"ikegate/cluster"
	"ikegate/internal/engine"
	"ikegate/policy"
)

// seqReserve is how far ahead of the ESP sequence number sent a CHILD
// SA's record reserves outbound numbers: a survivor continues after the
// reservation, so that no number (an AES-GCM nonce) is used twice under
// one key as long as the record is rewritten before the dataplane passes
// it. It is rewritten when half of it is used: at 100,000 packets a
// second that leaves five seconds for the write.
const seqReserve = 1 << 20

// clusterRun is the gateway's side of cluster membership: it writes the
// state of the SAs on the service addresses this node owns (from the
// engines' Export, every sync interval, only what changed), and restores
// and forgets SAs when the node takes or loses an address.
type clusterRun struct {
	g    *Gateway
	node *cluster.Node
	cfg  *policy.Cluster

	mu      sync.Mutex
	written map[string]writtenRec // by record name
	marks   map[uint32]uint32     // CHILD SA (inbound SPI) -> outbound sequence number reserved in etcd
}

type writtenRec struct {
	addr netip.Addr
	fp   uint64 // fingerprint of the record as written, without the inbound sequence numbers
}

func newClusterRun(g *Gateway, cfg *policy.Cluster) (*clusterRun, error) {
	cr := &clusterRun{g: g, cfg: cfg, written: map[string]writtenRec{}, marks: map[uint32]uint32{}}
	hooks := cluster.Hooks{Acquire: cr.acquire, Release: cr.release, SAs: cr.count}
	if g.ra != nil {
		// Pool addresses are reserved in etcd, so that nodes serving
		// clients from the same pools never hand out one address twice.
		hooks.Reserved = g.ra.pools.MarkElsewhere
	}
	node, err := cluster.New(cfg, g.log, hooks)
	if err != nil {
		return nil, err
	}
	cr.node = node
	if g.ra != nil {
		g.ra.pools.SetReserver(node)
	}
	return cr, nil
}

// run runs the membership and the replication until ctx is done; the
// membership ends by giving the addresses up (their SAs forgotten here,
// served by a survivor) before run returns.
func (cr *clusterRun) run(ctx context.Context) {
	nodeCtx, stopNode := context.WithCancel(context.Background())
	defer stopNode()
	done := make(chan struct{})
	go func() {
		defer close(done)
		cr.node.Run(nodeCtx)
	}()
	t := time.NewTicker(cr.cfg.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			// Stopping: the last changes go out before the node leaves
			// (its leave writes them), so the survivors restore the SAs
			// as they are now.
			sctx, cancel := context.WithTimeout(context.Background(), cr.cfg.LeaseTTL)
			cr.sync(sctx)
			cancel()
			stopNode()
			<-done
			return
		case <-t.C:
			cr.sync(ctx)
		}
	}
}

// recordName names an SA's record in etcd: version and both SPIs.
func recordName(r *engine.Record) string {
	return fmt.Sprintf("v%d-%s-%s", r.Version, engine.SPIHex(uint64(r.SPIi)), engine.SPIHex(uint64(r.SPIr)))
}

// sync writes the records that changed since the last sync and deletes
// those of SAs that are gone.
func (cr *clusterRun) sync(ctx context.Context) {
	if cr.node.Stats().Owned == 0 {
		return // a standby: nothing to write
	}
	g := cr.g
	resume := g.caps.Resume
	seen := map[string]bool{}
	live := map[uint32]bool{}
	// The shards run this at once; cr.mu guards marks, written and the
	// two sets.
	err := g.runOnAll(ctx, func(_ int, sh *shard, _ time.Time) {
		for _, e := range sh.engines {
			for _, r := range e.Export() {
				addr := r.Local.Addr().Unmap()
				// SAs whose remote-access state records do not hold (a
				// client in the middle of XAUTH or Mode Config, ikegate
				// as a client) are not replicated: they start again.
				if r.RemoteAccess || !cr.node.Service(addr) || !cr.node.Owns(addr) {
					continue
				}
				name := recordName(&r)
				var seqIn []uint32
				cr.mu.Lock()
				seen[name] = true
				for i := range r.Children {
					c := &r.Children[i]
					live[c.SPIIn] = true
					var ctr policy.ChildCounters
					if resume {
						ctr, _ = g.backend.Counters(c.SPIIn)
					}
					mark := cr.marks[c.SPIIn]
					if mark == 0 || uint64(ctr.SeqOut)+seqReserve/2 > uint64(mark) {
						mark = uint32(min(uint64(ctr.SeqOut)+seqReserve, 1<<32-1))
						cr.marks[c.SPIIn] = mark
					}
					c.SeqOut = mark
					seqIn = append(seqIn, ctr.SeqIn)
				}
				prev, had := cr.written[name]
				cr.mu.Unlock()
				fp := fingerprint(&r)
				if had && prev.fp == fp {
					continue
				}
				for i := range r.Children {
					r.Children[i].SeqIn = seqIn[i]
				}
				b, err := r.Marshal()
				if err != nil {
					sh.log.Error("cluster: encoding an SA record", zap.Object("sa", &r), zap.Error(err))
					continue
				}
				cr.node.Put(addr, name, b)
				cr.mu.Lock()
				cr.written[name] = writtenRec{addr: addr, fp: fp}
				cr.mu.Unlock()
			}
		}
	})
	if err != nil {
		return // not running (stopping): nothing is deleted on a partial view
	}
	cr.mu.Lock()
	defer cr.mu.Unlock()
	for name, w := range cr.written {
		if !seen[name] {
			cr.node.Delete(w.addr, name)
			delete(cr.written, name)
		}
	}
	for spi := range cr.marks {
		if !live[spi] {
			delete(cr.marks, spi)
		}
	}
}

// fingerprint sums what of a record changes while the SA lives, so that
// only changed records are encoded and written: addresses and NAT state
// (MOBIKE, a NAT's new mapping), liveness state, rekey deadlines, message
// IDs and the cached response, and per CHILD SA its SPIs, rekey deadline
// and the outbound sequence numbers reserved. Timers that merely fire
// early when restored from an older value (NAT keepalives, byte-limit
// checks) and the inbound replay state are left out.
func fingerprint(r *engine.Record) uint64 {
	h := fnv.New64a()
	var b []byte
	u64 := func(v uint64) { b = binary.BigEndian.AppendUint64(b, v) }
	t := func(v time.Time) { u64(uint64(v.UnixNano())) }
	b = append(b, r.Conn...)
	b, _ = r.Local.AppendBinary(b)
	b, _ = r.Remote.AppendBinary(b)
	b = append(b, boolByte(r.NAT.LocalBehindNAT), boolByte(r.NAT.PeerBehindNAT))
	t(r.RekeyAt)
	t(r.DPD.LastSeen)
	t(r.DPD.ProbeSince)
	t(r.DPD.LastProbe)
	u64(uint64(r.DPD.Seq)<<32 | uint64(r.DPD.FirstSeq))
	if v2 := r.IKEv2; v2 != nil {
		u64(uint64(v2.NextMsgID)<<32 | uint64(v2.PeerMsgID))
		for _, m := range v2.LastResponse {
			b = append(b, m...)
		}
	}
	for _, c := range r.Children {
		u64(uint64(c.SPIIn)<<32 | uint64(c.SPIOut))
		t(c.RekeyAt)
		u64(uint64(c.SeqOut))
	}
	h.Write(b)
	return h.Sum64()
}

// acquire restores the SAs of a service address this node now owns, each
// on the shard its SPI routes to.
func (cr *clusterRun) acquire(addr netip.Addr, recs map[string][]byte) int {
	g := cr.g
	n := 0
	for name, b := range recs {
		rec, err := engine.UnmarshalRecord(b)
		if err != nil {
			g.log.Error("cluster: SA record not restored", zap.String("record", name), zap.Error(err))
			continue
		}
		ver := v2
		if rec.Version == 1 {
			ver = v1
		}
		// A remote-access client's address is held in our pool first, so
		// that no other client gets it; the SA's end releases it as usual.
		cl := rec.Client
		if cl != nil && cl.VIP.IsValid() {
			if g.ra == nil {
				g.log.Error("cluster: SA record of a remote-access client not restored: this node has no pools", zap.Object("sa", rec))
				continue
			}
			if err := g.ra.pools.Hold(cl.Pool, cl.Identity, cl.Device, cl.VIP); err != nil {
				g.log.Error("cluster: SA record of a remote-access client not restored", zap.Object("sa", rec), zap.Error(err))
				continue
			}
		}
		k := g.recordShard(rec)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var rerr error
		err = g.runOn(ctx, k, func(sh *shard, now time.Time) {
			out, err := sh.engines[ver].Restore(now, rec)
			if err != nil {
				rerr = err
				return
			}
			sh.exec(ver, out)
		})
		cancel()
		if err = errors.Join(err, rerr); err != nil {
			g.log.Error("cluster: SA record not restored", zap.Object("sa", rec), zap.Error(err))
			if cl != nil && cl.VIP.IsValid() {
				g.ra.pools.Release(cl.Pool, cl.Identity, cl.VIP)
			}
			continue
		}
		n++
	}
	return n
}

// release forgets, without telling the peers, the SAs of an address this
// node no longer serves.
func (cr *clusterRun) release(addr netip.Addr) {
	g := cr.g
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var mu sync.Mutex
	n := 0
	err := g.runOnAll(ctx, func(_ int, sh *shard, now time.Time) {
		for i, e := range sh.engines {
			for _, r := range e.Export() {
				if r.Local.Addr().Unmap() != addr {
					continue
				}
				out, ok := e.DeleteSA(now, r.Key(), false, "another node of the cluster serves "+addr.String()+" now")
				sh.exec(i, out)
				if ok {
					mu.Lock()
					n++
					mu.Unlock()
				}
			}
		}
	})
	cr.mu.Lock()
	for name, w := range cr.written {
		if w.addr == addr {
			delete(cr.written, name)
		}
	}
	cr.mu.Unlock()
	if err != nil {
		g.log.Error("cluster: forgetting the SAs of a released address", zap.Stringer("address", addr), zap.Error(err))
	}
	g.log.Info("cluster: released a service address and forgot its SAs", zap.Stringer("address", addr), zap.Int("ike_sas", n))
}

// count is the number of established IKE SAs this gateway holds.
func (cr *clusterRun) count() int {
	g := cr.g
	g.peersMu.Lock()
	defer g.peersMu.Unlock()
	n := 0
	for _, refs := range g.peers {
		n += len(refs)
	}
	return n
}

// Cluster lists the cluster's nodes as etcd knows them.
func (g *Gateway) Cluster(ctx context.Context) ([]cluster.NodeStatus, error) {
	if g.cluster == nil {
		return nil, errors.New("this gateway is not part of a cluster (no [cluster] in its configuration)")
	}
	return g.cluster.node.Status(ctx)
}

// clusterStats returns the cluster counters (ok false without a cluster).
func (g *Gateway) clusterStats() (cluster.Stats, bool) {
	if g.cluster == nil {
		return cluster.Stats{}, false
	}
	return g.cluster.node.Stats(), true
}

// redirect is the engines' Redirect: the cluster's choice for a new
// IKEv2 client on an entry address (none without a cluster).
func (g *Gateway) redirect(local, _ netip.Addr) (netip.Addr, bool) {
	if g.cluster == nil {
		return netip.Addr{}, false
	}
	return g.cluster.node.Redirect(local)
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}
