package engine

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

type quietSA struct{}

func (*quietSA) NextDeadline() time.Time { return time.Time{} }
func (*quietSA) Gone() bool              { return false }

// TestUnauthenticatedLines: a flood of lines of one kind writes
// quietBurst of them, then one summary per window with the number left
// out and of sources; another kind has its own budget; a quiet window
// writes no summary.
func TestUnauthenticatedLines(t *testing.T) {
	obs, logs := observer.New(zapcore.InfoLevel)
	var c Core[*quietSA, *Child, struct{}]
	c.Init(Config{Log: zap.New(obs)}, 1)
	now := time.Unix(1700000000, 0)
	for i := range 1000 {
		src := netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)})
		c.Unauthenticated(now.Add(time.Duration(i)*time.Millisecond), "flood", src, func() { c.Log.Warn("flood line") })
	}
	c.Unauthenticated(now, "other", netip.Addr{}, func() { c.Log.Warn("other line") })
	if n := logs.FilterMessage("flood line").Len(); n != quietBurst {
		t.Errorf("%d flood lines written, want %d", n, quietBurst)
	}
	if logs.FilterMessage("other line").Len() != 1 {
		t.Error("another kind's line was suppressed")
	}
	c.RunTimers(now.Add(quietWindow), func(time.Time, *quietSA) {})
	var sum []observer.LoggedEntry
	for _, e := range logs.All() {
		if strings.HasPrefix(e.Message, "left out") {
			sum = append(sum, e)
		}
	}
	if len(sum) != 1 || !strings.Contains(sum[0].Message, "left out 995 more lines \"flood\"") || sum[0].ContextMap()["sources"] != int64(995) {
		t.Fatalf("summary lines %+v, want one saying 995 left out from 995 sources", sum)
	}
	c.RunTimers(now.Add(3*quietWindow), func(time.Time, *quietSA) {})
	if n := len(logs.All()); n != quietBurst+2 {
		t.Errorf("%d lines in all, want %d (no summary of a window with nothing left out)", n, quietBurst+2)
	}
}
