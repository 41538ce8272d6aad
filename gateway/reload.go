package gateway

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"go.uber.org/zap"

	"ikegate/access"
	"ikegate/policy"
)

// ReloadResult says what a reload did.
type ReloadResult struct {
	Added, Removed, Changed, Unchanged []string
}

func (r ReloadResult) String() string {
	return fmt.Sprintf("reloaded: %d connection(s) added %v, %d removed %v, %d changed %v, %d unchanged",
		len(r.Added), r.Added, len(r.Removed), r.Removed, len(r.Changed), r.Changed, len(r.Unchanged))
}

// ErrNeedsRestart is wrapped by Reload's error for a change it cannot
// apply to a running gateway; nothing was changed.
var ErrNeedsRestart = errors.New("needs a restart")

// Reload applies cfg, a configuration loaded (and so validated) whole,
// to the running gateway: added connections are started (start =
// "start"), removed ones torn down telling the peers, changed ones torn
// down and started again; the SAs of unchanged connections are not
// touched (same SPIs). The local user list is replaced. Changes of
// [gateway], pools, groups, RADIUS or trapped connections need a restart:
// they are refused with ErrNeedsRestart and nothing changes.
func (g *Gateway) Reload(ctx context.Context, cfg *policy.Config) (ReloadResult, error) {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	var res ReloadResult
	old := g.cfg
	if c := g.reloaded; c != nil {
		old = c // the last configuration applied
	}
	if err := restartOnly(old, cfg); err != nil {
		return res, err
	}
	oldByName := map[string]*policy.Connection{}
	for _, c := range g.dbNow().Connections() {
		oldByName[c.Name] = c
	}
	conns := make([]*policy.Connection, 0, len(cfg.Connections))
	var trapped []string
	for _, c := range cfg.Connections {
		o := oldByName[c.Name]
		switch {
		case o == nil:
			res.Added = append(res.Added, c.Name)
			conns = append(conns, c)
		case sameConnection(o, c):
			res.Unchanged = append(res.Unchanged, c.Name)
			conns = append(conns, o) // the SAs keep pointing at it
		default:
			res.Changed = append(res.Changed, c.Name)
			conns = append(conns, c)
		}
		if (o == nil || !sameConnection(o, c)) && (c.Start == policy.StartTrap || (o != nil && o.Start == policy.StartTrap)) {
			trapped = append(trapped, c.Name)
		}
		delete(oldByName, c.Name)
	}
	for name, o := range oldByName {
		res.Removed = append(res.Removed, name)
		if o.Start == policy.StartTrap {
			trapped = append(trapped, name)
		}
	}
	slices.Sort(res.Removed)
	if len(trapped) > 0 {
		return ReloadResult{}, fmt.Errorf("connections with start = \"trap\" added, removed or changed (%v): %w", trapped, ErrNeedsRestart)
	}
	db := policy.NewDB(conns, cfg.Pools...)
	gone := append(append([]string(nil), res.Removed...), res.Changed...)
	if err := g.runOnAll(ctx, func(_ int, sh *shard, now time.Time) {
		for i, e := range sh.engines {
			for _, name := range gone {
				out, _ := e.Terminate(now, name) // the old connection's SAs, telling the peers
				sh.exec(i, out)
			}
			e.SetDB(db)
		}
	}); err != nil {
		return ReloadResult{}, fmt.Errorf("reload: %w", err)
	}
	g.db.Store(db)
	if g.ra != nil {
		g.ra.users.Store(access.NewUsers(cfg.Users))
	}
	g.reloaded = cfg // [gateway], pools, groups and RADIUS are the same as g.cfg's
	for _, name := range append(append([]string(nil), res.Added...), res.Changed...) {
		if c := db.Lookup(name); c != nil && c.Start == policy.StartStart {
			if err := g.Up(ctx, name); err != nil && !errors.Is(err, ErrAlreadyUp) {
				g.log.Warn("reload: starting the connection failed", zap.String("conn", name), zap.Error(err))
			}
		}
	}
	g.log.Info(res.String())
	return res, nil
}

// restartOnly refuses a reload whose changes only a restart applies.
func restartOnly(old, cfg *policy.Config) error {
	for _, d := range []struct {
		what     string
		old, new any
	}{
		{"[gateway]", old.Gateway, cfg.Gateway},
		{"[[pool]]", old.Pools, cfg.Pools},
		{"[[group]]", old.Groups, cfg.Groups},
		{"[radius]", old.Radius, cfg.Radius},
	} {
		if !reflect.DeepEqual(d.old, d.new) {
			return fmt.Errorf("%s changed: %w (only connections and [[user]] are reloaded)", d.what, ErrNeedsRestart)
		}
	}
	if (len(old.Users) == 0) != (len(cfg.Users) == 0) {
		return fmt.Errorf("[[user]] added or removed as a whole: %w", ErrNeedsRestart)
	}
	return nil
}

// sameConnection reports whether a connection's configuration did not
// change (then its SAs stay). The CA pool is compared by its
// certificates (CACerts): an x509.CertPool holds functions.
func sameConnection(a, b *policy.Connection) bool {
	x, y := *a, *b
	x.CAs, y.CAs = nil, nil
	return reflect.DeepEqual(x, y)
}

// ReloadFile reads the configuration file the gateway was started with
// again and applies it (Reload). A file that does not load changes
// nothing: the error says why, with file, key and line.
func (g *Gateway) ReloadFile(ctx context.Context) (ReloadResult, error) {
	cfg, err := policy.Load(g.cfg.File)
	if err != nil {
		return ReloadResult{}, fmt.Errorf("configuration not reloaded, nothing changed: %w", err)
	}
	res, err := g.Reload(ctx, cfg)
	if err != nil {
		return res, fmt.Errorf("configuration not reloaded, nothing changed: %w", err)
	}
	return res, nil
}
