package policy

import "net/netip"

// DB is the policy database: the connections of one config, looked up by
// name or by the addresses of an incoming negotiation. It is read-only after
// construction and safe for concurrent use.
type DB struct {
	conns  []*Connection
	byName map[string]*Connection
	pools  map[string]*Pool
}

// NewDB builds a database over conns (kept in config order) and the
// address pools they name.
func NewDB(conns []*Connection, pools ...*Pool) *DB {
	db := &DB{conns: conns, byName: make(map[string]*Connection, len(conns)), pools: make(map[string]*Pool, len(pools))}
	for _, c := range conns {
		db.byName[c.Name] = c
	}
	for _, p := range pools {
		db.pools[p.Name] = p
	}
	return db
}

// Pool returns the address pool called name (its attributes), or nil.
func (db *DB) Pool(name string) *Pool { return db.pools[name] }

// Connections returns every connection in config order.
func (db *DB) Connections() []*Connection { return db.conns }

// Lookup returns the connection called name, or nil.
func (db *DB) Lookup(name string) *Connection { return db.byName[name] }

// Candidates returns the connections a responder may use for a negotiation
// of version v arriving on local from remote: those whose version is v or
// "any", whose local address is local (or unset) and whose remote address is
// remote or %any. Connections naming the remote address exactly come first.
func (db *DB) Candidates(local, remote netip.Addr, v Version) []*Connection {
	var exact, wildcard []*Connection
	for _, c := range db.conns {
		if c.Version != v && c.Version != Any {
			continue
		}
		if c.LocalAddr.IsValid() && c.LocalAddr != local.Unmap() {
			continue
		}
		switch {
		case c.RemoteAny():
			wildcard = append(wildcard, c)
		case c.RemoteAddr == remote.Unmap():
			exact = append(exact, c)
		}
	}
	return append(exact, wildcard...)
}
