package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"ikegate/internal/engine"
	"ikegate/oakley"
	"ikegate/policy"
)

// ErrAlreadyUp is wrapped by Up's answer for a connection that is up or
// being negotiated: nothing new was initiated (not a failure).
var ErrAlreadyUp = errors.New("already up or being negotiated")

// Up initiates connection name on a shard: IKEv1 on the shard of the
// peer's address, where all ISAKMP SAs with it live (shardOfPeer); IKEv2
// round robin, or the shard holding an IKE SA the new CHILD SA can reuse,
// the engine picking the initiator SPI with that shard's SPIFilter, so
// the answers come back to the same shard. A connection that is up or
// being negotiated is left alone (ErrAlreadyUp): repeated `up` creates
// nothing new.
func (g *Gateway) Up(ctx context.Context, name string) error {
	c := g.dbNow().Lookup(name)
	if c == nil {
		return g.noConnection(name)
	}
	if c.Version == policy.Any {
		return fmt.Errorf("connection %q has version \"any\", which is responder-only", name)
	}
	if busy, why := g.connBusy(ctx, name); busy {
		return fmt.Errorf("connection %q: %w (%s); nothing new initiated", name, ErrAlreadyUp, why)
	}
	k := g.initiatorShard(c)
	// An established IKE SA to the same peer and identities carries the
	// new CHILD SA (CREATE_CHILD_SA, or Quick Mode in IKEv1); it lives on
	// one shard only, and only that shard's engine can find it.
	var mu sync.Mutex
	reuse := -1
	if err := g.runOnAll(ctx, func(i int, sh *shard, _ time.Time) {
		if c.Version == policy.IKEv1 && c.RemoteAddr.IsValid() {
			return // only the peer's shard can hold one
		}
		if sh.engines[engineFor(c.Version)].Reusable(c) {
			mu.Lock()
			if reuse < 0 || i < reuse {
				reuse = i
			}
			mu.Unlock()
		}
	}); err != nil {
		return err
	}
	if reuse >= 0 {
		k = reuse
	}
	var ierr error
	err := g.runOn(ctx, k, func(sh *shard, now time.Time) {
		i := engineFor(c.Version)
		out, err := sh.engines[i].Initiate(now, c)
		ierr = err
		sh.exec(i, out)
	})
	if err != nil {
		return err
	}
	if ierr != nil {
		return fmt.Errorf("initiating %q: %w", name, ierr)
	}
	g.log.Debug("initiation handed to shard", zap.String("conn", name), zap.String("conn_version", string(c.Version)), zap.Int("shard", k),
		zap.Stringer("peer", c.RemoteAddr))
	return nil
}

// initiatorShard is where Up initiates c when no IKE SA can be reused:
// an IKEv1 connection to a fixed address on that address's shard (the
// peer's messages arrive there), anything else round robin.
func (g *Gateway) initiatorShard(c *policy.Connection) int {
	if c.Version == policy.IKEv1 && c.RemoteAddr.IsValid() {
		return shardOfPeer(c.RemoteAddr, len(g.shards))
	}
	return int(g.rr.Add(1)-1) % len(g.shards)
}

// recordShard is the shard an SA record is restored on: the one its
// messages are routed to (IKEv1 by the peer's address, IKEv2 by the SPI
// we chose, the record's Key).
func (g *Gateway) recordShard(rec *engine.Record) int {
	if rec.Version == 1 {
		return shardOfPeer(rec.Remote.Addr(), len(g.shards))
	}
	return ShardOf(rec.Key(), len(g.shards))
}

// Down terminates every IKE SA of connection name on every shard and
// reports whether there was any.
func (g *Gateway) Down(ctx context.Context, name string) (bool, error) {
	if g.dbNow().Lookup(name) == nil {
		return false, g.noConnection(name)
	}
	found, err := g.everyEngine(ctx, func(now time.Time, e ikeEngine) (engine.Output, bool) { return e.Terminate(now, name) })
	if err != nil {
		return false, err
	}
	g.log.Info("terminated", zap.String("conn", name), zap.Bool("had_sa", found))
	return found, nil
}

