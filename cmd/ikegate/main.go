// Command ikegate is the IKEv1/IKEv2 gateway daemon and its control tool.
//
//	ikegate run --config FILE        run the daemon
//	ikegate check --config FILE      validate a configuration
//	ikegate up NAME / down NAME      initiate / terminate a connection
//	ikegate conns / sas / stats      show connections, SAs, counters
//	ikegate demo                     two gateways on loopback, no root
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the operation failed (daemon unreachable, error answer, no SA, ...)
	exitUsage   = 2 // bad command line or bad configuration
)

type command struct {
	name, args, help string
	run              func(args []string, stdout, stderr io.Writer) int
}

var commands []command

func init() {
	commands = []command{
		{"run", "--config FILE", "run the daemon until SIGINT/SIGTERM", cmdRun},
		{"check", "--config FILE", "load and validate a configuration", cmdCheck},
		{"up", "NAME [--control SOCK]", "initiate connection NAME", cmdUp},
		{"down", "NAME | --user USER [--control SOCK]", "terminate the IKE SAs of connection NAME, or of a user", cmdDown},
		{"conns", "[--json] [--control SOCK]", "list the configured connections", cmdConns},
		{"sas", "[--json] [--control SOCK]", "list the IKE and CHILD SAs", cmdSAs},
		{"stats", "[--json] [--control SOCK]", "show packet counters and drops", cmdStats},
		{"leases", "[--json] [--control SOCK]", "list the addresses handed to remote-access clients", cmdLeases},
		{"demo", "[flags]", "negotiate tunnels between two in-process gateways on loopback", cmdDemo},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: ikegate COMMAND [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-6s %-28s %s\n", c.name, c.args, c.help)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run `ikegate COMMAND -h` for a command's flags.")
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return exitOK
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "ikegate: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

// newFlagSet returns a FlagSet for subcommand name whose usage names the
// command and its positional arguments.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("ikegate "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var args, help string
	for _, c := range commands {
		if c.name == name {
			args, help = c.args, c.help
		}
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: ikegate %s %s\n  %s\n", name, args, help)
		if hasFlags(fs) {
			fmt.Fprintln(stderr, "flags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parseArgs parses flags that may come before or after the positional
// arguments ("up NAME --control S" and "up --control S NAME") and returns
// the positional ones. ok is false after a usage error (already printed)
// or -h; code is then the exit code.
func parseArgs(fs *flag.FlagSet, args []string) (pos []string, code int, ok bool) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK, false
			}
			return nil, exitUsage, false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, 0, true
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// newLogger builds the daemon's logger: console encoding, ISO8601 times,
// to w, at level ("debug", "info", "warn", "error").
func newLogger(level string, w io.Writer) (*zap.Logger, error) {
	if level == "" {
		level = "info"
	}
	lvl, err := zapcore.ParseLevel(strings.ToLower(level))
	if err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	enc.EncodeLevel = zapcore.CapitalLevelEncoder
	enc.EncodeDuration = zapcore.StringDurationEncoder
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.Lock(zapcore.AddSync(w)), lvl)
	return zap.New(core), nil
}
