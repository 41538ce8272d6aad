package engine

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestLogWith: the fields reach the lines written through the logger;
// a logger that writes nothing is returned as it is.
func TestLogWith(t *testing.T) {
	nop := zap.NewNop()
	if got := LogWith(nop, zap.String("conn", "c")); got != nop {
		t.Error("LogWith made a new logger from zap.NewNop")
	}
	for _, tc := range []struct {
		level   zapcore.Level
		written int
	}{
		{zapcore.InfoLevel, 2},
		{zapcore.WarnLevel, 1},
	} {
		core, logs := observer.New(tc.level)
		log := LogWith(zap.New(core), zap.String("conn", "c"), zap.String("spi_i", "0102"))
		log.Info("info line")
		LogWith(log, zap.String("child", "k")).Warn("warn line")
		if logs.Len() != tc.written {
			t.Fatalf("level %v: %d lines, want %d", tc.level, logs.Len(), tc.written)
		}
		for _, e := range logs.All() {
			m := e.ContextMap()
			if m["conn"] != "c" || m["spi_i"] != "0102" {
				t.Errorf("level %v: %q has fields %v", tc.level, e.Message, m)
			}
			if e.Message == "warn line" && m["child"] != "k" {
				t.Errorf("level %v: warn line lacks the child field: %v", tc.level, m)
			}
		}
	}
}
