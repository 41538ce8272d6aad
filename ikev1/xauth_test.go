package ikev1

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"ikegate/internal/engine"
	"ikegate/internal/enginetest"
	"ikegate/isakmp"
	"ikegate/oakley"
	"ikegate/policy"
)

// raClient plays the remote-access client side of XAUTH and Mode Config
// on the wire, beside node n's engine (which does phase 1 and Quick Mode
// as an ordinary initiator): it answers the gateway's Transaction requests
// with n's ISAKMP SA keys, as vpnc does, and pulls its configuration.
type raClient struct {
	t              *testing.T
	p              *pair
	n              *node
	user, password string
	push           bool // expect the gateway to SET the configuration

	statuses []uint16 // XAUTH_STATUS values received
	requests int      // XAUTH requests received
	attrs    []isakmp.Attribute
	vip      netip.Addr
	askedCfg bool
	ivs      map[uint32][]byte // next IV per Transaction message ID
}

func (c *raClient) sa() *p1SA {
	for _, sa := range c.n.eng.sas {
		if sa.state == stateEstablished {
			return sa
		}
	}
	return nil
}

// filter takes the Transaction messages addressed to the client off the
// wire and answers them; everything else passes.
func (c *raClient) filter(next func(int, isakmp.Datagram) []isakmp.Datagram) func(int, isakmp.Datagram) []isakmp.Datagram {
	return func(i int, d isakmp.Datagram) []isakmp.Datagram {
		h, err := isakmp.ParseHeader(d.Data)
		if err != nil || d.Remote.Addr() != c.n.addr || h.Exchange != isakmp.ExchangeV1Transaction {
			if next != nil {
				return next(i, d)
			}
			return []isakmp.Datagram{d}
		}
		if next != nil && len(next(i, d)) == 0 {
			return nil // lost on the way
		}
		c.receive(d)
		return nil
	}
}

func (c *raClient) receive(d isakmp.Datagram) {
	sa := c.sa()
	msg, err := isakmp.ParseV1Message(d.Data)
	if err != nil || sa == nil {
		c.t.Fatalf("client: %v %v", err, sa)
	}
	id := msg.Header.MessageID
	iv, ok := c.ivs[id]
	if !ok {
		iv = sa.phase2IV(id)
	}
	ps, raws, plain, next, err := sa.open(msg, iv)
	if err != nil {
		c.t.Fatalf("client cannot decrypt: %v", err)
	}
	hash, rest, err := restAfterHash(raws, plain)
	if err != nil || !bytes.Equal(hash, oakley.V1InfoHash(sa.keys.prf, sa.keys.a, id, rest)) {
		c.t.Fatalf("client: bad HASH (%v)", err)
	}
	attr, _ := isakmp.FindV1(ps, isakmp.V1PayloadATTR).(*isakmp.V1Attr)
	switch attr.Type {
	case isakmp.CfgRequest:
		c.requests++
		c.send(sa, id, next, isakmp.CfgReply, attr.Identifier, []isakmp.Attribute{
			{Type: isakmp.V1XAuthUserName, Value: []byte(c.user)},
			{Type: isakmp.V1XAuthPassword, Value: []byte(c.password)}})
	case isakmp.CfgSet:
		if a, ok := attrTV(attr.Attrs, isakmp.V1XAuthStatus); ok {
			c.statuses = append(c.statuses, a)
			c.send(sa, id, next, isakmp.CfgAck, attr.Identifier, []isakmp.Attribute{isakmp.V1AttrTV(isakmp.V1XAuthStatus, a)})
			if a == 1 && !c.push {
				c.pull(sa)
			}
			return
		}
		c.attrs = attr.Attrs // Mode Config push
		c.readVIP()
		c.send(sa, id, next, isakmp.CfgAck, attr.Identifier, nil)
	case isakmp.CfgReply:
		c.attrs = attr.Attrs
		c.readVIP()
	}
}

func (c *raClient) readVIP() {
	if v := attrBytes(c.attrs, isakmp.CPInternalIP4Address); len(v) == 4 {
		c.vip = netip.AddrFrom4([4]byte(v))
	}
}

// pull sends the Mode Config REQUEST of a Cisco-style client.
func (c *raClient) pull(sa *p1SA) {
	c.askedCfg = true
	id := c.n.eng.newMsgID(sa)
	var asked []isakmp.Attribute
	for _, t := range []uint16{isakmp.CPInternalIP4Address, isakmp.CPInternalIP4Netmask, isakmp.CPInternalIP4DNS,
		unityBanner, unityDefDomain, unitySplitInclude, unitySavePasswd, unityLocalLAN, unityPFS, unityBackupServer, isakmp.CPApplicationVersion} {
		asked = append(asked, isakmp.Attribute{Type: t})
	}
	c.send(sa, id, sa.phase2IV(id), isakmp.CfgRequest, 7, asked)
}

