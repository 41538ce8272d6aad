package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"ikegate/access"
	"ikegate/policy"
)

// accessLayer is the remote-access layer the shards hand to the engines'
// effects (engine.Access): the local users and address pools of the
// configuration, shared by every shard.
type accessLayer struct {
	users *access.Users
	pools *access.Pools
}

// newAccessLayer builds the remote-access layer of cfg (nil when cfg has
// neither users nor pools).
func newAccessLayer(cfg *policy.Config) (*accessLayer, error) {
	if len(cfg.Users) == 0 && len(cfg.Pools) == 0 {
		return nil, nil
	}
	pools, err := access.NewPools(cfg.Pools, nil)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	return &accessLayer{users: access.NewUsers(cfg.Users), pools: pools}, nil
}

// errRadiusPending answers RADIUS users until the RADIUS backend exists.
var errRadiusPending = errors.New("xauth = \"radius\": the RADIUS backend is not implemented yet")

// Authenticate checks user's password with the backend conn names.
func (a *accessLayer) Authenticate(conn *policy.Connection, user, password string, answer func(error)) {
	switch conn.XAuth {
	case policy.XAuthLocal:
		answer(a.users.Check(user, password))
	case policy.XAuthRadius:
		answer(errRadiusPending)
	default:
		answer(fmt.Errorf("connection %q has no user backend (xauth)", conn.Name))
	}
}

// Lease hands out an address of pool to identity.
func (a *accessLayer) Lease(pool, identity string) (netip.Addr, error) {
	return a.pools.Lease(pool, identity)
}

// Release gives an address back.
func (a *accessLayer) Release(pool, identity string, addr netip.Addr) {
	a.pools.Release(pool, identity, addr)
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
