package engine

import (
	"fmt"
	"iter"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"ikegate/policy"
)

// ChildSA is an engine's CHILD SA type: it embeds Child, whose Base method
// it thus has.
type ChildSA interface {
	comparable
	Base() *Child
}

// Base returns the shared part of an engine's CHILD SA.
func (ch *Child) Base() *Child { return ch }

// Hooks are what the core needs of an engine to run the operations both
// versions share (Export, Expired, SAs, Kernels): how to visit its IKE SAs
// and their CHILD SAs, and the few steps that differ by version.
type Hooks[S SA, C ChildSA] struct {
	SAs         func() iter.Seq[S]                                      // every IKE SA of the engine
	Children    func(S) []C                                             // an IKE SA's CHILD SAs
	Established func(S) bool                                            // whether the IKE SA is established
	Negotiating func(S) bool                                            // whether the IKE SA is being negotiated
	Conn        func(S) *policy.Connection                              // the IKE SA's connection
	Creating    func(S, string) bool                                    // whether a CHILD SA of the named connection is being negotiated on it
	Info        func(S) policy.IKESAInfo                                // the IKE SA as `ikegate sas` shows it
	Record      func(S) Record                                          // the export record of an established IKE SA
	Log         func(S) *zap.Logger                                     // the IKE SA's logger
	Replace     func(now time.Time, sa S, c C)                          // start replacing c (rekey, new Quick Mode)
	Delete      func(now time.Time, sa S, c C)                          // delete c and tell the peer
	Initiate    func(now time.Time, conn *policy.Connection) error      // start a new IKE SA
	AddChild    func(now time.Time, sa S, conn *policy.Connection)      // a further CHILD SA on sa
	Reusable    func(conn *policy.Connection) (S, bool)                 // an IKE SA that can carry conn's CHILD SA
	Lookup      func(key uint64) (S, bool)                              // the IKE SA filed under key (see MapLookup)
	User        func(S) string                                          // the remote-access user an IKE SA authenticated ("": none)
	Peer        func(S) (identity policy.Identity, addr netip.AddrPort) // the peer's authenticated identity and address
	Remove      func(now time.Time, sa S, notify bool, why string)      // delete an IKE SA, telling the peer or not
}

// SetHooks gives the core its engine's hooks; engines call it once at
// construction.
func (c *Core[S, C, W]) SetHooks(h Hooks[S, C]) { c.hooks = h }

// SAs returns the status of every IKE SA of the engine.
func (c *Core[S, C, W]) SAs() []policy.IKESAInfo {
	var out []policy.IKESAInfo
	for sa := range c.hooks.SAs() {
		out = append(out, c.hooks.Info(sa))
	}
	if out == nil {
		out = []policy.IKESAInfo{}
	}
	return out
}

// RestoreChildren rebuilds the CHILD SAs of rec between local and remote
// for owner (policy.ChildSA.Owner; RestoreChild: installs requested) and
// hands each to add with its record; what add returns waits for the
// install's answer. On an error nothing waits any more (the output with
// the installs is dropped).
func (c *Core[S, C, W]) RestoreChildren(rec *Record, local, remote netip.Addr, owner string, add func(ch *Child, cr ChildRecord) W) error {
	var ids []uint64
	for _, cr := range rec.Children {
		ch, id, err := c.RestoreChild(cr, local, remote, owner)
		if err != nil {
			for _, id := range ids {
				delete(c.waits, id)
			}
			return err
		}
		ids = append(ids, id)
		c.Await(id, add(ch, cr))
	}
	return nil
}

// DeleteSA deletes the IKE SA filed under key (with its CHILD SAs),
// telling the peer when notify is set (not when the peer said it forgot
// it: INITIAL_CONTACT). It reports whether there was one: the runtime
// applies uniqueness across shards with it.
func (c *Core[S, C, W]) DeleteSA(now time.Time, key uint64, notify bool, why string) (Output, bool) {
	sa, ok := c.hooks.Lookup(key)
	if !ok {
		return Output{}, false
	}
	c.hooks.Log(sa).Info("deleting IKE SA: " + why)
	c.hooks.Remove(now, sa, notify, why)
	c.Schedule(sa)
	return c.Flush(), true
}

