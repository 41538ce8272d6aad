package main

import (
	"io"
	"net/http"
	"runtime/debug"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"ikegate/policy"
)

// TestApplyGC: gc_percent and memory_limit reach the runtime unless GOGC
// or GOMEMLIMIT are set, which win.
func TestApplyGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	for _, tc := range []struct {
		name       string
		gogc, gml  string
		cfg        policy.Gateway
		wantGC     int
		wantLimit  int64
		wantLogged string
	}{
		{"unset", "", "", policy.Gateway{}, 100, 1 << 62, ""},
		{"from the file", "", "", policy.Gateway{GCPercent: 250, MemoryLimit: 256 << 20}, 250, 256 << 20, ""},
		{"off with a limit", "", "", policy.Gateway{GCPercent: -1, MemoryLimit: 64 << 20}, -1, 64 << 20, ""},
		{"GOGC wins", "300", "", policy.Gateway{GCPercent: 250}, 100, 1 << 62, "GOGC from the environment overrides gateway.gc_percent"},
		{"GOMEMLIMIT wins", "", "1GiB", policy.Gateway{MemoryLimit: 256 << 20}, 100, 1 << 62, "GOMEMLIMIT from the environment overrides gateway.memory_limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOGC", tc.gogc)
			t.Setenv("GOMEMLIMIT", tc.gml)
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(1 << 62)
			core, logs := observer.New(zapcore.InfoLevel)
			applyGC(tc.cfg, zap.New(core))
			if got := debug.SetGCPercent(100); got != tc.wantGC {
				t.Errorf("GC percent %d, want %d", got, tc.wantGC)
			}
			if got := debug.SetMemoryLimit(-1); got != tc.wantLimit {
				t.Errorf("memory limit %d, want %d", got, tc.wantLimit)
			}
			if tc.wantLogged != "" && logs.FilterMessage(tc.wantLogged).Len() != 1 {
				t.Errorf("no line %q in %v", tc.wantLogged, logs.All())
			}
		})
	}
}

// TestSampled: with log_sample = n, n lines of one message a second are
// written, then every n-th; other messages are counted apart; 0 writes
// every line.
func TestSampled(t *testing.T) {
	for _, tc := range []struct {
		n, lines, want int
	}{
		{0, 50, 50},
		{10, 50, 14}, // 10, then the 20th, 30th, 40th, 50th
		{100, 50, 50},
	} {
		core, logs := observer.New(zapcore.InfoLevel)
		log := sampled(zap.New(core), tc.n)
		for range tc.lines {
			log.Info("IKE SA established")
		}
		log.Info("another message")
		if got := logs.FilterMessage("IKE SA established").Len(); got != tc.want {
			t.Errorf("log_sample %d: %d of %d lines written, want %d", tc.n, got, tc.lines, tc.want)
		}
		if logs.FilterMessage("another message").Len() != 1 {
			t.Errorf("log_sample %d: another message was sampled away", tc.n)
		}
	}
}

// TestStartPprof: IKEGATE_PPROF serves the profiler on a loopback
// address only; unset, nothing is served.
func TestStartPprof(t *testing.T) {
	for _, tc := range []struct {
		env, wantErr string
	}{
		{"", ""},
		{"127.0.0.1:0", ""},
		{"0.0.0.0:6060", "loopback addresses only"},
		{"localhost:6060", "not IP:port"},
		{"127.0.0.1", "not IP:port"},
	} {
		t.Setenv(pprofEnv, tc.env)
		stop, err := startPprof(zap.NewNop())
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: error %v, want %q", tc.env, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.env, err)
			continue
		}
		stop()
	}
}

// TestPprofServes: the profiler answers at /debug/pprof/.
func TestPprofServes(t *testing.T) {
	t.Setenv(pprofEnv, "127.0.0.1:0")
	core, logs := observer.New(zapcore.WarnLevel)
	stop, err := startPprof(zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	addr := logs.All()[0].ContextMap()["addr"]
	resp, err := http.Get("http://" + addr.(string) + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "goroutine") {
		t.Fatalf("status %d: %.200s", resp.StatusCode, b)
	}
}
