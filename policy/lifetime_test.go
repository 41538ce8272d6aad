package policy

import (
	"testing"
	"time"
)

func TestRekeyAfter(t *testing.T) {
	for _, tt := range []struct {
		life      time.Duration
		initiator bool
		jitter    uint16
		want      time.Duration
	}{
		{time.Hour, false, 12345, time.Hour},
		{time.Hour, true, 0, 54 * time.Minute},
		{time.Hour, true, 65535, 48*time.Minute + 5493165*time.Nanosecond}, // just above 80%
		{0, true, 0, 3*time.Hour + 36*time.Minute},                         // default 4h
	} {
		if got := RekeyAfter(tt.life, 4*time.Hour, tt.initiator, tt.jitter); got != tt.want {
			t.Errorf("RekeyAfter(%v, initiator=%v, %d) = %v, want %v", tt.life, tt.initiator, tt.jitter, got, tt.want)
		}
	}
}
