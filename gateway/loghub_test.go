package gateway

import (
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// TestLogHub: a subscriber gets the entries at its level or above, of its
// connection only when it named one (a "conn" or "child" field, also one
// added with With), rendered as console lines; without subscribers the
// hub's core is disabled; a subscriber that does not read loses lines
// (counted) without blocking the logger.
func TestLogHub(t *testing.T) {
	hub := NewLogHub()
	core := hub.Core()
	if core.Enabled(zapcore.ErrorLevel) {
		t.Fatal("the hub's core is enabled without subscribers")
	}
	log := zap.New(core)
	all := hub.Subscribe(zapcore.DebugLevel, "")
	conn := hub.Subscribe(zapcore.InfoLevel, "site-a")
	if !core.Enabled(zapcore.DebugLevel) {
		t.Fatal("the hub's core is disabled at debug with a debug subscriber")
	}

	sa := log.With(zap.String("conn", "site-a"), zap.String("spi_i", "0102"))
	tests := []struct {
		emit          func()
		wantAll, want bool
		text          string
	}{
		{func() { sa.Debug("retransmit") }, true, false, "retransmit"},
		{func() { sa.Info("IKE SA established") }, true, true, "IKE SA established"},
		{func() { log.Info("other", zap.String("conn", "site-b")) }, true, false, "other"},
		{func() { log.Warn("child gone", zap.String("child", "site-a")) }, true, true, "child gone"},
		{func() { log.Info("unrelated") }, true, false, "unrelated"},
	}
	for i, tc := range tests {
		tc.emit()
		for _, s := range []struct {
			sub  *LogSub
			want bool
		}{{all, tc.wantAll}, {conn, tc.want}} {
			select {
			case line := <-s.sub.C:
				if !s.want {
					t.Errorf("case %d: got %q, want nothing", i, line)
				} else if !strings.Contains(line, tc.text) || strings.HasSuffix(line, "\n") {
					t.Errorf("case %d: got %q, want a line with %q", i, line, tc.text)
				}
			default:
				if s.want {
					t.Errorf("case %d: no line, want one with %q", i, tc.text)
				}
			}
		}
	}
	if line := func() string { sa.Info("fields"); return <-conn.C }(); !strings.Contains(line, `"spi_i": "0102"`) {
		t.Errorf("the line lacks the SA's fields: %q", line)
	}
	<-all.C

	// Nobody reads: lines are lost and counted, the logger never blocks.
	for range cap(all.c) + 10 {
		log.Info("flood")
	}
	if got := all.Dropped(); got != 10 {
		t.Errorf("Dropped = %d, want 10", got)
	}
	hub.Unsubscribe(all)
	hub.Unsubscribe(conn)
	if core.Enabled(zapcore.ErrorLevel) {
		t.Error("the hub's core is still enabled after the last unsubscribe")
	}
}