// everyEngine runs f on every engine of every shard, carries out what it
// returns, and reports whether f said yes anywhere.
func (g *Gateway) everyEngine(ctx context.Context, f func(now time.Time, e ikeEngine) (engine.Output, bool)) (bool, error) {
	var mu sync.Mutex
	found := false
	err := g.runOnAll(ctx, func(_ int, sh *shard, now time.Time) {
		for i, e := range sh.engines {
			out, ok := f(now, e)
			sh.exec(i, out)
			if ok {
				mu.Lock()
				found = true
				mu.Unlock()
			}
		}
	})
	return found, err
}

// DownUser deletes every IKE SA of remote-access user on every shard and
// reports whether there was any.
func (g *Gateway) DownUser(ctx context.Context, user string) (bool, error) {
	found, err := g.everyEngine(ctx, func(now time.Time, e ikeEngine) (engine.Output, bool) { return e.TerminateUser(now, user) })
	if err != nil {
		return false, err
	}
	g.log.Info("user disconnected", zap.String("user", user), zap.Bool("had_sa", found))
	return found, nil
}

// SAs returns the IKE SAs of all shards, sorted by connection name and
// local SPI. It is never nil, and neither is any Children, LocalTS or
// RemoteTS in it, so the JSON has arrays rather than nulls.
func (g *Gateway) SAs(ctx context.Context) ([]policy.IKESAInfo, error) {
	per := make([][]policy.IKESAInfo, len(g.shards))
	err := g.runOnAll(ctx, func(k int, sh *shard, _ time.Time) {
		for _, e := range sh.engines {
			per[k] = append(per[k], e.SAs()...)
		}
	})
	if err != nil {
		return nil, err
	}
	all := []policy.IKESAInfo{}
	for _, s := range per {
		all = append(all, s...)
	}
	for i := range all {
		if all[i].Children == nil {
			all[i].Children = []policy.ChildSAInfo{}
		}
		for j := range all[i].Children {
			ch := &all[i].Children[j]
			if ch.LocalTS == nil {
				ch.LocalTS = []string{}
			}
			if ch.RemoteTS == nil {
				ch.RemoteTS = []string{}
			}
			g.fillChildCounters(ch)
		}
	}
	return sortSAs(all), nil
}

// sortSAs sorts sas by connection name and local SPI.
func sortSAs(sas []policy.IKESAInfo) []policy.IKESAInfo {
	sort.SliceStable(sas, func(i, j int) bool {
		if sas[i].Name != sas[j].Name {
			return sas[i].Name < sas[j].Name
		}
		return sas[i].LocalSPI < sas[j].LocalSPI
	})
	return sas
}

// ConnInfo describes a configured connection for `ikegate conns`. It never
// carries the PSK or a private key.
type ConnInfo struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	IKEv1Mode  string   `json:"ikev1_mode,omitempty"`
	LocalAddr  string   `json:"local_addr"`
	RemoteAddr string   `json:"remote_addr"`
	LocalID    string   `json:"local_id"`
	RemoteID   string   `json:"remote_id"`
	Auth       string   `json:"auth"`
	Cert       string   `json:"cert,omitempty"` // subject of the own certificate
	IKE        []string `json:"ike"`
	ESP        []string `json:"esp"`
	LocalTS    []string `json:"local_ts"`
	RemoteTS   []string `json:"remote_ts"`
	Start      string   `json:"start"`
	// LastError is the explanation of the connection's last failure
	// (cleared when it is initiated again).
	LastError string `json:"last_error,omitempty"`
}

// Conns lists the configured connections in config order, with their
// last failures.
func (g *Gateway) Conns(ctx context.Context) []ConnInfo {
	var mu sync.Mutex
	failed := map[string]string{}
	g.runOnAll(ctx, func(_ int, sh *shard, _ time.Time) {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range sh.engines {
			e.Failures(failed)
		}
	})
	out := []ConnInfo{}
	for _, c := range g.dbNow().Connections() {
		ci := connInfo(c)
		ci.LastError = failed[c.Name]
		out = append(out, ci)
	}
	return out
}

