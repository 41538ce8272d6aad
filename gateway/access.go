package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"ikegate/access"
	"ikegate/internal/engine"
	"ikegate/policy"
)

// accessLayer is the remote-access layer the shards hand to the engines'
// effects (engine.Access): the local users, the RADIUS servers and the
// address pools of the configuration, shared by every shard. RADIUS
// exchanges run on their own goroutines and answer later; everything else
// answers at once.
type accessLayer struct {
	users  atomic.Pointer[access.Users] // replaced by Reload
	groups map[string]*policy.Group
	pools  *access.Pools
	radius *access.Radius // nil without [radius]
	acct   bool           // RADIUS accounting
	guard  *selectorGuard // the traffic of each owner, for accounting
	log    *zap.Logger

	mu       sync.Mutex
	accepted map[string]access.RadiusReply // what RADIUS said about a user, by user name
	sessions map[string]*acctSession       // accounted sessions, by sessionKey (a user's devices each have one)
	interim  time.Duration                 // [radius] interim_interval
}

// newAccessLayer builds the remote-access layer of cfg (nil when cfg has
// no users, pools or RADIUS servers).
func newAccessLayer(cfg *policy.Config, guard *selectorGuard, log *zap.Logger) (*accessLayer, error) {
	if len(cfg.Users) == 0 && len(cfg.Pools) == 0 && len(cfg.Groups) == 0 && cfg.Radius == nil {
		return nil, nil
	}
	pools, err := access.NewPools(cfg.Pools, nil)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	groups := map[string]*policy.Group{}
	for _, g := range cfg.Groups {
		groups[g.Name] = g
	}
	a := &accessLayer{groups: groups, pools: pools, guard: guard, log: log,
		accepted: map[string]access.RadiusReply{}, sessions: map[string]*acctSession{}}
	a.users.Store(access.NewUsers(cfg.Users))
	if cfg.Radius != nil {
		a.radius, a.acct, a.interim = access.NewRadius(cfg.Radius), cfg.Radius.Accounting, cfg.Radius.Interim
		a.radius.Skipped = func(server string, err error) {
			log.Warn("RADIUS server did not answer; trying the next", zap.String("server", server), zap.Error(err))
		}
	}
	return a, nil
}

// Authenticate checks the user's password with the backend the effect's
// connection names: the local list at once, RADIUS on its own goroutine.
func (a *accessLayer) Authenticate(ef engine.Effect, password string, answer func(error)) {
	switch ef.Connection.XAuth {
	case policy.XAuthLocal:
		answer(a.users.Load().Check(ef.User, password))
	case policy.XAuthRadius:
		if a.radius == nil {
			answer(fmt.Errorf("connection %q: xauth = \"radius\" but there is no [radius]", ef.Connection.Name))
			return
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rep, err := a.radius.Authenticate(ctx, access.Request{User: ef.User, Password: password, Calling: ef.Peer, NASIP: ef.Local})
			if err == nil {
				a.mu.Lock()
				a.accepted[ef.User] = rep
				a.mu.Unlock()
				a.log.Info("RADIUS accepted the user", zap.String("user", ef.User), zap.String("server", rep.Server),
					zap.Bool("framed_ip", rep.FramedIP.IsValid()), zap.Bool("class", len(rep.Class) > 0))
			}
			answer(err)
		}()
	default:
		answer(fmt.Errorf("connection %q has no user backend (xauth)", ef.Connection.Name))
	}
}

// EAP runs one step of a client's EAP conversation with the server its
// connection's remote_auth names: the local EAP-MSCHAPv2 server at once,
// RADIUS (EAP pass-through) on its own goroutine. What an Access-Accept
// said about the user is kept for its lease, as for XAUTH.
func (a *accessLayer) EAP(ef engine.Effect, answer func(engine.Result)) {
	s, _ := ef.Session.(access.EAPSession)
	if s == nil {
		switch ef.Connection.RemoteAuth {
		case policy.RemoteAuthEAPMSCHAPv2:
			s = access.NewMSCHAPv2Server(a.users.Load(), rand.Reader)
		case policy.RemoteAuthEAPRadius:
			if a.radius == nil {
				answer(engine.Result{Err: fmt.Errorf("connection %q: remote_auth = \"eap-radius\" but there is no [radius]", ef.Connection.Name)})
				return
			}
			s = a.radius.EAP(access.Request{Calling: ef.Peer, NASIP: ef.Local})
		default:
			answer(engine.Result{Err: fmt.Errorf("connection %q does not authenticate clients with EAP", ef.Connection.Name)})
			return
		}
	}
	step := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		st := s.Step(ctx, ef.EAP)
		r := engine.Result{Err: st.Err, EAP: engine.EAPAnswer{Message: st.Message, Done: st.Done, MSK: st.MSK,
			Identity: st.Identity, SessionTimeout: st.Reply.SessionTimeout, Session: s}}
		if st.Done && st.Err == nil && st.FromRadius {
			a.mu.Lock()
			a.accepted[st.Identity] = st.Reply
			a.mu.Unlock()
			a.log.Info("RADIUS accepted the user (EAP)", zap.String("user", st.Identity), zap.String("server", st.Reply.Server),
				zap.Bool("framed_ip", st.Reply.FramedIP.IsValid()), zap.Bool("class", len(st.Reply.Class) > 0))
		}
		answer(r)
	}
	if s.Blocks() {
		go step()
		return
	}
	step()
}