// InitialContact removes, without telling the peer, this engine's other
// established IKE SAs of sa's connection with the same peer identity from
// the same address and port: the peer restarted and forgot them
// (INITIAL_CONTACT, RFC 7296 2.4, RFC 2407 4.6.3.3). The runtime does the
// same on the other shards (EffectIKEUp). SAs of the same identity from
// elsewhere are other devices sharing it (a group identity, clients behind
// one NAT) and stay. The candidates come from the index of established
// SAs by the peer address they came up from (filePeer), so this costs
// the same with 100,000 SAs as with one; an SA whose peer moved since
// (MOBIKE) is not found, as the runtime's table does not find it.
func (c *Core[S, C, W]) InitialContact(now time.Time, sa S) {
	id, addr := c.hooks.Peer(sa)
	conn := c.hooks.Conn(sa)
	var stale []S
	if c.byPeer == nil {
		return
	}
	for _, o := range c.byPeer[c.peerHash(addr)] {
		oid, oaddr := c.hooks.Peer(o)
		if o != sa && c.hooks.Conn(o) == conn && oaddr == addr && c.hooks.Established(o) && oid.Equal(id) {
			stale = append(stale, o)
		}
	}
	for _, o := range stale {
		c.hooks.Log(o).Info("INITIAL_CONTACT from the peer: removing its stale IKE SA")
		c.hooks.Remove(now, o, false, "INITIAL_CONTACT")
	}
}

// TerminateUser deletes, telling the peers, every IKE SA of the
// remote-access user (ikegate down --user) and reports whether there was
// any.
func (c *Core[S, C, W]) TerminateUser(now time.Time, user string) (Output, bool) {
	var victims []S
	for sa := range c.hooks.SAs() {
		if user != "" && c.hooks.User(sa) == user {
			victims = append(victims, sa)
		}
	}
	for _, sa := range victims {
		c.hooks.Log(sa).Info("disconnecting user " + user)
		c.hooks.Remove(now, sa, true, "user "+user+" disconnected by the administrator")
		c.Schedule(sa)
	}
	return c.Flush(), len(victims) > 0
}

// Busy reports whether connection name is up or on its way in this
// engine, so that a trap need not initiate it: an IKE SA of it is being
// negotiated, or a CHILD SA of it is installed or being negotiated on any
// IKE SA. why says which.
func (c *Core[S, C, W]) Busy(name string) (bool, string) {
	for sa := range c.hooks.SAs() {
		if c.hooks.Conn(sa).Name == name && c.hooks.Negotiating(sa) {
			return true, "an IKE SA for the connection is being negotiated"
		}
		if !c.hooks.Established(sa) {
			continue
		}
		if c.hooks.Creating(sa, name) {
			return true, "a CHILD SA for the connection is being negotiated"
		}
		for _, ch := range c.hooks.Children(sa) {
			if b := ch.Base(); b.Conn.Name == name && (b.Installed() || b.State == ChildInstalling) {
				return true, "a CHILD SA for the connection is installed"
			}
		}
	}
	return false, ""
}

// Export returns the record of every established IKE SA with its installed
// CHILD SAs. Exchanges in flight are not part of it: a request of ours is
// started again by the restored side's timers, one of the peer's is
// answered from the cached response (IKEv2) or the peer retries it.
func (c *Core[S, C, W]) Export() []Record {
	var out []Record
	for sa := range c.hooks.SAs() {
		if c.hooks.Established(sa) {
			out = append(out, c.hooks.Record(sa))
		}
	}
	return out
}

// Kernels lists the dataplane SAs of sa's installed CHILD SAs.
func (c *Core[S, C, W]) Kernels(sa S) []*policy.ChildSA {
	var out []*policy.ChildSA
	for _, ch := range c.hooks.Children(sa) {
		if b := ch.Base(); b.Installed() {
			out = append(out, b.Kernel)
		}
	}
	return out
}

