package ikev2

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"ikegate/internal/engine"
	"ikegate/isakmp"
	"ikegate/oakley"
	"ikegate/policy"
)

func (sa *ikeSA) record() engine.Record {
	k := sa.keys.sk()
	r := engine.Record{
		Format: engine.RecordFormat, Version: 2, Conn: sa.conn.Name, Initiator: sa.initiator,
		SPIi: engine.SPI(sa.spiI), SPIr: engine.SPI(sa.spiR), Local: sa.local, Remote: sa.remote, NAT: sa.nat,
		PeerID: engine.RecordIdentity(sa.peerID), Proposal: engine.RecordProposal(sa.chosen),
		RemoteAccess: sa.ra != nil && sa.ra.client,
		Secrets: engine.Secrets{"sk_d": k.SKd, "sk_ai": k.SKai, "sk_ar": k.SKar, "sk_ei": k.SKei, "sk_er": k.SKer,
			"sk_pi": k.SKpi, "sk_pr": k.SKpr},
		IKEv2: &engine.V2State{
			NextMsgID: sa.nextMsgID, PeerMsgID: sa.peerMsgID, LastResponse: sa.lastResp,
			PeerHashes: sa.peerHashes.list(), PeerFragments: sa.peerFragments, PeerVendor: sa.peerVendor,
			PeerMIDSync: sa.midSync,
		},
		Children: []engine.ChildRecord{},
	}
	if ra := sa.ra; ra != nil && !ra.client {
		ef := sa.raEffect(engine.EffectLease, ra.Pool, ra.VIP)
		r.Client = &engine.ClientRecord{User: ra.user, Identity: ef.Identity, Device: ef.Device, VIP: ra.VIP, Pool: ra.Pool,
			Group: ra.Group, Ends: ra.ends, Owner: sa.owner()}
	}
	// A request of ours in flight keeps its message ID: the restored side
	// must not reuse it, or the peer would answer from its cache.
	for _, c := range sa.children {
		if c.Installed() {
			r.Children = append(r.Children, c.Record(recordSelectors(c.localTS), recordSelectors(c.remoteTS)))
		}
	}
	r.SetLifecycle(&sa.Lifecycle)
	return r
}

// Restore adds the IKE SA of rec (from Export, here or in another
// process) and its CHILD SAs, which go to the installer as they were
// negotiated. The SPI we chose must be free in this engine and, with a
// SPIFilter, route to it.
//
// The CHILD SAs are installed through the returned Output (install
// effects), which the caller executes as any other.
func (e *Engine) Restore(now time.Time, rec *engine.Record) (engine.Output, error) {
	inUse := func(spi uint64) bool { return e.sas[spi] != nil }
	return e.Core.Restore(rec, 2, rec.Key(), inUse, func(conn *policy.Connection) error { return e.restore(now, rec, conn) })
}

func (e *Engine) restore(now time.Time, rec *engine.Record, conn *policy.Connection) error {
	sa := &ikeSA{
		conn: conn, initiator: rec.Initiator, spiI: uint64(rec.SPIi), spiR: uint64(rec.SPIr),
		state: stateEstablished, local: rec.Local, remote: rec.Remote, nat: rec.NAT,
		chosen: rec.Proposal.Oakley(), peerID: rec.PeerID.Policy(),
		nextMsgID: rec.IKEv2.NextMsgID, peerMsgID: rec.IKEv2.PeerMsgID, lastResp: rec.IKEv2.LastResponse,
		peerHashes: hashSetOf(rec.IKEv2.PeerHashes), peerFragments: rec.IKEv2.PeerFragments, peerVendor: rec.IKEv2.PeerVendor,
		Lifecycle: rec.Lifecycle(), restored: true, midSync: rec.IKEv2.PeerMIDSync,
	}
	if c := rec.Client; c != nil {
		sa.ra = &remoteAccess{user: c.User, ClientLease: engine.ClientLease{VIP: c.VIP, Pool: c.Pool, Group: c.Group}, ends: c.Ends}
		sa.ownerName = c.Owner
	}
	keys, err := restoreKeys(sa, rec.Secrets)
	if err != nil {
		return err
	}
	sa.keys = keys
	err = e.RestoreChildren(rec, sa.local.Addr(), sa.remote.Addr(), sa.owner(), func(ch *engine.Child, cr engine.ChildRecord) installWait {
		c := &childSA{Child: *ch, localTS: wireSelectors(cr.LocalTS), remoteTS: wireSelectors(cr.RemoteTS), transport: !cr.Tunnel}
		sa.children = append(sa.children, c)
		return installWait{sa: sa, c: c, then: afterRestore, rekeyAt: cr.RekeyAt}
	})
	if err != nil {
		return err
	}
	e.sas[sa.ourSPI()] = sa
	e.Effect(sa.upEffect(true, false))
	if sa.midSync {
		// The record may lag the exchanges the previous node made: ask
		// the peer where the message IDs stand (RFC 6311).
		e.sendRequest(now, sa, queued{what: queueMIDSync})
	}
	e.Schedule(sa)
	sa.log(e).Info("IKE SA restored", zap.Int("children", len(sa.children)),
		zap.Uint32("next_msgid", sa.nextMsgID), zap.Uint32("peer_msgid", sa.peerMsgID))
	return nil
}

