package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"ikegate/internal/loadgen"
	"ikegate/oakley"
	"ikegate/policy"
)

// Default proposals of `ikegate bench`, by IKE version.
const (
	benchIKEv2 = "aes128gcm16-prfsha256-x25519"
	benchIKEv1 = "aes128-sha256-x25519"
	benchESP   = "aes128gcm16"
)

// cmdBench is the load generator: loadgen.Run from the command line.
func cmdBench(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bench", stderr)
	version := fs.Int("version", 2, "IKE `VERSION`: 1 or 2")
	mode := fs.String("mode", "main", "IKEv1 exchange `MODE`: main or aggressive")
	psk := fs.String("psk", "", "pre-shared `SECRET` (others can see it in ps: prefer --psk-file)")
	pskFile := fs.String("psk-file", "", "read the pre-shared secret from `FILE` (its first line)")
	cert := fs.String("cert", "", "the clients' certificate `FILE` (PEM; intermediates after it)")
	key := fs.String("key", "", "the certificate's private key `FILE` (PEM: PKCS#8, PKCS#1 or SEC 1)")
	ca := fs.String("ca", "", "CA certificate `FILES` (PEM, comma-separated) that sign the responder's certificate")
	id := fs.String("id", "", "the clients' identity `PATTERN`, %d the client's number (default: the certificate's identity, else the source address)")
	remoteID := fs.String("remote-id", "", "the `IDENTITY` the responder must prove (default: any)")
	ike := fs.String("ike", "", "IKE `PROPOSALS`, comma-separated (default "+benchIKEv2+", IKEv1 "+benchIKEv1+")")
	esp := fs.String("esp", benchESP, "ESP `PROPOSALS`, comma-separated")
	localTS := fs.String("local-ts", "", "the clients' traffic `SELECTORS`, comma-separated (default: the virtual IP or source address)")
	remoteTS := fs.String("remote-ts", "", "the responder's traffic `SELECTORS`, comma-separated (default: 0.0.0.0/0 with --vip, else the target)")
	vip := fs.Bool("vip", false, "ask for a virtual IP (IKEv2 configuration payload, IKEv1 Mode Config)")
	user := fs.String("user", "", "XAUTH (IKEv1) or EAP-MSCHAPv2 (IKEv2) user `PATTERN`, %d the client's number")
	password := fs.String("password", "", "the users' password `PATTERN`, %d the client's number")
	count := fs.Int("count", 100, "`N` handshakes, one client each")
	first := fs.Int("first", 0, "the `NUMBER` of the first client")
	concurrency := fs.Int("concurrency", loadgen.DefaultConcurrency, "at most `N` handshakes in flight")
	rate := fs.Float64("rate", 0, "start `R` handshakes per second (0: as fast as --concurrency allows)")
	from := fs.String("from", "", "source `ADDRESSES`, comma-separated, used in turn (default: the one the route to TARGET takes)")
	ports := fs.Int("ports", 0, "`N` source ports per address (0: one per client, at most "+strconv.Itoa(loadgen.MaxPortsPerAddr)+")")
	engines := fs.Int("engines", 0, "spread the clients over `N` engines (0: one per CPU, more for large counts)")
	natt := fs.Int("natt-port", 4500, "the responder's NAT-T `PORT`")
	timeout := fs.Duration("timeout", loadgen.DefaultTimeout, "give up on a handshake after `DURATION`")
	keep := fs.Bool("keep", false, "leave the SAs up at the end (default: delete them, telling the responder)")
	hold := fs.Duration("hold", 0, "keep the established SAs up for `DURATION` after the handshakes, answering the responder (SIGINT or SIGTERM ends the hold early)")
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	level := fs.String("log-level", "error", "log `LEVEL` of the clients' engines, to stderr (debug, info, warn, error)")
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fs.Usage()
		return exitUsage
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "ikegate bench: "+format+"\n", a...)
		return exitUsage
	}
	log, err := newLogger(*level, stderr)
	if err != nil {
		return usageErr("%v", err)
	}
	defer log.Sync()
	cfg := loadgen.Config{
		LocalID: *id, RemoteID: *remoteID, VirtualIP: *vip, User: *user, Password: *password,
		Count: *count, First: *first, Concurrency: *concurrency, Rate: *rate, Ports: *ports, Engines: *engines,
		Timeout: *timeout, Delete: !*keep, IKEv1Mode: *mode, Log: log, Hold: *hold,
	}
	if *hold < 0 {
		return usageErr("--hold %v: must not be negative", *hold)
	}
	if *hold > 0 {
		cfg.Holding = func(res *loadgen.Result) {
			fmt.Fprintf(stderr, "ikegate bench: %d of %d SAs established in %.3f s; holding them for %v\n",
				res.Established, res.Count, res.Elapsed.Seconds(), *hold)
		}
	}
	if cfg.Target, err = benchTarget(pos[0]); err != nil {
		return usageErr("%v", err)
	}
	if *natt <= 0 || *natt > 65535 {
		return usageErr("--natt-port %d: want 1-65535", *natt)
	}
	cfg.NATTPort = uint16(*natt)
	defIKE := benchIKEv2
	switch *version {
	case 1:
		cfg.Version, defIKE = policy.IKEv1, benchIKEv1
	case 2:
		cfg.Version = policy.IKEv2
	default:
		return usageErr("--version %d: want 1 or 2", *version)
	}
	if *ike == "" {
		*ike = defIKE
	}
	if cfg.IKE, err = benchProposals(*ike, false); err != nil {
		return usageErr("--ike: %v", err)
	}
	if cfg.ESP, err = benchProposals(*esp, true); err != nil {
		return usageErr("--esp: %v", err)
	}
	if cfg.LocalTS, err = benchPrefixes(*localTS); err != nil {
		return usageErr("--local-ts: %v", err)
	}
	if cfg.RemoteTS, err = benchPrefixes(*remoteTS); err != nil {
		return usageErr("--remote-ts: %v", err)
	}
	for _, s := range benchList(*from) {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return usageErr("--from: %v", err)
		}
		cfg.From = append(cfg.From, a)
	}
	switch {
	case *psk != "" && *pskFile != "":
		return usageErr("--psk and --psk-file: give one")
	case *psk != "":
		cfg.PSK = []byte(*psk)
	case *pskFile != "":
		b, err := os.ReadFile(*pskFile)
		if err != nil {
			return usageErr("--psk-file: %v", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		if cfg.PSK = []byte(strings.TrimRight(line, "\r")); len(cfg.PSK) == 0 {
			return usageErr("--psk-file %s: the first line is empty", *pskFile)
		}
	}
	if len(cfg.PSK) > 0 {
		cfg.Auth = policy.AuthPSK
	} else {
		cfg.Auth = policy.AuthPubkey
	}
	if *cert != "" {
		chain, err := readCerts(*cert)
		if err != nil {
			return usageErr("--cert: %v", err)
		}
		cfg.Cert, cfg.CertChain = chain[0], chain[1:]
		if *key == "" {
			return usageErr("--cert needs --key")
		}
		if len(cfg.PSK) > 0 {
			return usageErr("--cert and a pre-shared key: give one")
		}
	}
	if *key != "" {
		if cfg.Key, err = readKey(*key); err != nil {
			return usageErr("--key: %v", err)
		}
	}
	for _, f := range benchList(*ca) {
		certs, err := readCerts(f)
		if err != nil {
			return usageErr("--ca: %v", err)
		}
		cfg.CAs = append(cfg.CAs, certs...)
	}

	if err := cfg.Check(); err != nil {
		return usageErr("%v", strings.TrimPrefix(err.Error(), "loadgen: "))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := loadgen.Run(ctx, cfg)
	if res == nil {
		fmt.Fprintf(stderr, "ikegate bench: %v\n", err)
		return exitFailure
	}
	if err != nil {
		fmt.Fprintf(stderr, "ikegate bench: %v: the result so far\n", err)
	}
	rep := newBenchReport(cfg, res)
	if *jsonOut {
		if code := printJSON(stdout, stderr, rep); code != exitOK {
			return code
		}
	} else {
		rep.write(stdout)
	}
	if err != nil || res.Established != res.Count {
		return exitFailure
	}
	return exitOK
}

// benchTarget parses ADDRESS, ADDRESS:PORT, [IPv6]:PORT or a host name.
func benchTarget(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a, 500), nil
	}
	host, port := s, uint16(500)
	if h, p, err := net.SplitHostPort(s); err == nil {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("target %q: bad port", s)
		}
		host, port = h, uint16(n)
	}
	addrs, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", host)
	if err != nil || len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("target %q: not an address, and the name does not resolve: %v", s, err)
	}
	return netip.AddrPortFrom(addrs[0].Unmap(), port), nil
}