func connInfo(c *policy.Connection) ConnInfo {
	ci := ConnInfo{
		Name:       c.Name,
		Version:    string(c.Version),
		IKEv1Mode:  c.IKEv1Mode,
		LocalAddr:  addrOrAny(c.LocalAddr),
		RemoteAddr: addrOrAny(c.RemoteAddr),
		LocalID:    c.LocalID.String(),
		RemoteID:   c.RemoteID.String(),
		Auth:       string(c.Auth),
		IKE:        proposalStrings(c.IKE),
		ESP:        proposalStrings(c.ESP),
		LocalTS:    policy.PrefixStrings(c.LocalTS),
		RemoteTS:   policy.PrefixStrings(c.RemoteTS),
		Start:      string(c.Start),
	}
	if c.Cert != nil {
		ci.Cert = c.Cert.Subject.String()
	}
	return ci
}

func addrOrAny(a netip.Addr) string {
	if !a.IsValid() {
		return "%any"
	}
	return a.String()
}

func proposalStrings(ps []oakley.Proposal) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

// fillChildCounters copies the dataplane's counters of ch (found by its
// inbound SPI) into ch, if the dataplane counts (Capabilities().Counters).
func (g *Gateway) fillChildCounters(ch *policy.ChildSAInfo) {
	if !g.backend.Capabilities().Counters {
		return
	}
	spi, err := strconv.ParseUint(ch.SPIIn, 16, 32)
	if err != nil || spi == 0 {
		return
	}
	c, ok := g.backend.Counters(uint32(spi))
	if !ok {
		return
	}
	ch.InPackets, ch.InBytes = c.InPackets, c.InBytes
	ch.OutPackets, ch.OutBytes = c.OutPackets, c.OutBytes
	ch.ReplayDrops, ch.AuthFailures = c.ReplayDrops, c.AuthFailures
	ch.PadErrors, ch.Malformed = c.PadErrors, c.Malformed
	ch.OutsideTSDrops = c.OutsideTSDrops
}

// noConnection is the error for a connection name the configuration does
// not have, with the closest one it does have.
func (g *Gateway) noConnection(name string) error {
	var names []string
	for _, c := range g.dbNow().Connections() {
		names = append(names, c.Name)
	}
	if s := policy.Suggest(name, names); s != "" {
		return fmt.Errorf("no connection named %q (did you mean %q?)", name, s)
	}
	return fmt.Errorf("no connection named %q", name)
}

// UpWait initiates connection name (Up) and waits, at most timeout, for
// the outcome: its IKE SA established with a CHILD SA of the connection
// installed (the message says so), or a failure (the error is the
// engine's explanation: the peer's refusal and its likely cause, a CHILD
// SA's error, no answer). A connection that is up already is success.
func (g *Gateway) UpWait(ctx context.Context, name string, timeout time.Duration) (string, error) {
	if err := g.clearFailure(ctx, name); err != nil {
		return "", err
	}
	err := g.Up(ctx, name)
	if err != nil && !errors.Is(err, ErrAlreadyUp) {
		return "", err
	}
	return g.waitFor(ctx, name, timeout, func(sas []policy.IKESAInfo, lastFailure string) (string, error) {
		up, failed := upOutcome(sas, name, lastFailure)
		if up == "" && failed != "" {
			return "", fmt.Errorf("connection %q failed: %s", name, failed)
		}
		return up, nil
	}, func() error {
		return fmt.Errorf("connection %q: no outcome within %v (still negotiating; see `ikegate sas %s` and the log)", name, timeout, name)
	})
}

