package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"ikegate/gateway"
	"ikegate/policy"
)

// ctlFlags are the flags of every command that talks to the daemon.
type ctlFlags struct {
	control string
	json    bool
}

func newCtlFlagSet(name string, withJSON bool, stderr io.Writer) (*flag.FlagSet, *ctlFlags) {
	fs := newFlagSet(name, stderr)
	f := &ctlFlags{}
	fs.StringVar(&f.control, "control", gateway.DefaultControl, "control `SOCKET` of the running daemon")
	if withJSON {
		fs.BoolVar(&f.json, "json", false, "print JSON")
	}
	return fs, f
}

// ctlError prints a control error (an *gateway.UnreachableError says
// "cannot reach ikegate at SOCK: is `ikegate run` running?") and returns
// the exit code.
func ctlError(err error, stderr io.Writer) int {
	fmt.Fprintf(stderr, "ikegate: %v\n", err)
	return exitFailure
}

func cmdUp(args []string, stdout, stderr io.Writer) int { return waitCmd("up", args, stdout, stderr) }
func cmdDown(args []string, stdout, stderr io.Writer) int {
	return waitCmd("down", args, stdout, stderr)
}
func cmdRekey(args []string, stdout, stderr io.Writer) int {
	return waitCmd("rekey", args, stdout, stderr)
}

// waitCmd runs up, down or rekey: it asks the daemon, shows the
// connection's log lines on stderr while the daemon waits for the
// outcome (unless --quiet), prints the outcome on stdout and exits 0 only
// on success.
func waitCmd(cmd string, args []string, stdout, stderr io.Writer) int {
	fs, f := newCtlFlagSet(cmd, false, stderr)
	var user string
	var ike, child bool
	timeout := secondsFlag(30 * time.Second)
	var noWait, quiet, verbose bool
	fs.Var(&timeout, "timeout", "wait at most `SECONDS` for the outcome (or a duration like 1m30s; default 30)")
	if cmd != "rekey" {
		fs.BoolVar(&noWait, "no-wait", false, "only ask; do not wait for the outcome")
	}
	fs.BoolVar(&quiet, "quiet", false, "do not show the connection's log lines while waiting")
	fs.BoolVar(&verbose, "verbose", false, "show the connection's debug log lines too while waiting")
	switch cmd {
	case "down":
		fs.StringVar(&user, "user", "", "disconnect the remote-access `USER` instead of a connection")
	case "rekey":
		fs.BoolVar(&ike, "ike", false, "rekey the IKE SA (IKEv1: a new phase 1 and Quick Mode)")
		fs.BoolVar(&child, "child", false, "rekey the CHILD SAs (the default)")
	}
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if (user == "" && len(pos) != 1) || (user != "" && len(pos) != 0) || (ike && child) {
		fs.Usage()
		return exitUsage
	}
	c := &gateway.Client{Path: f.control}
	if !quiet {
		c.OnLog = func(line string) { fmt.Fprintln(stderr, line) }
		if verbose {
			c.StreamLevel = "debug"
		}
	}
	ctx := context.Background()
	wait := time.Duration(timeout)
	var r gateway.Result
	var err error
	switch {
	case cmd == "up" && noWait:
		r, err = c.Up(ctx, pos[0])
	case cmd == "up":
		r, err = c.UpWait(ctx, pos[0], wait)
	case cmd == "rekey":
		r, err = c.RekeyWait(ctx, pos[0], ike, wait)
	case user != "":
		r, err = c.DownUser(ctx, user)
	case noWait:
		r, err = c.Down(ctx, pos[0])
	default:
		r, err = c.DownWait(ctx, pos[0], wait)
	}
	if err != nil {
		return ctlError(err, stderr)
	}
	fmt.Fprintln(stdout, r.Message)
	if cmd == "down" && r.Terminated != nil && !*r.Terminated {
		return exitFailure
	}
	return exitOK
}