// benchList splits a comma-separated flag value.
func benchList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func benchProposals(s string, esp bool) ([]oakley.Proposal, error) {
	var out []oakley.Proposal
	for _, f := range benchList(s) {
		p, err := oakley.ParseProposal(f, esp)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, errors.New("no proposal")
	}
	return out, nil
}

func benchPrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range benchList(s) {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, err2 := netip.ParseAddr(f)
			if err2 != nil {
				return nil, err
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// readCerts reads the certificates of a PEM file, in order.
func readCerts(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	return out, nil
}

// readKey reads an unencrypted private key (PKCS#8, PKCS#1 RSA or SEC 1 EC).
func readKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			return nil, fmt.Errorf("%s: no PEM private key", path)
		}
		var k any
		switch blk.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(blk.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, fmt.Errorf("%s: the key is encrypted; give an unencrypted one", path)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%s: %T cannot sign", path, k)
		}
		return s, nil
	}
}

// benchReport is the result as `ikegate bench` prints it (--json: these
// field names; times in milliseconds or seconds as named).
type benchReport struct {
	Target      string         `json:"target"`
	Version     int            `json:"version"`
	Auth        string         `json:"auth"`
	VirtualIP   bool           `json:"virtual_ip"`
	Count       int            `json:"count"`
	Concurrency int            `json:"concurrency"`
	RateLimit   float64        `json:"rate_limit,omitempty"`
	Established int            `json:"established"`
	Failed      int            `json:"failed"`
	NotStarted  int            `json:"not_started,omitempty"`
	Failures    map[string]int `json:"failures,omitempty"`
	ElapsedS    float64        `json:"elapsed_s"`
	Rate        float64        `json:"rate_per_s"`
	LatencyMS   struct {
		Min  float64 `json:"min"`
		Mean float64 `json:"mean"`
		P50  float64 `json:"p50"`
		P90  float64 `json:"p90"`
		P99  float64 `json:"p99"`
		Max  float64 `json:"max"`
	} `json:"latency_ms"`
	CPUS          float64  `json:"generator_cpu_s"`
	CPUPerSAUS    float64  `json:"generator_cpu_us_per_sa,omitempty"`
	PeakRSSKiB    int64    `json:"generator_peak_rss_kib,omitempty"`
	Sent          int      `json:"datagrams_sent"`
	Received      int      `json:"datagrams_received"`
	Deleted       int      `json:"deleted"`
	HoldS         float64  `json:"hold_s,omitempty"`
	Held          int      `json:"held,omitempty"`
	HoldCPUS      float64  `json:"hold_generator_cpu_s,omitempty"`
	HoldSent      int      `json:"hold_datagrams_sent,omitempty"`
	HoldReceived  int      `json:"hold_datagrams_received,omitempty"`
	Sockets       int      `json:"sockets"`
	Engines       int      `json:"engines"`
	Dropped       int      `json:"dropped,omitempty"`
	FirstFailures []string `json:"first_failures,omitempty"`
}