// upOutcome looks in sas for connection name's success (an ESTABLISHED
// IKE SA with an INSTALLED CHILD SA of it) or failure (a failed CHILD SA,
// or else lastFailure: an initiation that ended in NoteFailure).
func upOutcome(sas []policy.IKESAInfo, name, lastFailure string) (up, failed string) {
	for _, sa := range sas {
		if sa.State != "ESTABLISHED" {
			continue
		}
		for _, ch := range sa.Children {
			switch {
			case ch.Name == name && ch.State == "INSTALLED":
				return fmt.Sprintf("connection %q up: IKEv%d SA %s/%s, CHILD SA %s (in) %s (out), %s === %s", name, sa.Version,
					sa.LocalSPI, sa.RemoteSPI, ch.SPIIn, ch.SPIOut, strings.Join(ch.LocalTS, ","), strings.Join(ch.RemoteTS, ",")), ""
			case ch.Name == name && (ch.State == "FAILED" || ch.State == "INSTALL_FAILED") && ch.Error != "":
				failed = "CHILD SA: " + ch.Error
			}
		}
	}
	if failed != "" {
		return "", failed
	}
	return "", lastFailure
}

// waitPoll is how often UpWait, DownWait and RekeyWait look at the shards.
const waitPoll = 50 * time.Millisecond

// waitFor serves UpWait, DownWait and RekeyWait: every waitPoll it takes
// connection name's waitState and asks check for the outcome (a message,
// or an error; neither: not there yet), until there is one or timeout
// has passed (then the error is late's).
func (g *Gateway) waitFor(ctx context.Context, name string, timeout time.Duration,
	check func(sas []policy.IKESAInfo, lastFailure string) (string, error), late func() error) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		sas, failed, err := g.waitState(ctx, name)
		if err != nil {
			return "", err
		}
		if msg, err := check(sas, failed); msg != "" || err != nil {
			return msg, err
		}
		if time.Now().After(deadline) {
			return "", late()
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(waitPoll):
		}
	}
}

// waitState is what the waiting commands look at, in one visit of the
// shards: the IKE SAs, sorted as SAs sorts them but without the
// dataplane's counters (read per CHILD SA, from the kernel with xfrm),
// and the engines' explanation of connection name's last failure ("":
// none since clearFailure).
func (g *Gateway) waitState(ctx context.Context, name string) ([]policy.IKESAInfo, string, error) {
	per := make([][]policy.IKESAInfo, len(g.shards))
	fails := make([]string, len(g.shards))
	err := g.runOnAll(ctx, func(k int, sh *shard, _ time.Time) {
		for _, e := range sh.engines {
			per[k] = append(per[k], e.SAs()...)
			if f := e.LastFailure(name); f != "" {
				fails[k] = f
			}
		}
	})
	if err != nil {
		return nil, "", err
	}
	failed := ""
	for _, f := range fails {
		if f != "" {
			failed = f
		}
	}
	return sortSAs(slices.Concat(per...)), failed, nil
}

// clearFailure forgets connection name's last failure on every engine.
func (g *Gateway) clearFailure(ctx context.Context, name string) error {
	return g.runOnAll(ctx, func(_ int, sh *shard, _ time.Time) {
		for _, e := range sh.engines {
			e.ClearFailure(name)
		}
	})
}

// DownWait waits, at most timeout, until connection name has no SA left
// (Down sent the deletes; IKEv2 ones end when the peer answers them).
func (g *Gateway) DownWait(ctx context.Context, name string, timeout time.Duration) (string, error) {
	left := 0
	return g.waitFor(ctx, name, timeout, func(sas []policy.IKESAInfo, _ string) (string, error) {
		left = 0
		for _, sa := range sas {
			if carries(sa, name, false) {
				left++
			}
		}
		if left == 0 {
			return fmt.Sprintf("terminated %q: its SAs are deleted", name), nil
		}
		return "", nil
	}, func() error {
		return fmt.Errorf("connection %q: %d IKE SA(s) still being deleted after %v (the peer has not confirmed the delete; "+
			"the SAs go when it does or when the retransmissions end)", name, left, timeout)
	})
}

// carries reports whether sa is connection name's IKE SA or carries one of
// its CHILD SAs (installed ones only, with installed).
func carries(sa policy.IKESAInfo, name string, installed bool) bool {
	if sa.Name == name {
		return true
	}
	for _, ch := range sa.Children {
		if ch.Name == name && (!installed || ch.State == "INSTALLED") {
			return true
		}
	}
	return false
}