func (c *raClient) send(sa *p1SA, id uint32, iv []byte, typ uint8, ident uint16, attrs []isakmp.Attribute) {
	ps := hashedPayloads(sa.keys.prf.Size(), []isakmp.V1Payload{&isakmp.V1Attr{Type: typ, Identifier: ident, Attrs: attrs}},
		func(b []byte) []byte { return oakley.V1InfoHash(sa.keys.prf, sa.keys.a, id, b) })
	raw, next := sa.seal(isakmp.ExchangeV1Transaction, id, iv, ps)
	c.ivs[id] = next
	c.p.Send([]isakmp.Datagram{{Local: sa.local, Remote: sa.remote, Data: raw}})
}

// raPair is a remote-access gateway b (XAUTH against local users, pool
// 10.9.0.0/24) and a client a in Aggressive Mode with a group PSK.
func raPair(t *testing.T, user, password string) (*pair, *raClient) {
	p := newPair(t, "aggressive", []string{"aes256-sha1-modp2048"}, []string{"aes256-sha1"})
	gw := p.b.conns[0]
	gw.XAuth, gw.Pool = policy.XAuthLocal, "rw"
	gw.LocalTS = []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24")}
	gw.RemoteTS = nil
	pool := &policy.Pool{Name: "rw", Ranges: []policy.AddrRange{{First: netip.MustParseAddr("10.9.0.1"), Last: netip.MustParseAddr("10.9.0.254")}},
		Attributes: policy.Attributes{DNS: []netip.Addr{netip.MustParseAddr("10.2.0.53")}, Domain: "corp.example", Banner: "Authorized use only",
			SplitInclude:  []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24")},
			SplitExclude:  []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16")},
			BackupServers: []string{"vpn2.example", "192.0.2.9"}}}
	p.b.eng.Cfg.DB = policy.NewDB(p.b.conns, pool)
	p.b.access = &enginetest.Access{Users: map[string]string{"alice": "alice-secret"}, Pool: netip.MustParsePrefix("10.9.0.0/24")}
	p.a.conns[0].XAuth = policy.XAuthLocal // the client offers XAUTHInitPreShared
	c := &raClient{t: t, p: p, n: p.a, user: user, password: password, ivs: map[uint32][]byte{}}
	p.Filter = c.filter(nil)
	return p, c
}