func newBenchReport(cfg loadgen.Config, res *loadgen.Result) *benchReport {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	r := &benchReport{
		Target: cfg.Target.String(), Version: 2, Auth: string(cfg.Auth), VirtualIP: cfg.VirtualIP, Count: res.Count,
		Concurrency: cfg.Concurrency, RateLimit: cfg.Rate, Established: res.Established, Failed: res.Failed,
		NotStarted: res.NotStarted, Failures: res.Failures, ElapsedS: res.Elapsed.Seconds(), Rate: res.Rate,
		CPUS: res.CPU.Seconds(), PeakRSSKiB: res.PeakRSS / 1024, Deleted: res.Deleted, Sockets: res.Sockets, Sent: res.Sent, Received: res.Received,
		Engines: res.Engines, Dropped: res.Dropped,
		HoldS: res.HoldTime.Seconds(), Held: res.Held, HoldCPUS: res.HoldCPU.Seconds(),
		HoldSent: res.HoldSent, HoldReceived: res.HoldReceived,
	}
	if cfg.Version == policy.IKEv1 {
		r.Version = 1
	}
	if cfg.User != "" {
		r.Auth += map[int]string{1: "+xauth", 2: "+eap-mschapv2"}[r.Version]
	}
	if r.Concurrency == 0 {
		r.Concurrency = loadgen.DefaultConcurrency
	}
	if res.Established > 0 {
		r.CPUPerSAUS = float64(res.CPU.Microseconds()) / float64(res.Established)
	}
	l := res.Latency
	r.LatencyMS.Min, r.LatencyMS.Mean, r.LatencyMS.P50 = ms(l.Min), ms(l.Mean), ms(l.P50)
	r.LatencyMS.P90, r.LatencyMS.P99, r.LatencyMS.Max = ms(l.P90), ms(l.P99), ms(l.Max)
	for _, e := range res.Errors {
		r.FirstFailures = append(r.FirstFailures, e.Error())
	}
	return r
}

