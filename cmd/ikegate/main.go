// Command ikegate is the IKEv1/IKEv2 gateway daemon and its control tool.
//
//	ikegate run --config FILE        run the daemon
//	ikegate check --config FILE      validate a configuration
//	ikegate up NAME / down NAME      initiate / terminate a connection
//	ikegate rekey NAME [--ike]       rekey a connection's CHILD (or IKE) SA
//	ikegate log [NAME]               follow the daemon's log
//	ikegate conns / sas / stats      show connections, SAs, counters
//	ikegate demo                     two gateways on loopback, no root
//	ikegate bench TARGET [flags]     load test: N handshakes against a responder
//	ikegate version                  version, VCS commit, Go version
//	ikegate completion bash|zsh      shell completion script
//	ikegate help [COMMAND]           usage, flags, exit codes, files
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"

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
	// long is the command's description for `ikegate help NAME` and the
	// man page: paragraphs separated by blank lines.
	long string
	// complete says what the shell completions offer for the positional
	// arguments: "conns" (connection names from `ikegate conns --names`),
	// "files", "commands", or a space-separated word list; "" for none.
	complete string
}

var commands []command

func init() {
	commands = []command{
		{name: "run", args: "--config FILE", help: "run the daemon until SIGINT/SIGTERM", run: cmdRun, long: longRun},
		{name: "check", args: "--config FILE | FILE", help: "load and validate a configuration", run: cmdCheck, long: longCheck, complete: "files"},
		{name: "up", args: "NAME [--timeout SECONDS] [--no-wait] [--control SOCK]", help: "initiate connection NAME and wait for the outcome", run: cmdUp, long: longUp, complete: "conns"},
		{name: "down", args: "NAME | --user USER [--timeout SECONDS] [--control SOCK]", help: "terminate the IKE SAs of connection NAME, or of a user", run: cmdDown, long: longDown, complete: "conns"},
		{name: "rekey", args: "NAME [--ike | --child] [--timeout SECONDS] [--control SOCK]", help: "rekey connection NAME's CHILD SAs (or its IKE SA) now and wait", run: cmdRekey, long: longRekey, complete: "conns"},
		{name: "reload", args: "[--control SOCK]", help: "read the configuration again and apply it", run: cmdReload, long: longReload},
		{name: "conns", args: "[--json | --names] [--control SOCK]", help: "list the configured connections", run: cmdConns, long: longConns},
		{name: "sas", args: "[NAME] [--json] [--control SOCK]", help: "list the IKE and CHILD SAs (of connection NAME)", run: cmdSAs, long: longSAs},
		{name: "certs", args: "[--json] [--control SOCK]", help: "list the own certificates, intermediates and CAs with their expiry", run: cmdCerts, long: longCerts},
		{name: "stats", args: "[--json] [--control SOCK]", help: "show packet counters and drops", run: cmdStats, long: longStats},
		{name: "leases", args: "[--json] [--control SOCK]", help: "list the addresses handed to remote-access clients", run: cmdLeases, long: longLeases},
		{name: "cluster", args: "[--json] [--control SOCK]", help: "list the cluster's nodes, their service addresses and SA counts", run: cmdCluster, long: longCluster},
		{name: "import", args: "--from FORMAT FILE [--out FILE]", help: "translate a Cisco, Juniper, strongSwan or Libreswan configuration", run: cmdImport, long: longImport, complete: "files"},
		{name: "demo", args: "[flags]", help: "negotiate tunnels between two in-process gateways on loopback", run: cmdDemo, long: longDemo},
		{name: "bench", args: "TARGET [--count N] [--rate R] [flags]", help: "drive N IKE handshakes against a responder and report rate and latency", run: cmdBench, long: longBench},
		{name: "log", args: "[NAME] [--level LEVEL] [--control SOCK]", help: "follow the running daemon's log (of connection NAME)", run: cmdLog, long: longLog, complete: "conns"},
		{name: "loglevel", args: "[LEVEL] [--control SOCK]", help: "show or set the running daemon's log level", run: cmdLogLevel, long: longLogLevel, complete: "debug info warn error"},
		{name: "algs", args: "[--json]", help: "list the proposal keywords and what they mean", run: cmdAlgs, long: longAlgs},
		{name: "version", args: "[--json]", help: "print the version, VCS commit and Go version", run: cmdVersion, long: longVersion},
		{name: "completion", args: "bash | zsh", help: "print a shell completion script", run: cmdCompletion, long: longCompletion, complete: "bash zsh"},
		{name: "help", args: "[COMMAND]", help: "show this help, or a command's flags and details", run: cmdHelp, long: longHelp, complete: "commands"},
	}
}

// lookup returns the command called name.
func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// usage prints the command summary (`ikegate help`, or after a bad
// command line).
func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: ikegate COMMAND [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %-36s %s\n", c.name, c.args, c.help)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run `ikegate help COMMAND` (or `ikegate COMMAND -h`) for a command's flags and details.")
	fmt.Fprintln(w, "Flags take one or two dashes (-json, --json) and may follow the positional arguments.")
}

