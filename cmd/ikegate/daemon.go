package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"ikegate/gateway"
	"ikegate/kernel"
	"ikegate/policy"
)

// loadConfig loads path with the checks against this host
// (policy.LoadHost). When it does not load, it prints the warnings and
// then the loader's errors (which name the file) to stderr; otherwise it
// returns the warnings for the caller to report.
func loadConfig(path string, stderr io.Writer) (*policy.Config, []*policy.FieldError, bool) {
	cfg, warns, err := policy.LoadHost(path, hostChecks())
	if err != nil {
		printWarnings(warns, stderr)
		msg := err.Error()
		if !strings.Contains(msg, path) {
			msg = path + ": " + msg
		}
		fmt.Fprintln(stderr, msg)
		return nil, nil, false
	}
	return cfg, warns, true
}

// hostChecks are LoadHost's checks against this machine: its addresses
// (for gateway.listen) and groups (for gateway.control_group).
func hostChecks() policy.Host {
	return policy.Host{IsLocal: localAddrs(), LookupGroup: gateway.CheckControlGroup}
}

// localAddrs returns a function that reports whether an address is one of
// this host's interface addresses (any loopback address counts: the
// kernel answers the whole 127.0.0.0/8). When the addresses cannot be
// listed, every address counts as local: no warning beats a false one.
func localAddrs() func(netip.Addr) bool {
	ifAddrs, err := net.InterfaceAddrs()
	if err != nil {
		return func(netip.Addr) bool { return true }
	}
	local := map[netip.Addr]bool{}
	for _, a := range ifAddrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			local[p.Addr().Unmap()] = true
		} else if ip, err := netip.ParseAddr(a.String()); err == nil {
			local[ip.Unmap()] = true
		}
	}
	return func(a netip.Addr) bool {
		a = a.Unmap()
		return local[a] || a.IsLoopback()
	}
}

// printWarnings prints the loader's warnings to stderr.
func printWarnings(warns []*policy.FieldError, stderr io.Writer) {
	for _, w := range warns {
		fmt.Fprintf(stderr, "warning: %v\n", w)
	}
}

// bindError turns a listen address that cannot be bound into an error
// naming the configuration file, the listen key and its line; it returns
// nil for any other error.
func bindError(file string, err error) *policy.FieldError {
	var le *gateway.ListenError
	if !errors.As(err, &le) {
		return nil
	}
	why := le.Err
	var se *os.SyscallError
	if errors.As(le.Err, &se) {
		why = se // "bind: cannot assign requested address"
	}
	msg := fmt.Sprintf("cannot bind %s: %v", le.Addr, why)
	if le.NotLocal() {
		msg += " (the address is not on this host)"
	}
	return &policy.FieldError{File: file, Section: "gateway", Key: "listen",
		Line: policy.Line(file, "gateway", "listen"), Err: errors.New(msg)}
}

func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", "", "configuration `FILE` (TOML)")
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("check", stderr)
	file := configFlag(fs)
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if *file == "" && len(pos) == 1 {
		*file = pos[0] // also accept `ikegate check FILE`
	} else if *file == "" || len(pos) > 0 {
		fs.Usage()
		return exitUsage
	}
	cfg, warns, ok := loadConfig(*file, stderr)
	if !ok {
		return exitUsage
	}
	printWarnings(warns, stderr)
	noun := "connections"
	if len(cfg.Connections) == 1 {
		noun = "connection"
	}
	fmt.Fprintf(stdout, "%s: OK (%d %s)\n", *file, len(cfg.Connections), noun)
	return exitOK
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("run", stderr)
	file := configFlag(fs)
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if *file == "" || len(pos) > 0 {
		fs.Usage()
		return exitUsage
	}
	cfg, warns, ok := loadConfig(*file, stderr)
	if !ok {
		return exitUsage
	}
	log, level, err := newLoggerAtomic(cfg.Gateway.LogLevel, cfg.Gateway.LogFormat, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", *file, err)
		return exitUsage
	}
	defer log.Sync()
	log = sampled(log, cfg.Gateway.LogSample)
	hub := gateway.NewLogHub()
	log = log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return zapcore.NewTee(c, hub.Core()) }))
	for _, w := range warns {
		log.Warn(w.Error())
	}
	applyGC(cfg.Gateway, log)

	// SIGHUP reloads the configuration (once the gateway runs; before,
	// it must not kill the daemon, which is Go's default).
	var reload atomic.Pointer[func()]
	stopHUP := catchHUP(log, func() {
		if f := reload.Load(); f != nil {
			(*f)()
		}
	})
	defer stopHUP()
	stopPprof, err := startPprof(log)
	if err != nil {
		log.Error("cannot start the profiler", zap.Error(err))
		return exitFailure
	}
	defer stopPprof()

	kb, err := kernel.Open(cfg.Gateway.Dataplane, log, kernel.Options{RawESP: !cfg.Gateway.ForceEncap()})
	if err != nil {
		log.Error("cannot open the dataplane", zap.String("dataplane", cfg.Gateway.Dataplane), zap.Error(err))
		return exitFailure
	}
	g, err := gateway.New(cfg, log, gateway.WithBackend(kb), gateway.WithLogLevel(&level), gateway.WithLogHub(hub))
	if err != nil {
		kb.Close()
		if fe := bindError(*file, err); fe != nil {
			log.Error(fe.Error())
		} else {
			log.Error("cannot start", zap.Error(err))
		}
		return exitFailure
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	doReload := func() {
		if _, err := g.ReloadFile(ctx); err != nil {
			log.Error("SIGHUP: " + err.Error()) // what was applied is logged by the reload itself
		}
	}
	reload.Store(&doReload)
	startGCTuner(ctx, cfg.Gateway, log)
	if err := g.Run(ctx); err != nil {
		log.Error("stopped with an error", zap.Error(err))
		return exitFailure
	}
	return exitOK
}

// hupMessage is what the daemon logs on SIGHUP.
const hupMessage = "SIGHUP received: reloading the configuration"

// catchHUP catches SIGHUP, logs hupMessage and calls reload for each one
// until the returned function is called.
func catchHUP(log *zap.Logger, reload func()) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-hup:
				log.Info(hupMessage)
				reload()
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
		<-exited
	}
}
