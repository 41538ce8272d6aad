// Package loadgen is ikegate's IKE load generator: it drives many IKEv1 or
// IKEv2 handshakes (PSK or certificates, with or without virtual IPs,
// XAUTH or EAP-MSCHAPv2) against any responder at a given rate and
// concurrency, from many source ports and addresses, and reports how many
// were established, why the others failed, their latency percentiles and
// the rate. It is built from ikegate's own initiator engines (ikev1,
// ikev2), so it speaks whatever ikegate speaks. `ikegate bench` and the
// interop scale tests use it.
//
// # Design
//
// A client is one connection (its own name, identity and credentials)
// negotiated from one UDP socket. The clients are spread over shards; a
// shard is one engine that multiplexes the SAs of many clients over its
// sockets, driven by one goroutine: it takes the datagrams the sockets'
// readers received, hands them to the engine, carries out the engine's
// output (engine.Execute on a dataplane that installs nothing) and sends
// the resulting datagrams from the socket of the SA they belong to (found
// by the initiator SPI in their IKE header); it runs the engine's Tick at
// its next deadline. A mutex per shard lets the goroutine that starts
// handshakes (at Rate, while fewer than Concurrency are in flight) and
// the one that gives up on those past their Timeout in as well. A reader
// per socket only reads, into a buffer it borrows while a datagram is
// there (Linux), so an idle socket costs a few KiB.
//
// Why shards: measured against ikegate as a separate process on this
// 2-CPU host, 3,000 IKEv2 PSK handshakes with virtual IPs, an engine (and
// goroutine) per client cost the generator 700-840 µs of CPU and about
// 80 KiB per client; shards 490-630 µs and about 16 KiB; one engine for
// all about the same as shards here, but it serializes the generator's
// cryptography on one core. Shards of at most shardClients clients, at
// least one per CPU, keep every core busy and the engines' per-SA scans
// short (the IKEv1 engine looks for a reusable SA on every Initiate, both
// versions scan for INITIAL_CONTACT). Engines (`ikegate bench --engines`)
// overrides the count, for such measurements.
//
// The source ports of the clients are not the responder's IKE port, and
// the engines believe they send from it: the responder sees every client
// behind a NAT, as road warriors are, and IKE moves to the NAT-T port
// after the first exchange. Every socket stays open until Run returns, so
// that no port passes from a finished client to a new one (a responder
// would take that for the same device restarting).
package loadgen

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"ikegate/oakley"
	"ikegate/policy"
)

// Defaults of Config.
const (
	DefaultConcurrency = 100
	DefaultTimeout     = 30 * time.Second
	// DefaultRetransmits is how often a client sends a request before
	// giving up (first retransmission after 1 s, doubling): a burst of
	// first messages may lose some, so longer than a gateway would.
	DefaultRetransmits = 8
	// MaxPortsPerAddr bounds the sockets opened per source address when
	// Config.Ports is 0; clients beyond it share ports.
	MaxPortsPerAddr = 8192
	// maxErrors is how many failures Result.Errors keeps in full.
	maxErrors = 20
	// shardClients is the most clients an engine serves when
	// Config.Engines is 0 (see the package comment).
	shardClients = 512
)

