package policy

import "testing"

// TestESPEncap: esp_encap loads as written; unset, it is "force" with the
// userspace dataplane (ESP-in-UDP to every peer, as before raw ESP) and
// "auto" with the others (real NAT detection), and so is ESPEncapMode of
// a Gateway built without the loader.
func TestESPEncap(t *testing.T) {
	for _, tc := range []struct {
		keys  string
		want  string
		force bool
	}{
		{"", ESPEncapAuto, false},
		{"dataplane = \"userspace\"\n", ESPEncapForce, true},
		{"dataplane = \"userspace\"\nesp_encap = \"auto\"\n", ESPEncapAuto, false},
		{"dataplane = \"userspace\"\nesp_encap = \"force\"\n", ESPEncapForce, true},
		{"dataplane = \"xfrm\"\n", ESPEncapAuto, false},
		{"dataplane = \"xfrm\"\nesp_encap = \"force\"\n", ESPEncapForce, true},
		{"dataplane = \"none\"\nesp_encap = \"auto\"\n", ESPEncapAuto, false},
	} {
		cfg, err := Parse("e.toml", []byte("[gateway]\nlisten = [\"192.0.2.1\"]\n"+tc.keys))
		if err != nil {
			t.Fatalf("%q: %v", tc.keys, err)
		}
		if g := cfg.Gateway; g.ESPEncap != tc.want || g.ForceEncap() != tc.force {
			t.Errorf("%q: esp_encap %q, ForceEncap %v; want %q, %v", tc.keys, g.ESPEncap, g.ForceEncap(), tc.want, tc.force)
		}
	}
	for dp, force := range map[string]bool{"userspace": true, "xfrm": false, "none": false} {
		g := Gateway{Dataplane: dp}
		if g.ForceEncap() != force || g.ESPEncapMode() != ESPEncapDefault(dp) {
			t.Errorf("unset esp_encap with %s: ForceEncap %v (mode %q), want %v", dp, g.ForceEncap(), g.ESPEncapMode(), force)
		}
	}
}