// maxRestoredLag is how many requests a restored SA's peer may be ahead
// of the record: the exchanges a failed node answered between its last
// write of the SA and its end (DPD, rekeys: a handful at most).
const maxRestoredLag = 8

// restoreKeys rebuilds the keys and ciphers of sa (its proposal set) from
// the secrets of a record.
func restoreKeys(sa *ikeSA, s engine.Secrets) (*ikeKeys, error) {
	var k oakley.IKEKeys
	for _, f := range []struct {
		name string
		dst  *[]byte
		opt  bool
	}{{"sk_d", &k.SKd, false}, {"sk_ai", &k.SKai, true}, {"sk_ar", &k.SKar, true}, {"sk_ei", &k.SKei, false},
		{"sk_er", &k.SKer, false}, {"sk_pi", &k.SKpi, false}, {"sk_pr", &k.SKpr, false}} {
		v, err := s.Need(f.name)
		if err != nil && !f.opt { // AEAD ciphers have no SK_a
			return nil, err
		}
		*f.dst = v
	}
	encr, _ := sa.chosen.First(oakley.TransformENCR)
	prfT, _ := sa.chosen.First(oakley.TransformPRF)
	integ, ok := sa.chosen.First(oakley.TransformINTEG)
	if !ok {
		integ.ID = oakley.IntegNone
	}
	prf, err := oakley.NewPRF(prfT.ID)
	if err != nil {
		return nil, fmt.Errorf("SA record: %w", err)
	}
	ci, err := oakley.NewSKCipher(encr, integ.ID, k.SKei, k.SKai)
	if err != nil {
		return nil, fmt.Errorf("SA record: %w", err)
	}
	cr, err := oakley.NewSKCipher(encr, integ.ID, k.SKer, k.SKar)
	if err != nil {
		return nil, fmt.Errorf("SA record: %w", err)
	}
	keys := newIKEKeys(prf, k, cr, ci)
	if !sa.initiator {
		keys.in, keys.out = ci, cr
	}
	return keys, nil
}

func recordSelectors(ts []isakmp.TrafficSelector) []engine.Selector {
	out := make([]engine.Selector, 0, len(ts))
	for _, t := range ts {
		out = append(out, engine.Selector{Proto: t.IPProtocol, StartPort: t.StartPort, EndPort: t.EndPort, Start: t.StartAddr, End: t.EndAddr})
	}
	return out
}

func wireSelectors(ss []engine.Selector) []isakmp.TrafficSelector {
	out := make([]isakmp.TrafficSelector, 0, len(ss))
	for _, s := range ss {
		t := tsIPv4
		if s.Start.Is6() {
			t = tsIPv6
		}
		out = append(out, isakmp.TrafficSelector{TSType: t, IPProtocol: s.Proto, StartPort: s.StartPort, EndPort: s.EndPort,
			StartAddr: s.Start, EndAddr: s.End})
	}
	return out
}