// Config describes a load run. Patterns (LocalID, User, Password) have
// every "%d" replaced by the client's number (First, First+1, ...).
type Config struct {
	// Target is the responder's address and IKE port (port 0: 500).
	Target netip.AddrPort
	// NATTPort is the responder's NAT-T port (0: 4500).
	NATTPort uint16
	// Version is policy.IKEv1 or policy.IKEv2 ("": IKEv2).
	Version policy.Version
	// IKEv1Mode is "main" (default) or "aggressive" (IKEv1).
	IKEv1Mode string

	// Auth is how the clients authenticate the responder and, without an
	// EAP user, themselves: policy.AuthPSK with PSK, or policy.AuthPubkey
	// with Cert and Key (our certificate; IKEv2 EAP clients need none)
	// and CAs (the anchors for the responder's certificate). "": PSK when
	// PSK is set, else pubkey.
	Auth      policy.AuthMethod
	PSK       []byte
	Cert      *x509.Certificate
	CertChain []*x509.Certificate // intermediates sent after Cert
	Key       crypto.Signer
	CAs       []*x509.Certificate

	// LocalID is the clients' identity pattern ("": the certificate's
	// identity with a certificate, else the source address). RemoteID is
	// the identity the responder must prove ("": any).
	LocalID, RemoteID string

	// IKE and ESP are the proposals, in preference order (nil: AES-GCM-128
	// with Curve25519, and AES-GCM-128).
	IKE, ESP []oakley.Proposal
	// LocalTS and RemoteTS are the CHILD SA's traffic selectors (nil:
	// the virtual IP or source address, and 0.0.0.0/0 with a virtual IP,
	// else the responder's address).
	LocalTS, RemoteTS []netip.Prefix
	// VirtualIP makes every client ask for an address (IKEv2 configuration
	// payload, IKEv1 Mode Config pull) and protect it.
	VirtualIP bool
	// User and Password make the clients remote-access users: XAUTH after
	// phase 1 (IKEv1) or EAP-MSCHAPv2 instead of AUTH (IKEv2). Patterns.
	User, Password string

	// Count is how many handshakes (clients); First the number of the
	// first (default 0).
	Count, First int
	// Concurrency bounds the handshakes in flight (0: DefaultConcurrency).
	Concurrency int
	// Rate is how many handshakes start per second (0: as fast as
	// Concurrency allows).
	Rate float64
	// From are the source addresses, used in turn (nil: the one the route
	// to Target takes). Ports is the number of sockets (source ports) per
	// address (0: one per client, up to MaxPortsPerAddr); clients beyond
	// share them.
	From  []netip.Addr
	Ports int
	// Engines is the number of engines the clients are spread over (0:
	// one per CPU, more for large counts; see the package comment).
	Engines int
	// Timeout is how long one handshake may take (0: DefaultTimeout);
	// Retransmits how often a client sends a request (0:
	// DefaultRetransmits).
	Timeout     time.Duration
	Retransmits int
	// Delete deletes the established SAs (telling the responder) once all
	// handshakes are done (and the hold is over); otherwise they stay
	// until Run returns and the responder keeps them.
	Delete bool
	// Hold keeps the established SAs up for this long after the
	// handshakes (or until the context is cancelled, which then is no
	// error): the engines keep answering the responder (liveness checks,
	// rekeys) and Result reports what the hold cost and how many SAs
	// were still up at its end. 0: no hold.
	Hold time.Duration
	// Holding, if set, is called when the hold begins, with the result
	// of the handshakes (a caller can measure the responder then).
	Holding func(*Result)

	// Log receives the engines' log (nil: none).
	Log *zap.Logger
}

// Result is the outcome of a run.
type Result struct {
	Count       int // handshakes asked for
	Established int // CHILD SA installed
	Failed      int // started and failed (see Failures)
	NotStarted  int // not started: the context was cancelled
	// Failures counts the failures by reason (the client's identity,
	// user and number replaced by their patterns).
	Failures map[string]int
	// Errors are the first failures, each with its client.
	Errors []ClientError
	// Latency is the time from the first message to the CHILD SA of the
	// established handshakes.
	Latency Latency
	// Elapsed runs from the first handshake's start to the last one's
	// end; Rate is Established per second of it.
	Elapsed time.Duration
	Rate    float64
	// CPU is the CPU time (user + system) this process used during the
	// handshakes: the generator's cost, unless a responder runs in the
	// same process.
	CPU time.Duration
	// PeakRSS is the most memory this process has had resident (bytes;
	// 0: unknown), read when the handshakes are done and before any
	// delete: with the clients' SAs all held.
	PeakRSS int64
	// VIPs holds each client's virtual IP (with VirtualIP; index: client
	// number - First; invalid for one that failed).
	VIPs []netip.Addr
	// Sent and Received count the IKE datagrams of the handshakes
	// (fragments each; retransmissions show as more than the exchanges
	// need: IKEv2 2 each way, IKEv1 Main Mode, Mode Config and Quick
	// Mode 5 to 6 each way).
	Sent, Received int
	// Deleted is how many SAs were deleted at the end (Delete).
	Deleted int
	// Held is how many clients still had their IKE SA and CHILD SA at
	// the end of the hold (Config.Hold); HoldTime is how long the hold
	// lasted, HoldCPU the CPU time this process used meanwhile, and
	// HoldSent and HoldReceived the IKE datagrams exchanged meanwhile
	// (the responder's liveness checks and their answers, rekeys).
	Held                   int
	HoldTime, HoldCPU      time.Duration
	HoldSent, HoldReceived int
	// Sockets and Engines are what the run used; Dropped counts received
	// datagrams that were not IKE (or were cut off) and datagrams of the
	// engines that could not be sent.
	Sockets, Engines int
	Dropped          int
}

// Latency summarizes handshake latencies (nearest-rank percentiles).
type Latency struct {
	Min, Mean, P50, P90, P99, Max time.Duration
}

// ClientError is one client's failure.
type ClientError struct {
	Client int    // its number
	Reason string // as the engine or the generator put it
}

// Error is "client N: reason".
func (e ClientError) Error() string { return fmt.Sprintf("client %d: %s", e.Client, e.Reason) }

// Check reports what is wrong with cfg, as Run would before opening any
// socket.
func (cfg Config) Check() error {
	_, err := cfg.withDefaults()
	return err
}

