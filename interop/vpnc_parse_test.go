package interop

import (
	"strings"
	"testing"
)

// TestParseVPNCSession: the environment vpnc hands its script, as `env -0`
// records it (a multi-line banner included), read back into a session.
func TestParseVPNCSession(t *testing.T) {
	raw := strings.Join([]string{
		"PATH=/usr/bin:/bin",
		"reason=connect",
		"VPNGATEWAY=10.200.0.2",
		"TUNDEV=tun0",
		"INTERNAL_IP4_ADDRESS=10.9.0.1",
		"INTERNAL_IP4_NETMASK=255.255.255.255",
		"INTERNAL_IP4_DNS=10.2.0.53 10.2.0.54",
		"INTERNAL_IP4_NBNS=10.2.0.54",
		"CISCO_BANNER=line one\nline two",
		"CISCO_DEF_DOMAIN=corp.lab",
		"CISCO_SPLIT_DNS=corp.lab",
		"CISCO_SPLIT_INC=2",
		"CISCO_SPLIT_INC_0_ADDR=10.2.0.0",
		"CISCO_SPLIT_INC_0_MASK=255.255.255.0",
		"CISCO_SPLIT_INC_0_MASKLEN=24",
		"CISCO_SPLIT_INC_1_ADDR=10.3.0.0",
		"CISCO_SPLIT_INC_1_MASK=255.255.0.0",
		"",
	}, "\x00")
	env := ParseVPNCEnv([]byte(raw))
	if _, ok := env["PATH"]; ok {
		t.Errorf("PATH kept: %v", env)
	}
	s, err := ParseVPNCSession(env)
	if err != nil {
		t.Fatal(err)
	}
	if s.Reason != "connect" || s.Gateway != "10.200.0.2" || s.TunDev != "tun0" ||
		s.Address.String() != "10.9.0.1" || s.Netmask != "255.255.255.255" {
		t.Errorf("session: %+v", s)
	}
	if strings.Join(s.DNS, ",") != "10.2.0.53,10.2.0.54" || strings.Join(s.NBNS, ",") != "10.2.0.54" {
		t.Errorf("DNS %v NBNS %v", s.DNS, s.NBNS)
	}
	if s.Banner != "line one\nline two" || s.DefDomain != "corp.lab" || s.SplitDNS != "corp.lab" {
		t.Errorf("banner %q domain %q split DNS %q", s.Banner, s.DefDomain, s.SplitDNS)
	}
	if len(s.SplitInclude) != 2 || s.SplitInclude[0].String() != "10.2.0.0/24" || s.SplitInclude[1].String() != "10.3.0.0/16" {
		t.Errorf("split include %v", s.SplitInclude)
	}
	if _, err := ParseVPNCSession(map[string]string{"CISCO_SPLIT_INC": "1"}); err == nil {
		t.Errorf("split include without an address: no error")
	}
}
