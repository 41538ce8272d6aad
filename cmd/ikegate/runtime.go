package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"time"

	"go.uber.org/zap"
)

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