// withDefaults checks cfg and fills in its defaults.
func (cfg Config) withDefaults() (Config, error) {
	cfg.From = slices.Clone(cfg.From) // unmapped in place below
	if !cfg.Target.Addr().IsValid() {
		return cfg, errors.New("loadgen: no target address")
	}
	if cfg.Target.Port() == 0 {
		cfg.Target = netip.AddrPortFrom(cfg.Target.Addr(), 500)
	}
	cfg.Target = netip.AddrPortFrom(cfg.Target.Addr().Unmap(), cfg.Target.Port())
	if cfg.NATTPort == 0 {
		cfg.NATTPort = 4500
	}
	if cfg.NATTPort == cfg.Target.Port() {
		return cfg, fmt.Errorf("loadgen: the NAT-T port must differ from the IKE port (both %d)", cfg.NATTPort)
	}
	switch cfg.Version {
	case "":
		cfg.Version = policy.IKEv2
	case policy.IKEv1, policy.IKEv2:
	default:
		return cfg, fmt.Errorf("loadgen: version %q: want %q or %q", cfg.Version, policy.IKEv1, policy.IKEv2)
	}
	switch cfg.IKEv1Mode {
	case "":
		cfg.IKEv1Mode = "main"
	case "main", "aggressive":
	default:
		return cfg, fmt.Errorf("loadgen: IKEv1 mode %q: want main or aggressive", cfg.IKEv1Mode)
	}
	if cfg.Auth == "" {
		cfg.Auth = policy.AuthPubkey
		if len(cfg.PSK) > 0 {
			cfg.Auth = policy.AuthPSK
		}
	}
	eap := cfg.User != "" && cfg.Version == policy.IKEv2
	switch cfg.Auth {
	case policy.AuthPSK:
		if len(cfg.PSK) == 0 {
			return cfg, errors.New("loadgen: PSK authentication without a PSK")
		}
	case policy.AuthPubkey:
		if !eap && (cfg.Cert == nil || cfg.Key == nil) {
			return cfg, errors.New("loadgen: certificate authentication needs a certificate and its key (or, IKEv2, an EAP user)")
		}
		if len(cfg.CAs) == 0 {
			return cfg, errors.New("loadgen: certificate authentication needs the CA certificates of the responder's certificate")
		}
	default:
		return cfg, fmt.Errorf("loadgen: authentication %q: want %q or %q", cfg.Auth, policy.AuthPSK, policy.AuthPubkey)
	}
	if (cfg.User == "") != (cfg.Password == "") {
		return cfg, errors.New("loadgen: a user needs a password and a password a user")
	}
	if cfg.Count <= 0 {
		return cfg, errors.New("loadgen: the count must be positive")
	}
	if cfg.First < 0 {
		return cfg, errors.New("loadgen: the first client number must not be negative")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Rate < 0 || math.IsNaN(cfg.Rate) || math.IsInf(cfg.Rate, 0) {
		return cfg, errors.New("loadgen: the rate must be a positive number (0: unlimited)")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Hold < 0 {
		return cfg, errors.New("loadgen: the hold must not be negative")
	}
	if cfg.Retransmits <= 0 {
		cfg.Retransmits = DefaultRetransmits
	}
	if len(cfg.IKE) == 0 {
		p, _ := oakley.ParseProposal("aes128gcm16-prfsha256-x25519", false)
		cfg.IKE = []oakley.Proposal{p}
	}
	if len(cfg.ESP) == 0 {
		p, _ := oakley.ParseProposal("aes128gcm16", true)
		cfg.ESP = []oakley.Proposal{p}
	}
	if len(cfg.From) == 0 {
		a, err := routeSource(cfg.Target)
		if err != nil {
			return cfg, err
		}
		cfg.From = []netip.Addr{a}
	}
	for i, a := range cfg.From {
		cfg.From[i] = a.Unmap()
		if cfg.From[i].Is4() != cfg.Target.Addr().Is4() {
			return cfg, fmt.Errorf("loadgen: source address %s and target %s are of different families", a, cfg.Target.Addr())
		}
	}
	if cfg.Ports <= 0 {
		cfg.Ports = min((cfg.Count+len(cfg.From)-1)/len(cfg.From), MaxPortsPerAddr)
	}
	if cfg.Ports > 65535 {
		return cfg, errors.New("loadgen: at most 65,535 ports per address")
	}
	sockets := len(cfg.From) * cfg.Ports
	if cfg.Engines <= 0 {
		cfg.Engines = max(runtime.GOMAXPROCS(0), (min(cfg.Count, sockets)+shardClients-1)/shardClients)
	}
	cfg.Engines = min(cfg.Engines, sockets, cfg.Count)
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	// A template connection finds configuration errors before any socket
	// is opened.
	if _, err := cfg.connection(cfg.First, cfg.From[0]); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// routeSource returns the source address of the route to target.
func routeSource(target netip.AddrPort) (netip.Addr, error) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(target))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("loadgen: no route to %s: %w", target, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

// expand replaces every %d of pattern with n.
func expand(pattern string, n int) string {
	if !strings.Contains(pattern, "%d") {
		return pattern
	}
	return strings.ReplaceAll(pattern, "%d", strconv.Itoa(n))
}

// connection returns client n's connection from source address local.
func (cfg *Config) connection(n int, local netip.Addr) (*policy.Connection, error) {
	c := &policy.Connection{
		Name:    "bench" + strconv.Itoa(n),
		Version: cfg.Version, IKEv1Mode: cfg.IKEv1Mode,
		LocalAddr: local, RemoteAddr: cfg.Target.Addr(),
		Auth: cfg.Auth, PSK: cfg.PSK,
		Cert: cfg.Cert, CertChain: cfg.CertChain, Key: cfg.Key,
		IKE: cfg.IKE, ESP: cfg.ESP,
		LocalTS: cfg.LocalTS, RemoteTS: cfg.RemoteTS,
		VirtualIP: cfg.VirtualIP,
		Start:     policy.StartNone,
		// An initiator that cannot use the PSK's aggressive mode refuses it
		// otherwise; the load test means it.
		AggressivePSK: cfg.IKEv1Mode == "aggressive",
	}
	if len(cfg.CAs) > 0 {
		c.CAs, c.CACerts = x509.NewCertPool(), cfg.CAs
		for _, ca := range cfg.CAs {
			c.CAs.AddCert(ca)
		}
	}
	var err error
	switch {
	case cfg.LocalID != "":
		if c.LocalID, err = policy.ParseIdentity(expand(cfg.LocalID, n)); err != nil {
			return nil, fmt.Errorf("loadgen: local identity: %w", err)
		}
	case cfg.Cert != nil && cfg.Auth == policy.AuthPubkey:
		c.LocalID = policy.CertIdentity(cfg.Cert)
	default:
		c.LocalID, _ = policy.ParseIdentity(local.String())
	}
	if cfg.Cert != nil && cfg.Auth == policy.AuthPubkey && cfg.User == "" {
		if err := policy.CertMatchesIdentity(cfg.Cert, c.LocalID); err != nil {
			return nil, fmt.Errorf("loadgen: local identity %s: %w", c.LocalID, err)
		}
	}
	c.RemoteID = policy.Identity{Any: true}
	if cfg.RemoteID != "" {
		if c.RemoteID, err = policy.ParseIdentity(cfg.RemoteID); err != nil {
			return nil, fmt.Errorf("loadgen: remote identity: %w", err)
		}
	}
	if cfg.User != "" {
		c.XAuthUser, c.XAuthPassword = expand(cfg.User, n), []byte(expand(cfg.Password, n))
		if cfg.Version == policy.IKEv1 {
			c.XAuth = policy.XAuthLocal // offer the XAUTH authentication methods
		}
	}
	if len(c.LocalTS) == 0 && !c.VirtualIP {
		c.LocalTS = []netip.Prefix{netip.PrefixFrom(local, local.BitLen())}
	}
	if len(c.RemoteTS) == 0 {
		if c.VirtualIP {
			c.RemoteTS = []netip.Prefix{netip.PrefixFrom(netip.IPv4Unspecified(), 0)}
			if !local.Is4() {
				c.RemoteTS = []netip.Prefix{netip.PrefixFrom(netip.IPv6Unspecified(), 0)}
			}
		} else {
			a := cfg.Target.Addr()
			c.RemoteTS = []netip.Prefix{netip.PrefixFrom(a, a.BitLen())}
		}
	}
	return c, nil
}

// summarize computes the latency summary of ds (sorted in place).
func summarize(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p/100*float64(len(ds)))) - 1
		return ds[max(0, min(i, len(ds)-1))]
	}
	return Latency{Min: ds[0], Mean: sum / time.Duration(len(ds)), P50: rank(50), P90: rank(90), P99: rank(99), Max: ds[len(ds)-1]}
}

// Reasons returns the failure reasons, most frequent first.
func (r *Result) Reasons() []string {
	out := make([]string, 0, len(r.Failures))
	for k := range r.Failures {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if r.Failures[out[i]] != r.Failures[out[j]] {
			return r.Failures[out[i]] > r.Failures[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}

// Err returns nil when every handshake was established, else an error
// naming the failures.
func (r *Result) Err() error {
	if r.Established == r.Count {
		return nil
	}
	msg := fmt.Sprintf("%d of %d handshakes not established", r.Count-r.Established, r.Count)
	if rs := r.Reasons(); len(rs) > 0 {
		msg += fmt.Sprintf(" (%d: %s)", r.Failures[rs[0]], rs[0])
	}
	return errors.New(msg)
}