// fullUsage is `ikegate help`: the summary plus what the man page says
// about exit codes, signals and files.
func fullUsage(w io.Writer) {
	writeIndented(w, description, "")
	fmt.Fprintln(w)
	usage(w)
	for _, s := range manSections {
		fmt.Fprintf(w, "\n%s:\n", strings.ToLower(s.title))
		writeIndented(w, s.text, "  ")
	}
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
	case "-h", "-help", "--help":
		fullUsage(stdout)
		return exitOK
	case "-version", "--version":
		args = []string{"version"}
	}
	if c, ok := lookup(args[0]); ok {
		return c.run(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "ikegate: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func cmdHelp(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("help", stderr)
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	switch len(pos) {
	case 0:
		fullUsage(stdout)
		return exitOK
	case 1:
		c, ok := lookup(pos[0])
		if !ok {
			fmt.Fprintf(stderr, "ikegate: unknown command %q\n\n", pos[0])
			usage(stderr)
			return exitUsage
		}
		commandUsage(stdout, c.name, commandFlags(c))
		return exitOK
	}
	fs.Usage()
	return exitUsage
}

// newFlagSet returns a FlagSet for subcommand name whose usage names the
// command and its positional arguments.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("ikegate "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { commandUsage(stderr, name, flagsOf(fs)) }
	if s := flagCapture.Load(); s != nil {
		s.fs = fs
	}
	return fs
}

// commandUsage prints command name's synopsis, description and flags.
func commandUsage(w io.Writer, name string, flags []cmdFlag) {
	c, _ := lookup(name)
	fmt.Fprintf(w, "usage: ikegate %s %s\n  %s\n", name, c.args, c.help)
	if c.long != "" {
		fmt.Fprintln(w)
		writeIndented(w, c.long, "  ")
	}
	if len(flags) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "flags:")
		for _, f := range flags {
			fmt.Fprintf(w, "  %s\n", f.synopsis())
			fmt.Fprintf(w, "        %s\n", f.usageWithDefault())
		}
	}
}

// writeIndented prints text (paragraphs separated by blank lines) with
// every non-empty line indented.
func writeIndented(w io.Writer, text, indent string) {
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		if line == "" {
			fmt.Fprintln(w)
			continue
		}
		fmt.Fprintln(w, indent+line)
	}
}

// flagCapture, while set, receives the FlagSet the next newFlagSet
// creates: commandFlags runs a command with -h to learn its flags, so the
// flags are declared once, in the command, for help, the completions and
// the man page alike.
var (
	flagCapture   atomic.Pointer[capturedFlags]
	flagCaptureMu sync.Mutex
)

type capturedFlags struct{ fs *flag.FlagSet }

// cmdFlag is one flag of a command.
type cmdFlag struct {
	name, arg, usage, def string // arg: "" for a boolean flag
}

func (f cmdFlag) synopsis() string {
	if f.arg == "" {
		return "--" + f.name
	}
	return "--" + f.name + " " + f.arg
}

func (f cmdFlag) usageWithDefault() string {
	if f.def == "" {
		return f.usage
	}
	return f.usage + " (default " + f.def + ")"
}

// commandFlags returns the flags of command c, in name order.
func commandFlags(c command) []cmdFlag {
	flagCaptureMu.Lock()
	defer flagCaptureMu.Unlock()
	s := &capturedFlags{}
	flagCapture.Store(s)
	c.run([]string{"-h"}, io.Discard, io.Discard)
	flagCapture.Store(nil)
	if s.fs == nil {
		return nil
	}
	return flagsOf(s.fs)
}

func flagsOf(fs *flag.FlagSet) []cmdFlag {
	var out []cmdFlag
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			arg = ""
		}
		def := f.DefValue
		if arg == "" && def == "false" {
			def = ""
		}
		arg = strings.ToUpper(arg)
		out = append(out, cmdFlag{name: f.Name, arg: arg, usage: usage, def: def})
	})
	return out
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
	return newLoggerFormat(level, "console", w)
}

// newLoggerFormat is newLogger with log_format: "console" (zap's
// tab-separated lines) or "json" (one object per line, for journald,
// Loki and the like; the same field names).
func newLoggerFormat(level, format string, w io.Writer) (*zap.Logger, error) {
	log, _, err := newLoggerAtomic(level, format, w)
	return log, err
}

// newLoggerAtomic is newLoggerFormat with the level to change at run time
// (`ikegate loglevel`).
func newLoggerAtomic(level, format string, w io.Writer) (*zap.Logger, zap.AtomicLevel, error) {
	if level == "" {
		level = "info"
	}
	lvl, err := zapcore.ParseLevel(strings.ToLower(level))
	if err != nil {
		return nil, zap.AtomicLevel{}, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	enc.EncodeLevel = zapcore.CapitalLevelEncoder
	enc.EncodeDuration = zapcore.StringDurationEncoder
	encoder := zapcore.NewConsoleEncoder(enc)
	if format == "json" {
		encoder = zapcore.NewJSONEncoder(enc)
	}
	atom := zap.NewAtomicLevelAt(lvl)
	core := zapcore.NewCore(encoder, zapcore.Lock(zapcore.AddSync(w)), atom)
	return zap.New(core), atom, nil
}