// cmdLog follows the running daemon's log.
func cmdLog(args []string, stdout, stderr io.Writer) int {
	fs, f := newCtlFlagSet("log", false, stderr)
	level := fs.String("level", "info", "show lines at `LEVEL` (debug, info, warn, error) or above, whatever the daemon's own level")
	conn, code, ok := optionalPositional(fs, args)
	if !ok {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := (&gateway.Client{Path: f.control}).Follow(ctx, *level, conn, func(line string) { fmt.Fprintln(stdout, line) })
	if err != nil {
		return ctlError(err, stderr)
	}
	return exitOK
}

func cmdSAs(args []string, stdout, stderr io.Writer) int {
	fs, f := newCtlFlagSet("sas", true, stderr)
	name, code, ok := optionalPositional(fs, args)
	if !ok {
		return code
	}
	sas, err := (&gateway.Client{Path: f.control}).SAs(context.Background())
	if err != nil {
		return ctlError(err, stderr)
	}
	if name != "" { // only connection NAME's
		sas = slices.DeleteFunc(sas, func(sa policy.IKESAInfo) bool { return sa.Name != name })
	}
	if f.json {
		return printJSON(stdout, stderr, sas)
	}
	writeSAs(stdout, sas)
	return exitOK
}

func cmdConns(args []string, stdout, stderr io.Writer) int {
	fs, f := newCtlFlagSet("conns", true, stderr)
	names := fs.Bool("names", false, "print only the connection names, one per line")
	if code, ok := noPositional(fs, args); !ok {
		return code
	}
	if *names && f.json {
		fmt.Fprintln(stderr, "ikegate conns: --json and --names exclude each other")
		return exitUsage
	}
	conns, err := (&gateway.Client{Path: f.control}).Conns(context.Background())
	if err != nil {
		return ctlError(err, stderr)
	}
	if *names {
		for _, c := range conns {
			fmt.Fprintln(stdout, c.Name)
		}
		return exitOK
	}
	if f.json {
		return printJSON(stdout, stderr, conns)
	}
	writeConns(stdout, conns)
	return exitOK
}

func cmdCerts(args []string, stdout, stderr io.Writer) int {
	fs, f := newCtlFlagSet("certs", true, stderr)
	if code, ok := noPositional(fs, args); !ok {
		return code
	}
	certs, err := (&gateway.Client{Path: f.control}).Certs(context.Background())
	if err != nil {
		return ctlError(err, stderr)
	}
	if f.json {
		return printJSON(stdout, stderr, certs)
	}
	writeCerts(stdout, certs, time.Now())
	return exitOK
}

func cmdLeases(args []string, stdout, stderr io.Writer) int {
	fs, f := newCtlFlagSet("leases", true, stderr)
	if code, ok := noPositional(fs, args); !ok {
		return code
	}
	leases, err := (&gateway.Client{Path: f.control}).Leases(context.Background())
	if err != nil {
		return ctlError(err, stderr)
	}
	if f.json {
		return printJSON(stdout, stderr, leases)
	}
	if len(leases) == 0 {
		fmt.Fprintln(stdout, "no leases")
		return exitOK
	}
	fmt.Fprintf(stdout, "%-10s %-40s %-24s %s\n", "POOL", "ADDRESS", "SINCE", "IDENTITY")
	for _, l := range leases {
		fmt.Fprintf(stdout, "%-10s %-40s %-24s %s\n", l.Pool, l.Address, l.Since.UTC().Format(time.RFC3339), l.Identity)
	}
	return exitOK
}

func cmdCluster(args []string, stdout, stderr io.Writer) int {
	fs, f := newCtlFlagSet("cluster", true, stderr)
	if code, ok := noPositional(fs, args); !ok {
		return code
	}
	nodes, err := (&gateway.Client{Path: f.control}).Cluster(context.Background())
	if err != nil {
		return ctlError(err, stderr)
	}
	if f.json {
		return printJSON(stdout, stderr, nodes)
	}
	fmt.Fprintf(stdout, "%-16s %-8s %6s  %s\n", "NODE", "LEASE", "SAS", "ADDRESSES")
	for _, n := range nodes {
		name := n.Node
		if n.Self {
			name += " (this)"
		}
		addrs := strings.Join(n.Addresses, " ")
		if addrs == "" {
			addrs = "-"
		}
		fmt.Fprintf(stdout, "%-16s %-8s %6d  %s\n", name, n.Lease, n.SAs, addrs)
	}
	return exitOK
}

func cmdStats(args []string, stdout, stderr io.Writer) int {
	fs, f := newCtlFlagSet("stats", true, stderr)
	if code, ok := noPositional(fs, args); !ok {
		return code
	}
	st, err := (&gateway.Client{Path: f.control}).Stats(context.Background())
	if err != nil {
		return ctlError(err, stderr)
	}
	if f.json {
		return printJSON(stdout, stderr, st)
	}
	fmt.Fprintf(stdout, "workers: %d\n", st.Workers)
	for _, sec := range []struct {
		name string
		m    map[string]uint64
	}{{"packets in", st.PacketsIn}, {"packets out", st.PacketsOut}, {"drops", st.Drops}, {"ikev2 engine", st.IKEv2}, {"ikev1 engine", st.IKEv1}} {
		if sec.m == nil {
			continue
		}
		fmt.Fprintf(stdout, "%s:\n", sec.name)
		keys := make([]string, 0, len(sec.m))
		for k := range sec.m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(stdout, "  %-22s %d\n", k, sec.m[k])
		}
	}
	return exitOK
}