// Lease hands out the client's address and attributes. Its group is the
// one a RADIUS Class attribute names, else the connection's; the address
// is the one RADIUS named (Framed-IP-Address, held in the pool that
// contains it), else one of the group's pool, else of the connection's.
// With RADIUS accounting the session starts here.
func (a *accessLayer) Lease(ef engine.Effect) (engine.Leased, error) {
	a.mu.Lock()
	rep, fromRadius := a.accepted[ef.Identity]
	a.mu.Unlock()
	var l engine.Leased
	var group *policy.Group
	if ef.Connection != nil {
		group = a.groups[ef.Connection.Group]
	}
	if fromRadius && len(rep.Class) > 0 {
		if g := a.groups[policy.GroupOfClass(rep.Class)]; g != nil {
			group = g
		}
	}
	l.Pool = ef.Pool
	if group != nil {
		l.Group = group.Name
		if group.Pool != "" {
			l.Pool = group.Pool
		}
		var base policy.Attributes
		if p := a.pools.Pool(l.Pool); p != nil {
			base = p.Attributes
		}
		attrs := group.Attributes.Over(base)
		l.Attrs = &attrs
	}
	var err error
	if fromRadius && rep.FramedIP.IsValid() {
		// The server chose; the pool must not hand it to anyone else.
		if l.Pool, err = a.pools.Claim(ef.Identity, rep.FramedIP); err != nil {
			return engine.Leased{}, fmt.Errorf("RADIUS Framed-IP-Address: %w", err)
		}
		l.Addr = rep.FramedIP
	} else if l.Addr, err = a.pools.LeaseFor(l.Pool, ef.Identity, ef.Device); err != nil {
		return engine.Leased{}, err
	}
	if fromRadius && a.acct {
		s := &acctSession{Session: access.Session{ID: sessionID(), User: ef.Identity, Calling: ef.Peer, NASIP: ef.Local,
			FramedIP: l.Addr, Class: rep.Class, Start: time.Now()}, stop: make(chan struct{})}
		a.mu.Lock()
		old := a.sessions[sessionKey(ef.Identity, l.Addr)]
		a.sessions[sessionKey(ef.Identity, l.Addr)] = s
		a.mu.Unlock()
		if old != nil {
			close(old.stop)
		}
		a.account(access.AcctStart, s.Session)
		interval := a.interim
		if rep.Interim > 0 {
			interval = rep.Interim // the server's word wins
		}
		if interval > 0 {
			go a.interimUpdates(s, interval)
		}
	}
	return l, nil
}

// Release gives the address back to the pool the lease named and ends
// the accounted session with the traffic the dataplane counted for the
// user.
func (a *accessLayer) Release(ef engine.Effect) {
	a.mu.Lock()
	s := a.sessions[sessionKey(ef.Identity, ef.Addr)]
	delete(a.sessions, sessionKey(ef.Identity, ef.Addr))
	delete(a.accepted, ef.Identity)
	a.mu.Unlock()
	a.pools.Release(ef.Pool, ef.Identity, ef.Addr)
	if s != nil {
		close(s.stop)
		a.account(access.AcctStop, a.withTraffic(s))
	}
}

// close stops the interim updates of every session (the gateway stops;
// the sessions are not ended: a restarted gateway may take them over).
func (a *accessLayer) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, s := range a.sessions {
		close(s.stop)
		delete(a.sessions, id)
	}
}

// sessionKey names the accounted session of identity's device holding addr.
func sessionKey(identity string, addr netip.Addr) string { return identity + "|" + addr.String() }

// acctSession is an accounted session and the stop of its interim
// updates.
type acctSession struct {
	access.Session
	stop chan struct{}
}

// withTraffic is s with the traffic the dataplane counted for its user.
func (a *accessLayer) withTraffic(s *acctSession) access.Session {
	out := s.Session
	c := a.guard.traffic("user " + s.User)
	out.InBytes, out.OutBytes, out.InPackets, out.OutPackets = c.InBytes, c.OutBytes, c.InPackets, c.OutPackets
	return out
}

// interimUpdates sends an Interim-Update of s every interval until the
// session stops.
func (a *accessLayer) interimUpdates(s *acctSession, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			a.account(access.AcctInterim, a.withTraffic(s))
		}
	}
}

// account sends an accounting record on its own goroutine.
func (a *accessLayer) account(status access.AcctStatus, s access.Session) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := a.radius.Account(ctx, status, s, time.Now()); err != nil {
			a.log.Warn("RADIUS accounting failed", zap.String("user", s.User), zap.Error(err))
		}
	}()
}

func sessionID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Leases returns the addresses handed out, sorted by pool and address
// (never nil).
func (g *Gateway) Leases(context.Context) []access.Lease {
	if g.ra == nil {
		return []access.Lease{}
	}
	if l := g.ra.pools.Leases(); l != nil {
		return l
	}
	return []access.Lease{}
}
