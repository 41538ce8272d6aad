package gateway

import (
	"context"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"ikegate/internal/engine"
	"ikegate/policy"
)

// The peers' IKE SAs across shards. SAs are sharded by SPI, so the SAs of
// one peer identity usually sit on different shards; INITIAL_CONTACT and
// each connection's `unique` policy must act on all of them. The shards
// report every IKE SA that comes up or goes (engine.EffectIKEUp/Down);
// this table finds the other SAs of the same connection and peer identity
// and has their shards delete them.

// saRef names an IKE SA (saID) and the peer's address and port.
type saRef struct {
	saID
	peer netip.AddrPort
}

// saID identifies an IKE SA: its shard, engine (v1 or v2) and key there.
// It is kept small (16 bytes): the table files every IKE SA.
type saID struct {
	key    uint64
	shard  int32
	engine uint8
}

func (r saRef) id() saID { return r.saID }

// peerKey identifies a peer of a connection.
func peerKey(conn, identity string) string { return conn + "\x00" + identity }

// trackIKE keeps the table up to date from a shard's effects and applies
// INITIAL_CONTACT and uniqueness when an IKE SA comes up.
func (g *Gateway) trackIKE(shard int, ef engine.Effect) {
	ref := saRef{saID: saID{key: ef.Key, shard: int32(shard), engine: v2}, peer: netip.AddrPortFrom(ef.Remote.Addr().Unmap(), ef.Remote.Port())}
	if ef.Version == 1 {
		ref.engine = v1
	}
	g.peersMu.Lock()
	k := peerKey(ef.Conn, ef.Identity)
	if old, ok := g.peerOf[ref.id()]; ok && (ef.Kind == engine.EffectIKEDown || old != k) {
		g.unfile(old, ref)
	}
	if ef.Kind == engine.EffectIKEDown {
		g.peersMu.Unlock()
		return
	}
	var others []saRef
	for _, r := range g.peers[k] {
		if r.saID != ref.saID {
			others = append(others, r)
		}
	}
	if indexRef(g.peers[k], ref) < 0 {
		g.peers[k] = append(g.peers[k], ref)
		g.peerOf[ref.id()] = k
	}
	g.peersMu.Unlock()
	if ef.Rekey || len(others) == 0 {
		return
	}
	unique := policy.UniqueNo
	if c := g.dbNow().Lookup(ef.Conn); c != nil && c.Unique != "" {
		unique = c.Unique
	}
	var victims []saRef
	notify, why := true, ""
	switch {
	case ef.InitialContact && unique != policy.UniqueNever:
		// The peer restarted: its SAs from the same address and port are
		// stale. Others of the same identity elsewhere are other devices
		// (a group identity of remote-access clients, clients behind one
		// NAT): they stay.
		for _, o := range others {
			if o.peer == ref.peer {
				victims = append(victims, o)
			}
		}
		notify, why = false, "INITIAL_CONTACT: the peer restarted and forgot it"
	case unique == policy.UniqueReplace:
		victims, why = others, "replaced by a new IKE SA of the same peer (unique = replace)"
	case unique == policy.UniqueKeep:
		victims, why = []saRef{ref}, "the peer has an IKE SA of this connection already (unique = keep)"
	}
	for _, v := range victims {
		g.log.Info("removing an IKE SA of a peer", zap.String("conn", ef.Conn), zap.String("remote_id", ef.Identity),
			zap.String("reason", why), zap.Int("version", ef.Version))
		go g.deleteSA(v, notify, why)
	}
}

// unfile removes the SA ref names from the peer k it is filed under
// (under peersMu).
func (g *Gateway) unfile(k string, ref saRef) {
	delete(g.peerOf, ref.id())
	refs := g.peers[k]
	if i := indexRef(refs, ref); i >= 0 {
		refs = append(refs[:i], refs[i+1:]...)
	}
	if len(refs) == 0 {
		delete(g.peers, k)
	} else {
		g.peers[k] = refs
	}
}

// indexRef finds the SA r names in refs (by shard, engine and key).
func indexRef(refs []saRef, r saRef) int {
	for i, x := range refs {
		if x.saID == r.saID {
			return i
		}
	}
	return -1
}

// deleteSA has r's shard delete it (asynchronously to the caller, which
// may be a shard itself).
func (g *Gateway) deleteSA(r saRef, notify bool, why string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := g.runOn(ctx, int(r.shard), func(sh *shard, now time.Time) {
		out, _ := sh.engines[r.engine].DeleteSA(now, r.key, notify, why)
		sh.exec(int(r.engine), out)
	})
	if err != nil {
		g.log.Debug("deleting an IKE SA on another shard failed", zap.Error(err))
	}
}