// TestXAuthModeConfigPull: after Aggressive Mode the gateway asks for the
// user's credentials, checks them, confirms with STATUS=1, answers the
// client's Mode Config REQUEST with an address from the pool and the
// pool's attributes (Unity ones included), and accepts the client's Quick
// Mode for its virtual address only.
func TestXAuthModeConfigPull(t *testing.T) {
	p, c := raPair(t, "alice", "alice-secret")
	// The gateway reports the SA up (for uniqueness across shards) once,
	// after XAUTH, under the user's name, not the group identity that
	// every client of the group shares.
	var ups []string
	p.Observe = func(peer enginetest.Peer, ef engine.Effect, _ error) {
		if peer.Engine == enginetest.Engine(p.b.eng) && ef.Kind == engine.EffectIKEUp {
			ups = append(ups, fmt.Sprintf("%s xauth-requests=%d", ef.Identity, c.requests))
		}
	}
	p.initiate(p.a, p.a.conns[0])
	p.run(5 * time.Second)
	if c.requests != 1 || len(c.statuses) != 1 || c.statuses[0] != 1 {
		t.Fatalf("XAUTH: %d requests, statuses %v; want one request and STATUS 1", c.requests, c.statuses)
	}
	if len(ups) != 1 || ups[0] != "user alice xauth-requests=1" {
		t.Fatalf("gateway's IKE-up effects %q, want one for \"user alice\" after XAUTH", ups)
	}
	if c.vip != netip.MustParseAddr("10.9.0.1") {
		t.Fatalf("virtual IP %v, want 10.9.0.1 (attrs %+v)", c.vip, c.attrs)
	}
	for _, want := range []struct {
		t uint16
		v string
	}{
		{isakmp.CPInternalIP4DNS, string(netip.MustParseAddr("10.2.0.53").AsSlice())},
		{unityBanner, "Authorized use only"},
		{unityDefDomain, "corp.example"},
		{unitySplitInclude, "\x0a\x02\x00\x00\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00"},
		{isakmp.CPInternalIP4Netmask, "\xff\xff\xff\xff"},
		{unityLocalLAN, "\xc0\xa8\x00\x00\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00"},
		{unityBackupServer, "vpn2.example,192.0.2.9"},
	} {
		if got := string(attrBytes(c.attrs, want.t)); got != want.v {
			t.Errorf("attribute %d = %q, want %q", want.t, got, want.v)
		}
	}
	// UNITY_PFS: the gateway's ESP proposals (aes256-sha1) need no DH group.
	if i := slices.IndexFunc(c.attrs, func(a isakmp.Attribute) bool { return a.Type == unityPFS }); i < 0 || !c.attrs[i].TV || c.attrs[i].TVValue != 0 {
		t.Errorf("UNITY_PFS: %+v, want TV 0", c.attrs)
	}
	gwSA := p.b.eng.SAs()
	if len(gwSA) != 1 || len(gwSA[0].Children) != 0 {
		t.Fatalf("gateway before Quick Mode: %+v", gwSA)
	}
	// The client's Quick Mode: its virtual address to the protected net.
	ca := p.a.conns[0]
	ca.LocalTS = []netip.Prefix{netip.PrefixFrom(c.vip, 32)}
	ca.RemoteTS = []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24")}
	p.initiate(p.a, ca)
	p.run(5 * time.Second)
	requireUp(t, p.a, p.b, 1)
	ch := p.b.eng.SAs()[0].Children[0]
	if strings.Join(ch.RemoteTS, ",") != "10.9.0.1/32" || strings.Join(ch.LocalTS, ",") != "10.2.0.0/24" {
		t.Fatalf("gateway CHILD SA %s === %s, want 10.2.0.0/24 === 10.9.0.1/32", ch.LocalTS, ch.RemoteTS)
	}
	// Deleting the SA gives the address back.
	out, _ := p.b.eng.Terminate(p.Now, p.b.conns[0].Name)
	p.do(p.b, out)
	p.run(time.Second)
	if len(p.b.access.Leases) != 0 {
		t.Fatalf("lease not released: %v", p.b.access.Leases)
	}
}

// TestIdleTimeout: a client whose tunnel carries inbound traffic stays;
// once it carries none for the pool's idle_timeout, the gateway deletes
// its SA and the address goes back to the pool.
func TestIdleTimeout(t *testing.T) {
	p, c := raPair(t, "alice", "alice-secret")
	p.b.eng.Cfg.DB.Pool("rw").IdleTimeout = 5 * time.Minute
	p.b.inst.Packets = 1 // the gateway's dataplane counts inbound packets
	p.initiate(p.a, p.a.conns[0])
	p.run(5 * time.Second)
	ca := p.a.conns[0]
	ca.LocalTS = []netip.Prefix{netip.PrefixFrom(c.vip, 32)}
	ca.RemoteTS = []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24")}
	p.initiate(p.a, ca)
	p.run(5 * time.Second)
	requireUp(t, p.a, p.b, 1)
	for range 8 { // 8 minutes with a packet each minute
		p.b.inst.Packets++
		p.run(time.Minute)
	}
	if n := len(p.b.eng.SAs()); n != 1 {
		t.Fatalf("a busy client was disconnected (%d SAs)", n)
	}
	p.run(6 * time.Minute) // silence
	if n := len(p.b.eng.SAs()); n != 0 {
		t.Fatalf("%d SAs after 6 idle minutes with idle_timeout 5m", n)
	}
	if len(p.b.access.Leases) != 0 {
		t.Fatalf("lease not released: %v", p.b.access.Leases)
	}
}

