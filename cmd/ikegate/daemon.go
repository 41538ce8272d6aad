package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"

	"go.uber.org/zap"

	"ikegate/gateway"
	"ikegate/kernel"
	"ikegate/policy"
)

// loadConfig loads path and prints the loader's errors (which name the
// file) to stderr.
func loadConfig(path string, stderr io.Writer) (*policy.Config, bool) {
	cfg, err := policy.Load(path)
	if err != nil {
		msg := err.Error()
		if !strings.Contains(msg, path) {
			msg = path + ": " + msg
		}
		fmt.Fprintln(stderr, msg)
		return nil, false
	}
	return cfg, true
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
	cfg, ok := loadConfig(*file, stderr)
	if !ok {
		return exitUsage
	}
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
	cfg, ok := loadConfig(*file, stderr)
	if !ok {
		return exitUsage
	}
	log, err := newLogger(cfg.Gateway.LogLevel, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", *file, err)
		return exitUsage
	}
	defer log.Sync()

	kb, err := kernel.New(cfg.Gateway.Dataplane, log)
	if err != nil {
		log.Error("cannot open the dataplane", zap.String("dataplane", cfg.Gateway.Dataplane), zap.Error(err))
		return exitFailure
	}
	g, err := gateway.New(cfg, log, gateway.WithBackend(kb))
	if err != nil {
		kb.Close()
		log.Error("cannot start", zap.Error(err))
		return exitFailure
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := g.Run(ctx); err != nil {
		log.Error("stopped with an error", zap.Error(err))
		return exitFailure
	}
	return exitOK
}