// Expired handles the dataplane's expire of a CHILD SA state (either
// direction, by SPI): at the soft limit the CHILD SA is replaced unless
// that is under way, at the hard limit it is gone and the peer is told. It
// reports whether the SPI belongs to a CHILD SA of this engine.
func (c *Core[S, C, W]) Expired(now time.Time, spi uint32, hard bool) (Output, bool) {
	for sa := range c.hooks.SAs() {
		for _, ch := range c.hooks.Children(sa) {
			b := ch.Base()
			if !b.Installed() || (b.SPIIn != spi && b.SPIOut != spi) {
				continue
			}
			log := LogWith(c.hooks.Log(sa), zap.String("child", b.Conn.Name))
			switch {
			case hard:
				log.Warn("the dataplane hard-expired a CHILD SA before it was replaced; deleting it")
				c.hooks.Delete(now, sa, ch)
			case !b.Rekeying && c.hooks.Established(sa):
				log.Info("dataplane soft expire: replacing the CHILD SA")
				c.hooks.Replace(now, sa, ch)
			}
			c.Schedule(sa)
			return c.Flush(), true
		}
	}
	return Output{}, false
}

// Initiate starts conn: a further CHILD SA on an established IKE SA that
// can carry it (CREATE_CHILD_SA, Quick Mode), or a new IKE SA.
func (c *Core[S, C, W]) Initiate(now time.Time, conn *policy.Connection) (Output, error) {
	if err := CheckInitiate(conn); err != nil {
		return Output{}, err
	}
	if sa, ok := c.hooks.Reusable(conn); ok {
		c.hooks.AddChild(now, sa, conn)
		c.Schedule(sa)
		return c.Flush(), nil
	}
	if err := c.hooks.Initiate(now, conn); err != nil {
		c.Flush()
		return Output{}, err
	}
	return c.Flush(), nil
}

// Reusable reports whether Initiate(conn) would negotiate only a CHILD SA
// on an established IKE SA of this engine. A runtime with several engines
// (shards) asks each, so that the engine holding the IKE SA initiates.
func (c *Core[S, C, W]) Reusable(conn *policy.Connection) bool {
	_, ok := c.hooks.Reusable(conn)
	return ok
}

// Restore runs an engine's restore of rec (its IKE SA added, CHILD SA
// installs requested) and returns the output to execute, or nothing and
// the error. key is the SPI (IKEv1: cookie) the engine files the SA
// under, which must be free (inUse) and route to this engine (SPIFilter).
func (c *Core[S, C, W]) Restore(rec *Record, version int, key uint64, inUse func(uint64) bool, restore func(conn *policy.Connection) error) (Output, error) {
	err := rec.Check()
	var conn *policy.Connection
	switch {
	case err != nil:
	case rec.Version != version:
		err = fmt.Errorf("IKEv%d engine: cannot restore an IKEv%d SA", version, rec.Version)
	case inUse(key):
		err = fmt.Errorf("SA record: SPI %s is in use", SPIHex(key))
	case c.Cfg.SPIFilter != nil && !c.Cfg.SPIFilter(key):
		err = fmt.Errorf("SA record: SPI %s does not belong to this shard", SPIHex(key))
	default:
		if conn = c.Cfg.DB.Lookup(rec.Conn); conn == nil {
			err = fmt.Errorf("SA record: no connection named %q", rec.Conn)
		} else {
			err = restore(conn)
		}
	}
	if err != nil {
		c.Flush()
		return Output{}, err
	}
	return c.Flush(), nil
}

// MapLookup is Hooks.Lookup over an engine's table of IKE SAs by key.
func MapLookup[S any](m map[uint64]S) func(uint64) (S, bool) {
	return func(k uint64) (S, bool) {
		sa, ok := m[k]
		return sa, ok
	}
}

// Shutdown ends every IKE SA of the engine because the gateway stops:
// established ones are deleted telling the peer (so that peers without
// dead peer detection do not keep dead SAs), the others are dropped. It
// returns the deletes to send and the removals to carry out, and how many
// established SAs it deleted.
func (c *Core[S, C, W]) Shutdown(now time.Time) (Output, int) {
	var all []S
	for sa := range c.hooks.SAs() {
		all = append(all, sa)
	}
	n := 0
	for _, sa := range all {
		up := c.hooks.Established(sa)
		if up {
			n++
		}
		c.hooks.Remove(now, sa, up, "the gateway is shutting down")
		c.Unschedule(sa)
	}
	return c.Flush(), n
}

// SetDB makes db the engine's policy database (a reload). The SAs keep the
// connections they were made for; the runtime removes those of
// connections that went or changed.
func (c *Core[S, C, W]) SetDB(db *policy.DB) { c.Cfg.DB = db }