// TestPFSGroup: a pool (or group) with pfs_group tells the client to use
// PFS (UNITY_PFS 1) and refuses its Quick Modes without that DH group.
func TestPFSGroup(t *testing.T) {
	for _, c := range []struct {
		clientESP string
		up        bool
	}{{"aes256-sha1", false}, {"aes256-sha1-modp1024", false}, {"aes256-sha1-modp2048", true}} {
		t.Run(c.clientESP, func(t *testing.T) {
			p, cl := raPair(t, "alice", "alice-secret")
			p.b.eng.Cfg.DB.Pool("rw").PFSGroup = oakley.MODP2048
			p.b.conns[0].ESP = props(t, true, "aes256-sha1-modp2048", "aes256-sha1-modp1024", "aes256-sha1")
			p.initiate(p.a, p.a.conns[0])
			p.run(5 * time.Second)
			if i := slices.IndexFunc(cl.attrs, func(a isakmp.Attribute) bool { return a.Type == unityPFS }); i < 0 || cl.attrs[i].TVValue != 1 {
				t.Fatalf("UNITY_PFS: %+v, want 1", cl.attrs)
			}
			ca := p.a.conns[0]
			ca.ESP = props(t, true, c.clientESP)
			ca.LocalTS = []netip.Prefix{netip.PrefixFrom(cl.vip, 32)}
			ca.RemoteTS = []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24")}
			p.initiate(p.a, ca)
			p.run(5 * time.Second)
			if n := len(p.b.inst.Live); (n > 0) != c.up {
				t.Fatalf("client ESP %s: %d phase 2 SAs installed on the gateway, want up=%v", c.clientESP, n, c.up)
			}
		})
	}
}

// TestXAuthModeConfigPush: with modecfg = "push" the gateway SETs the
// configuration after XAUTH, and the client acknowledges.
func TestXAuthModeConfigPush(t *testing.T) {
	p, c := raPair(t, "alice", "alice-secret")
	p.b.conns[0].ModeCfgPush, c.push = true, true
	p.initiate(p.a, p.a.conns[0])
	p.run(5 * time.Second)
	if len(c.statuses) != 1 || c.statuses[0] != 1 || c.askedCfg {
		t.Fatalf("XAUTH: statuses %v, client asked %v", c.statuses, c.askedCfg)
	}
	if c.vip != netip.MustParseAddr("10.9.0.1") || string(attrBytes(c.attrs, unityBanner)) != "Authorized use only" {
		t.Fatalf("pushed configuration: vip %v, attrs %+v", c.vip, c.attrs)
	}
	if sas := p.b.eng.SAs(); len(sas) != 1 || sas[0].VirtualIP != "10.9.0.1" || sas[0].User != "alice" {
		t.Fatalf("gateway SA: %+v", sas)
	}
}

// TestXAuthWrongPassword: wrong credentials are asked for again, then
// refused with STATUS=0; the SA goes, no address is leased, and a Quick
// Mode is never accepted.
func TestXAuthWrongPassword(t *testing.T) {
	p, c := raPair(t, "alice", "guess")
	p.initiate(p.a, p.a.conns[0])
	p.run(30 * time.Second)
	if c.requests != maxXAuthTries || len(c.statuses) != 1 || c.statuses[0] != 0 {
		t.Fatalf("XAUTH: %d requests, statuses %v; want %d requests and STATUS 0", c.requests, c.statuses, maxXAuthTries)
	}
	if n := len(p.b.eng.SAs()); n != 0 {
		t.Fatalf("gateway keeps %d ISAKMP SAs after XAUTH failed", n)
	}
	if c.askedCfg || len(p.b.access.Leases) != 0 || p.b.access.Auths != maxXAuthTries {
		t.Fatalf("after failure: asked %v, leases %v, auths %d", c.askedCfg, p.b.access.Leases, p.b.access.Auths)
	}
}

// TestXAuthLossAndDuplication: XAUTH and Mode Config complete although
// every first copy of the gateway's messages is lost and the client's are
// duplicated.
func TestXAuthLossAndDuplication(t *testing.T) {
	p, c := raPair(t, "alice", "alice-secret")
	seen := map[string]bool{}
	drop := func(_ int, d isakmp.Datagram) []isakmp.Datagram {
		key := string(d.Data)
		if d.Local.Addr() == p.b.addr && !seen[key] {
			seen[key] = true
			return nil
		}
		if d.Local.Addr() == p.a.addr {
			return []isakmp.Datagram{d, d}
		}
		return []isakmp.Datagram{d}
	}
	p.Filter = c.filter(drop)
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Minute)
	if len(c.statuses) == 0 || c.statuses[0] != 1 || c.vip != netip.MustParseAddr("10.9.0.1") {
		t.Fatalf("with loss: statuses %v, vip %v", c.statuses, c.vip)
	}
	if p.b.access.Auths != 1 {
		t.Fatalf("%d authentications for one user (duplicates must be answered from the cache)", p.b.access.Auths)
	}
}

