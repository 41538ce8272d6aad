package gateway

import (
	"context"
	"net/netip"
	"testing"

	"ikegate/oakley"
	"ikegate/policy"
)

// TestUpReusesIKESAAcrossShards: `up second` for a connection to the same
// peer with the same identities as an established IKE SA must negotiate a
// CHILD SA on that IKE SA (CREATE_CHILD_SA), even though Up hands
// initiations to shards round robin and the IKE SA lives on another shard.
// Found against strongSwan in interop/ikev2_child_test.go: the second `up`
// started a second IKE SA (with INITIAL_CONTACT, so strongSwan dropped
// the first one).
func TestUpReusesIKESAAcrossShards(t *testing.T) {
	a, b := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	ports := freeUDPPorts(t, b, 2)
	mk := func(local, remote netip.Addr, lid, rid string, ts [2][2]string) *policy.Config {
		cfg := testConfig(t)
		cfg.Gateway.Listen = []netip.Addr{local}
		cfg.Gateway.IKEPort, cfg.Gateway.NATTPort = ports[0], ports[1]
		var conns []*policy.Connection
		for i, name := range []string{"main", "second"} {
			conns = append(conns, &policy.Connection{
				Name: name, Version: policy.IKEv2, LocalAddr: local, RemoteAddr: remote,
				LocalID:  policy.Identity{Type: policy.IDFQDN, Data: []byte(lid)},
				RemoteID: policy.Identity{Type: policy.IDFQDN, Data: []byte(rid)},
				Auth:     policy.AuthPSK, PSK: []byte(testPSK),
				IKE:      []oakley.Proposal{mustProposal(t, "aes128gcm16-prfsha256-x25519", false)},
				ESP:      []oakley.Proposal{mustProposal(t, "aes128gcm16", true)},
				LocalTS:  []netip.Prefix{netip.MustParsePrefix(ts[i][0])},
				RemoteTS: []netip.Prefix{netip.MustParsePrefix(ts[i][1])},
				Start:    policy.StartNone,
			})
		}
		cfg.Connections = conns
		return cfg
	}
	_, ca := startGateway(t, mk(a, b, "a.example", "b.example", [2][2]string{{"10.1.0.0/16", "10.2.0.0/16"}, {"10.3.0.0/16", "10.4.0.0/16"}}))
	_, cb := startGateway(t, mk(b, a, "b.example", "a.example", [2][2]string{{"10.2.0.0/16", "10.1.0.0/16"}, {"10.4.0.0/16", "10.3.0.0/16"}}))
	ctx := context.Background()
	children := func(c *Client) (int, int) {
		sas, err := c.SAs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, sa := range sas {
			for _, ch := range sa.Children {
				if ch.State == "INSTALLED" {
					n++
				}
			}
		}
		return len(sas), n
	}
	if _, err := ca.Up(ctx, "main"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "main established", func() bool { s, c := children(ca); return s == 1 && c == 1 })
	if _, err := ca.Up(ctx, "second"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "second CHILD SA", func() bool { _, c := children(ca); return c == 2 })
	for _, c := range []*Client{ca, cb} {
		if s, n := children(c); s != 1 || n != 2 {
			sas, _ := c.SAs(ctx)
			t.Errorf("%d IKE SAs with %d CHILD SAs, want 1 with 2: %+v", s, n, sas)
		}
	}
}
