package ikev1

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"ikegate/internal/engine"
	"ikegate/oakley"
	"ikegate/policy"
)

func (sa *p1SA) record() engine.Record {
	k := sa.keys
	r := engine.Record{
		Format: engine.RecordFormat, Version: 1, Conn: sa.conn.Name, Initiator: sa.initiator,
		SPIi: engine.SPI(sa.ckyI), SPIr: engine.SPI(sa.ckyR), Local: sa.local, Remote: sa.remote, NAT: sa.nat,
		PeerID: engine.RecordIdentity(sa.peerID), Proposal: engine.RecordProposal(sa.chosen),
		RemoteAccess: sa.ra != nil && !sa.clientRecordable(),
		Secrets:      engine.Secrets{"skeyid": k.skeyid, "skeyid_d": k.d, "skeyid_a": k.a, "enc_key": k.enc},
		IKEv1: &engine.V1State{
			Aggressive: sa.aggressive, Hash: sa.hashID, Auth: sa.auth, Lifetime: sa.lifetime, NATT: uint8(sa.natT),
			PeerDPD: sa.peerDPD, Product: sa.product, PhaseTwoIV: k.p1Last,
			LastSent: sa.lastSent, LastSentFor: sa.lastSentFor[:], LastRecv: sa.lastRecv[:],
		},
		Children: []engine.ChildRecord{},
	}
	if sa.ra != nil && sa.clientRecordable() {
		ra := sa.ra
		r.Client = &engine.ClientRecord{User: ra.user, Identity: sa.identity(), Device: sa.device(), VIP: ra.VIP,
			Pool: ra.Pool, Group: ra.Group, Owner: sa.owner()}
	}
	for _, c := range sa.children {
		if c.Installed() {
			r.Children = append(r.Children, c.Record(engine.PrefixSelectors(c.localTS), engine.PrefixSelectors(c.remoteTS)))
		}
	}
	r.SetLifecycle(&sa.Lifecycle)
	return r
}

// clientRecordable reports whether sa's remote-access state fits a
// record: a client of ours (not ikegate as the client) whose XAUTH is
// done (or not asked for) and no Mode Config transaction is under way.
// Others are in the middle of their setup and start again elsewhere.
func (sa *p1SA) clientRecordable() bool {
	ra := sa.ra
	return !ra.client && (ra.xauth == xauthDone || ra.xauth == xauthNone) && ra.tx == nil && ra.pending == nil && !ra.pushing
}

// Restore adds the ISAKMP SA of rec (from Export, here or in another
// process) and its phase 2 SAs, which go to the installer as they were
// negotiated. The initiator cookie must be free in this engine and, with a
// SPIFilter, pass it (the gateway sets none for IKEv1: it routes IKEv1 by
// the peer's address).
//
// The phase 2 SAs are installed through the returned Output (install
// effects), which the caller executes as any other.
func (e *Engine) Restore(now time.Time, rec *engine.Record) (engine.Output, error) {
	inUse := func(cky uint64) bool { return e.sas[cky] != nil }
	return e.Core.Restore(rec, 1, rec.Key(), inUse, func(conn *policy.Connection) error { return e.restore(rec, conn) })
}

func (e *Engine) restore(rec *engine.Record, conn *policy.Connection) error {
	v1 := rec.IKEv1
	sa := &p1SA{
		conn: conn, initiator: rec.Initiator, aggressive: v1.Aggressive, ckyI: uint64(rec.SPIi), ckyR: uint64(rec.SPIr),
		state: stateEstablished, local: rec.Local, remote: rec.Remote, nat: rec.NAT,
		chosen: rec.Proposal.Oakley(), hashID: v1.Hash, auth: v1.Auth, lifetime: v1.Lifetime,
		natT: natTVariant(v1.NATT), peerDPD: v1.PeerDPD, product: v1.Product, peerID: rec.PeerID.Policy(),
		Lifecycle: rec.Lifecycle(),
		lastSent:  v1.LastSent,
	}
	copy(sa.lastSentFor[:], v1.LastSentFor)
	copy(sa.lastRecv[:], v1.LastRecv)
	if c := rec.Client; c != nil {
		x := xauthNone
		if c.User != "" {
			x = xauthDone
		}
		sa.ra = &remoteAccess{xauth: x, user: c.User, ClientLease: engine.ClientLease{VIP: c.VIP, Pool: c.Pool, Group: c.Group}}
	}
	keys, err := restoreKeys(sa, rec.Secrets, v1.PhaseTwoIV)
	if err != nil {
		return err
	}
	sa.keys = keys
	err = e.RestoreChildren(rec, sa.local.Addr(), sa.remote.Addr(), sa.owner(), func(ch *engine.Child, cr engine.ChildRecord) installWait {
		c := &child{Child: *ch, localTS: engine.SelectorPrefixes(cr.LocalTS), remoteTS: engine.SelectorPrefixes(cr.RemoteTS)}
		sa.children = append(sa.children, c)
		return installWait{sa: sa, c: c, restored: true, rekeyAt: cr.RekeyAt}
	})
	if err != nil {
		return err
	}
	e.sas[sa.ckyI] = sa
	e.Effect(sa.upEffect(true, false))
	e.Schedule(sa)
	sa.log(e).Info("ISAKMP SA restored", zap.Int("children", len(sa.children)))
	return nil
}

// restoreKeys rebuilds the keys and cipher of sa from a record's secrets
// and the phase 2 IV seed.
func restoreKeys(sa *p1SA, s engine.Secrets, iv []byte) (*p1Keys, error) {
	var k p1Keys
	var err error
	for _, f := range []struct {
		name string
		dst  *[]byte
	}{{"skeyid", &k.skeyid}, {"skeyid_d", &k.d}, {"skeyid_a", &k.a}, {"enc_key", &k.enc}} {
		if *f.dst, err = s.Need(f.name); err != nil {
			return nil, err
		}
	}
	prfT, _ := sa.chosen.First(oakley.TransformPRF)
	if k.prf, err = oakley.NewPRF(prfT.ID); err != nil {
		return nil, fmt.Errorf("SA record: %w", err)
	}
	encr, _ := sa.chosen.First(oakley.TransformENCR)
	if k.cipher, err = oakley.NewV1Cipher(encr, k.enc); err != nil {
		return nil, fmt.Errorf("SA record: %w", err)
	}
	if len(iv) != k.cipher.BlockSize() {
		return nil, fmt.Errorf("SA record: phase 2 IV of %d bytes, want %d", len(iv), k.cipher.BlockSize())
	}
	k.iv, k.p1Last = iv, iv
	return &k, nil
}