// TestAggressiveUnknownGroupDecoy: an Aggressive Mode first message for a
// group name no connection has gets an answer of the same shape as a
// known group's (payload types, order and sizes) and the same
// behaviour (as many retransmissions), from which nothing can be
// cracked: a client that goes on with the real group's PSK fails
// authentication.
func TestAggressiveUnknownGroupDecoy(t *testing.T) {
	answer := func(group string, silent bool) (shape []string, answers int, up bool) {
		p := newPair(t, "aggressive", []string{"aes256-sha1-modp2048"}, []string{"aes256-sha1"})
		p.b.conns[0].RemoteID = policy.Identity{Type: policy.IDKeyID, Data: []byte("vpngroup")}
		p.a.conns[0].LocalID = policy.Identity{Type: policy.IDKeyID, Data: []byte(group)}
		p.Filter = func(_ int, d isakmp.Datagram) []isakmp.Datagram {
			if d.Local.Addr() == p.b.addr && silent {
				answers++
				if shape == nil {
					msg, err := isakmp.ParseV1Message(d.Data)
					if err != nil {
						t.Fatal(err)
					}
					for _, pl := range msg.Payloads {
						body := isakmp.AppendV1Body(nil, pl)
						shape = append(shape, fmt.Sprintf("%s/%d", pl.V1Type(), len(body)))
					}
				}
				return nil // the client never hears: the gateway retransmits
			}
			return []isakmp.Datagram{d}
		}
		p.initiate(p.a, p.a.conns[0])
		p.run(time.Minute)
		for _, sa := range p.b.eng.SAs() {
			up = up || sa.State == "ESTABLISHED"
		}
		return shape, answers, up
	}
	known, nKnown, _ := answer("vpngroup", true)
	unknown, nUnknown, _ := answer("guessed-group", true)
	if len(known) < 5 || strings.Join(known, " ") != strings.Join(unknown, " ") {
		t.Fatalf("answers differ:\n known   %v\n unknown %v", known, unknown)
	}
	if nKnown < 2 || nKnown != nUnknown {
		t.Fatalf("message 2 sent %d times for the known group, %d for the unknown one", nKnown, nUnknown)
	}
	if _, _, up := answer("vpngroup", false); !up {
		t.Fatal("the known group with its PSK did not come up")
	}
	if _, _, up := answer("guessed-group", false); up {
		t.Fatal("an unknown group came up against the decoy")
	}
}

// TestXAuthClientEngine: the engine as a remote-access client (XAuthUser,
// VirtualIP) against the engine as gateway: XAUTH, Mode Config pull, and a
// Quick Mode from the virtual address, with loss on the way.
func TestXAuthClientEngine(t *testing.T) {
	for _, mode := range []string{"aggressive", "main"} {
		t.Run(mode, func(t *testing.T) {
			p, _ := raPair(t, "", "")
			if mode == "main" {
				p.a.conns[0].IKEv1Mode, p.b.conns[0].IKEv1Mode = "", ""
			}
			ca := p.a.conns[0]
			ca.XAuthUser, ca.XAuthPassword, ca.VirtualIP = "alice", []byte("alice-secret"), true
			ca.RemoteTS = []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24")}
			n := 0
			p.Filter = func(_ int, d isakmp.Datagram) []isakmp.Datagram {
				if n++; n%5 == 4 {
					return nil
				}
				return []isakmp.Datagram{d}
			}
			p.initiate(p.a, ca)
			p.run(time.Minute)
			requireUp(t, p.a, p.b, 1)
			gw, cl := p.b.eng.SAs()[0], p.a.eng.SAs()[0]
			if gw.User != "alice" || gw.VirtualIP != "10.9.0.1" {
				t.Fatalf("gateway SA: user %q vip %q", gw.User, gw.VirtualIP)
			}
			if got := strings.Join(cl.Children[0].LocalTS, ","); got != "10.9.0.1/32" {
				t.Fatalf("client CHILD SA from %s, want its virtual IP", got)
			}
		})
	}
}

// TestRequiresPFS: UNITY_PFS is 1 only when every ESP proposal of the
// connection carries a DH group.
func TestRequiresPFS(t *testing.T) {
	for _, c := range []struct {
		esp  []string
		want bool
	}{
		{[]string{"aes256-sha1"}, false},
		{[]string{"aes256-sha1-modp2048"}, true},
		{[]string{"aes256-sha1-modp2048", "aes128-sha1"}, false},
		{nil, false},
	} {
		var props []oakley.Proposal
		for _, s := range c.esp {
			p, err := oakley.ParseProposal(s, true)
			if err != nil {
				t.Fatal(err)
			}
			props = append(props, p)
		}
		if got := requiresPFS(&policy.Connection{ESP: props}); got != c.want {
			t.Errorf("requiresPFS(%v) = %v, want %v", c.esp, got, c.want)
		}
	}
}