// write prints the report as a short table.
func (r *benchReport) write(w io.Writer) {
	rate := "unlimited"
	if r.RateLimit > 0 {
		rate = fmt.Sprintf("%g/s", r.RateLimit)
	}
	vip := ""
	if r.VirtualIP {
		vip = ", virtual IPs"
	}
	fmt.Fprintf(w, "IKEv%d to %s, %s%s: %d handshakes, concurrency %d, rate %s (%d source ports, %d engines)\n",
		r.Version, r.Target, r.Auth, vip, r.Count, r.Concurrency, rate, r.Sockets, r.Engines)
	fmt.Fprintf(w, "  established  %d of %d (failed %d", r.Established, r.Count, r.Failed)
	if r.NotStarted > 0 {
		fmt.Fprintf(w, ", not started %d", r.NotStarted)
	}
	fmt.Fprintln(w, ")")
	fmt.Fprintf(w, "  elapsed      %.3f s\n", r.ElapsedS)
	fmt.Fprintf(w, "  rate         %.1f handshakes/s\n", r.Rate)
	fmt.Fprintf(w, "  latency      p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms\n",
		r.LatencyMS.P50, r.LatencyMS.P90, r.LatencyMS.P99, r.LatencyMS.Max)
	fmt.Fprintf(w, "  generator    CPU %.2f s", r.CPUS)
	if r.CPUPerSAUS > 0 {
		fmt.Fprintf(w, " (%.0f µs per SA)", r.CPUPerSAUS)
	}
	if r.PeakRSSKiB > 0 {
		fmt.Fprintf(w, ", peak RSS %.1f MiB", float64(r.PeakRSSKiB)/1024)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  datagrams    sent %d, received %d", r.Sent, r.Received)
	if r.Established > 0 {
		fmt.Fprintf(w, " (%.1f and %.1f per SA)", float64(r.Sent)/float64(r.Established), float64(r.Received)/float64(r.Established))
	}
	fmt.Fprintln(w)
	if r.HoldS > 0 {
		fmt.Fprintf(w, "  hold         %.1f s: %d of %d SAs still up, generator CPU %.2f s (%.1f%% of a CPU), datagrams sent %d, received %d\n",
			r.HoldS, r.Held, r.Established, r.HoldCPUS, 100*r.HoldCPUS/r.HoldS, r.HoldSent, r.HoldReceived)
	}
	fmt.Fprintf(w, "  deleted      %d\n", r.Deleted)
	if len(r.Failures) > 0 {
		fmt.Fprintln(w, "  failures:")
		res := loadgen.Result{Failures: r.Failures}
		for _, reason := range res.Reasons() {
			fmt.Fprintf(w, "    %6d  %s\n", r.Failures[reason], reason)
		}
	}
}