func noPositional(fs *flag.FlagSet, args []string) (int, bool) {
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code, false
	}
	if len(pos) > 0 {
		fs.Usage()
		return exitUsage, false
	}
	return 0, true
}

// optionalPositional parses args for a command that takes at most one
// positional argument and returns it ("" without).
func optionalPositional(fs *flag.FlagSet, args []string) (string, int, bool) {
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return "", code, false
	}
	switch len(pos) {
	case 0:
		return "", 0, true
	case 1:
		return pos[0], 0, true
	}
	fs.Usage()
	return "", exitUsage, false
}

func printJSON(stdout, stderr io.Writer, v any) int {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		fmt.Fprintf(stderr, "ikegate: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "%s\n", b)
	return exitOK
}

// cmdReload asks the daemon to apply its configuration file again; it
// exits 0 only when the new configuration was applied.
func cmdReload(args []string, stdout, stderr io.Writer) int {
	fs, f := newCtlFlagSet("reload", false, stderr)
	if code, ok := noPositional(fs, args); !ok {
		return code
	}
	r, err := (&gateway.Client{Path: f.control}).Reload(context.Background())
	if err != nil {
		return ctlError(err, stderr)
	}
	fmt.Fprintln(stdout, r.Message)
	return exitOK
}

// cmdLogLevel shows or sets the running daemon's log level.
func cmdLogLevel(args []string, stdout, stderr io.Writer) int {
	fs, f := newCtlFlagSet("loglevel", false, stderr)
	level, code, ok := optionalPositional(fs, args)
	if !ok {
		return code
	}
	r, err := (&gateway.Client{Path: f.control}).LogLevel(context.Background(), level)
	if err != nil {
		return ctlError(err, stderr)
	}
	fmt.Fprintln(stdout, r.Message)
	return exitOK
}

// secondsFlag is a duration given in seconds ("10", "2.5") or as a Go
// duration ("1m30s").
type secondsFlag time.Duration

func (f *secondsFlag) String() string { return fmt.Sprint(time.Duration(*f).Seconds()) }

func (f *secondsFlag) Set(s string) error {
	if v, err := strconv.ParseFloat(s, 64); err == nil && v > 0 {
		*f = secondsFlag(time.Duration(v * float64(time.Second)))
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return fmt.Errorf("want a number of seconds or a duration like 1m30s, not %q", s)
	}
	*f = secondsFlag(d)
	return nil
}
