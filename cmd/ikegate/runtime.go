package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"runtime/debug"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"ikegate/policy"
)

// applyGC sets the garbage collector's gc_percent and memory_limit from
// [gateway], unless GOGC or GOMEMLIMIT in the environment say otherwise
// (those win: a systemd drop-in can override the file).
func applyGC(g policy.Gateway, log *zap.Logger) {
	if g.GCPercent != 0 {
		if env := os.Getenv("GOGC"); env != "" {
			log.Info("GOGC from the environment overrides gateway.gc_percent", zap.String("GOGC", env), zap.Int("gc_percent", g.GCPercent))
		} else {
			debug.SetGCPercent(g.GCPercent)
		}
	}
	if g.MemoryLimit != 0 {
		if env := os.Getenv("GOMEMLIMIT"); env != "" {
			log.Info("GOMEMLIMIT from the environment overrides gateway.memory_limit", zap.String("GOMEMLIMIT", env), zap.Int64("memory_limit", g.MemoryLimit))
		} else {
			debug.SetMemoryLimit(g.MemoryLimit)
		}
	}
}

// sampled returns log with gateway.log_sample applied to what it writes
// (zap's sampler: per message and level, n lines a second, then every
// n-th); n = 0 returns log. Apply it before teeing the log hub, whose
// followers get every line.
func sampled(log *zap.Logger, n int) *zap.Logger {
	if n <= 0 {
		return log
	}
	return log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewSamplerWithOptions(c, time.Second, n, n)
	}))
}

// pprofEnv names the environment variable that, set to "IP:port", makes
// `ikegate run` serve Go's profiler (net/http/pprof) there. It is for
// measuring: anyone who can reach the address can read the daemon's
// memory layout and stacks, so only loopback addresses are accepted.
const pprofEnv = "IKEGATE_PPROF"

// startPprof serves /debug/pprof/ on the address in IKEGATE_PPROF, if
// set. It returns a function that stops the server.
func startPprof(log *zap.Logger) (stop func(), err error) {
	addr := os.Getenv(pprofEnv)
	if addr == "" {
		return func() {}, nil
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: not IP:port (e.g. 127.0.0.1:6060): %w", pprofEnv, addr, err)
	}
	if !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("%s=%q: the profiler is served on loopback addresses only", pprofEnv, addr)
	}
	ln, err := net.Listen("tcp", ap.String())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pprofEnv, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("profiler stopped", zap.Error(err))
		}
	}()
	log.Warn("serving the Go profiler ("+pprofEnv+"): for measurement only", zap.Stringer("addr", ln.Addr()))
	return func() { srv.Close() }, nil
}