// RekeyWait rekeys connection name now, its IKE SA (ike; in IKEv1 a new
// phase 1 with its Quick Mode) and/or its CHILD SAs (child), and waits at
// most timeout for the outcome: an established IKE SA with a new SPI
// carrying an installed CHILD SA of the connection, and/or an installed
// CHILD SA with a new SPI. Failures are the engine's explanations.
func (g *Gateway) RekeyWait(ctx context.Context, name string, ike, child bool, timeout time.Duration) (string, error) {
	if g.dbNow().Lookup(name) == nil {
		return "", g.noConnection(name)
	}
	sas, _, err := g.waitState(ctx, name)
	if err != nil {
		return "", err
	}
	oldIKE, oldChild := map[string]bool{}, map[string]bool{}
	for _, sa := range sas {
		if sa.State != "ESTABLISHED" || !carries(sa, name, true) {
			continue
		}
		oldIKE[sa.LocalSPI] = true
		for _, ch := range sa.Children {
			if ch.Name == name && ch.State == "INSTALLED" {
				oldChild[ch.SPIIn] = true
			}
		}
	}
	if len(oldIKE) == 0 {
		return "", fmt.Errorf("connection %q has no established SA to rekey (`ikegate up %s` first)", name, name)
	}
	if err := g.clearFailure(ctx, name); err != nil {
		return "", err
	}
	var started atomic.Int64
	if _, err := g.everyEngine(ctx, func(now time.Time, e ikeEngine) (engine.Output, bool) {
		out, n := e.Rekey(now, name, ike, child)
		started.Add(int64(n))
		return out, n > 0
	}); err != nil {
		return "", err
	}
	what := "CHILD SA"
	if ike {
		what = "IKE SA"
	}
	if started.Load() == 0 {
		return "", fmt.Errorf("connection %q: no %s rekey started: one is under way already, or this side may not start it "+
			"(IKEv1: only the side that can initiate the connection renews phase 1)", name, what)
	}
	g.log.Info("rekey requested", zap.String("conn", name), zap.Bool("ike", ike), zap.Bool("child", child), zap.Int64("started", started.Load()))
	return g.waitFor(ctx, name, timeout, func(sas []policy.IKESAInfo, failed string) (string, error) {
		if msg := rekeyed(sas, name, ike, child, oldIKE, oldChild); msg != "" {
			return msg, nil
		}
		if failed != "" {
			return "", fmt.Errorf("connection %q: %s rekey failed: %s", name, what, failed)
		}
		return "", nil
	}, func() error {
		return fmt.Errorf("connection %q: %s rekey has no outcome within %v (see `ikegate sas %s` and the log)", name, what, timeout, name)
	})
}

// rekeyed describes the outcome of a rekey in sas ("": not there yet).
func rekeyed(sas []policy.IKESAInfo, name string, ike, child bool, oldIKE, oldChild map[string]bool) string {
	var ikeMsg, childMsg string
	for _, sa := range sas {
		if sa.State != "ESTABLISHED" || !carries(sa, name, true) {
			continue
		}
		if !oldIKE[sa.LocalSPI] && ikeMsg == "" {
			ikeMsg = fmt.Sprintf("IKE SA %s/%s", sa.LocalSPI, sa.RemoteSPI)
		}
		for _, ch := range sa.Children {
			if ch.Name == name && ch.State == "INSTALLED" && !oldChild[ch.SPIIn] && childMsg == "" {
				childMsg = fmt.Sprintf("CHILD SA %s (in) %s (out)", ch.SPIIn, ch.SPIOut)
			}
		}
	}
	switch {
	case ike && ikeMsg != "":
		if childMsg != "" {
			return fmt.Sprintf("connection %q rekeyed: new %s, new %s", name, ikeMsg, childMsg)
		}
		return fmt.Sprintf("connection %q rekeyed: new %s (its CHILD SAs moved to it)", name, ikeMsg)
	case !ike && child && childMsg != "":
		return fmt.Sprintf("connection %q rekeyed: new %s", name, childMsg)
	}
	return ""
}
