package gateway

import (
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"ikegate/kernel"
	"ikegate/policy"
)

// rawESPBackend is espBackend with the raw ESP transport open.
type rawESPBackend struct{ espBackend }

func (b *rawESPBackend) Capabilities() policy.Capabilities {
	return policy.Capabilities{ESPInUDP: true, RawESP: true}
}

// TestESPEncapNeedsRawTransport: with the userspace dataplane and
// esp_encap = "auto" the gateway refuses to start over a dataplane that
// carries ESP-in-UDP only (peers not behind a NAT would get SAs it cannot
// install), and starts over one with the raw transport; "force" (the
// default) needs none.
func TestESPEncapNeedsRawTransport(t *testing.T) {
	for _, tc := range []struct {
		name, encap string
		raw         bool
		wantErr     string
	}{
		{"auto without raw", policy.ESPEncapAuto, false, `esp_encap = "auto", but the userspace dataplane carries ESP-in-UDP only`},
		{"auto with raw", policy.ESPEncapAuto, true, ""},
		{"force without raw", policy.ESPEncapForce, false, ""},
		{"default without raw", "", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Gateway.Dataplane = "userspace"
			cfg.Gateway.ESPEncap = tc.encap
			kb, err := kernel.New("none", nil)
			if err != nil {
				t.Fatal(err)
			}
			var b kernel.Backend = &espBackend{Backend: kb}
			if tc.raw {
				b = &rawESPBackend{espBackend{Backend: kb}}
			}
			g, err := New(cfg, zaptest.NewLogger(t), WithBackend(b))
			if tc.wantErr != "" {
				kb.Close()
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("New: %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				kb.Close()
				t.Fatal(err)
			}
			g.Close()
		})
	}
}
