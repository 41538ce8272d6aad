package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Parameters of the flood tests.
const (
	floodRate       = 2000             // spoofed first messages per second
	floodDuration   = 25 * time.Second // how long the flood runs
	floodWarmup     = 3 * time.Second  // flood alone before the first handshake
	floodHandshakes = 10               // legitimate handshakes during the flood
	floodInitiate   = 15               // swanctl --initiate timeout, seconds
	floodMaxRSS     = 64 << 10         // KiB: allowed RSS growth of the responder
	floodMaxLines   = 200              // allowed log lines of the responder (flood and floodAfter)
	// floodAfter is how long after the flood its log lines are still
	// counted (and RSS read): 32 s after its start, the half-open SAs
	// its first second made have expired (IKEv2: 30 s; IKEv1 Aggressive
	// Mode, unproven: 6 s) and their lines, rate-limited or not, and the
	// rate limiter's summaries of its 10 s windows are written.
	floodAfter = 7 * time.Second
)

// floodFigures is what one flood run measured.
type floodFigures struct {
	Flood             FloodResult
	Reflected, RBytes uint64 // at the attacker, for the spoofed range
	OK                int    // handshakes established (of floodHandshakes)
	Times             []time.Duration
	Failures          []string
	HandshakesEnd     time.Duration // since the flood started
	RSSBefore         int           // KiB
	RSSPeak, RSSAfter int
	CPU               time.Duration // responder CPU during the run
	Wall              time.Duration // the run's length (flood and floodAfter)
	LogLines          int           // responder log lines (flood and floodAfter)
	LogSample         []string
	// UDP datagrams the responder's namespace dropped for a full socket
	// receive buffer, and all UDP input errors (/proc/net/snmp).
	UDPRcvbufErrors, UDPInErrors uint64
}

// floodResponder is the daemon under flood: ikegate or strongSwan.
type floodResponder struct {
	pid     int
	logPath string
	// ups and downs count the IKE SAs the responder established so far
	// and those of them gone since: cheap to ask while thousands of
	// half-open SAs of the same connection exist (listing them all
	// would cost the responder more than the flood).
	ups, downs func() (int, error)
	// sample is polled once a second during the flood (e.g. stats).
	sample func()
}

// floodRun floods the responder from att with cfg while swan (in the
// lab's Left namespace) brings connection name up and down
// floodHandshakes times.
func floodRun(t *testing.T, att *FloodAttacker, cfg FloodConfig, swan *Swan, name string, r floodResponder) *floodFigures {
	t.Helper()
	fig := &floodFigures{}
	// One handshake before the flood: everything is warmed up (and the
	// setup is known to work), so the flood is what differs.
	if d, why := floodHandshake(swan, name, r); why != "" {
		t.Fatalf("handshake before the flood failed: %s", why)
	} else {
		t.Logf("handshake before the flood: %v", d.Round(time.Millisecond))
	}
	fig.RSSBefore, _ = procRSS(r.pid)
	cpu0, _ := procCPU(r.pid)
	udp0 := udpCounters(att.GateNS)
	logOff := fileSize(r.logPath)

	f, err := att.Start(cfg)
	if err != nil {
		t.Fatalf("flood: %v", err)
	}
	defer f.Stop()
	start := time.Now()
	t.Logf("flood: %s to %s:500 at %d pps for %v from %s", cfg.Kind, cfg.Dst, cfg.Rate, cfg.Duration, FloodSpoofPrefix)

	// Sample RSS (and the responder's own counters) while it runs.
	stopSampling := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var sampling atomic.Bool
	fig.RSSPeak = fig.RSSBefore
	wg.Go(func() {
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		n := 0
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
			if kb, err := procRSS(r.pid); err == nil {
				mu.Lock()
				fig.RSSPeak = max(fig.RSSPeak, kb)
				mu.Unlock()
			}
			if n++; n%4 == 0 && r.sample != nil && !sampling.Swap(true) {
				// apart: a slow answer must not stall the RSS samples
				wg.Go(func() { r.sample(); sampling.Store(false) })
			}
		}
	})

	time.Sleep(floodWarmup)
	for i := range floodHandshakes {
		if time.Since(start) > floodDuration {
			// Handshakes after the flood prove nothing about it.
			fig.Failures = append(fig.Failures, fmt.Sprintf("#%d not attempted: the flood was over", i+1))
			continue
		}
		d, why := floodHandshake(swan, name, r)
		if why != "" {
			fig.Failures = append(fig.Failures, fmt.Sprintf("#%d after %v: %s", i+1, d.Round(time.Millisecond), why))
			continue
		}
		fig.OK++
		fig.Times = append(fig.Times, d)
	}
	fig.HandshakesEnd = time.Since(start)
	fig.Flood = f.Wait()
	close(stopSampling) // the last sample was taken during the flood
	wg.Wait()
	time.Sleep(floodAfter)
	if fig.Flood.Err != nil {
		t.Fatalf("flood: %v", fig.Flood.Err)
	}
	fig.RSSAfter, _ = procRSS(r.pid)
	fig.RSSPeak = max(fig.RSSPeak, fig.RSSAfter)
	cpu1, _ := procCPU(r.pid)
	fig.CPU, fig.Wall = cpu1-cpu0, time.Since(start)
	udp1 := udpCounters(att.GateNS)
	fig.UDPRcvbufErrors = udp1["RcvbufErrors"] - udp0["RcvbufErrors"]
	fig.UDPInErrors = udp1["InErrors"] - udp0["InErrors"]
	if fig.Reflected, fig.RBytes, err = att.Reflected(); err != nil {
		t.Fatal(err)
	}
	lines := meaningfulLines(readFrom(r.logPath, logOff))
	fig.LogLines = len(lines)
	fig.LogSample = lines
	return fig
}

// floodHandshake initiates name from strongSwan, checks that both ends
// have established it, terminates it and waits until both forgot it. It
// returns the time to establish, and why it failed ("" if not).
func floodHandshake(swan *Swan, name string, r floodResponder) (time.Duration, string) {
	up0, err := r.ups()
	if err != nil {
		return 0, err.Error()
	}
	t0 := time.Now()
	out, err := swan.Initiate(name, floodInitiate)
	d := time.Since(t0)
	why := ""
	switch {
	case !swan.Established(name):
		why = fmt.Sprintf("strongSwan initiator: not ESTABLISHED (swanctl: %v: %s)", err, tail(out, 5))
	case !waitTrue(2*time.Second, func() bool { n, err := r.ups(); return err == nil && n > up0 }):
		why = "responder: established no IKE SA"
	}
	swan.Terminate(name)
	wait := 5 * time.Second
	if why != "" {
		wait = time.Second // clean-up only: the handshake failed anyway
	}
	if !waitTrue(wait, func() bool {
		u, err1 := r.ups()
		d, err2 := r.downs()
		return err1 == nil && err2 == nil && d >= u && swan.IKESA(name) == nil
	}) && why == "" {
		why = "IKE SA still there 5 s after swanctl --terminate"
	}
	return d, why
}

func waitTrue(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// report logs the figures every flood test shows.
func (fig *floodFigures) report(t *testing.T, who string) {
	t.Helper()
	fr := fig.Flood
	t.Logf("flood: sent %d datagrams (%d IKE bytes, %d send errors) in %v: %.0f pps",
		fr.Sent, fr.Bytes, fr.Errors, fr.Elapsed.Round(time.Millisecond), float64(fr.Sent)/fr.Elapsed.Seconds())
	ratioB := 0.0
	if fr.Bytes > 0 && fig.RBytes >= 28*fig.Reflected {
		ratioB = float64(fig.RBytes-28*fig.Reflected) / float64(fr.Bytes)
	}
	t.Logf("reflected to the spoofed range: %d packets (%.3f per datagram sent), %d bytes (IKE bytes %.2fx those sent)",
		fig.Reflected, float64(fig.Reflected)/float64(max(fr.Sent, 1)), fig.RBytes, ratioB)
	var ts []string
	if len(fig.Times) > 0 {
		s := slices.Clone(fig.Times)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		ts = append(ts, fmt.Sprintf("min %v, median %v, max %v", s[0].Round(time.Millisecond),
			s[len(s)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond)))
	}
	t.Logf("handshakes under flood: %d/%d established (%s); done %v after the flood started",
		fig.OK, floodHandshakes, strings.Join(ts, ""), fig.HandshakesEnd.Round(time.Millisecond))
	for _, f := range fig.Failures {
		t.Logf("  failed: %s", f)
	}
	t.Logf("%s: RSS %d KiB before, %d KiB peak, %d KiB after (growth %+d KiB peak); CPU %v in the %v run (%.0f%% of one CPU)",
		who, fig.RSSBefore, fig.RSSPeak, fig.RSSAfter, fig.RSSPeak-fig.RSSBefore, fig.CPU.Round(time.Millisecond),
		fig.Wall.Round(time.Second), 100*fig.CPU.Seconds()/fig.Wall.Seconds())
	t.Logf("%s's namespace: %d UDP datagrams dropped for a full receive buffer (%d UDP input errors)",
		who, fig.UDPRcvbufErrors, fig.UDPInErrors)
	t.Logf("%s: %d log lines from the flood's start to %v after its end; by message: %s", who, fig.LogLines,
		floodAfter, lineHistogram(fig.LogSample, 12))
}

// assertHeld is the verdict on ikegate.
func (fig *floodFigures) assertHeld(t *testing.T) {
	t.Helper()
	want := uint64(float64(floodRate) * floodDuration.Seconds() * 0.9)
	if fig.Flood.Sent < want {
		t.Errorf("the flood sent %d datagrams, want at least %d: the test did not flood", fig.Flood.Sent, want)
	}
	if fig.OK != floodHandshakes {
		t.Errorf("%d of %d legitimate handshakes established under the flood", fig.OK, floodHandshakes)
	}
	if fig.HandshakesEnd > floodDuration {
		t.Errorf("the handshakes took until %v after the flood started, longer than the flood (%v)",
			fig.HandshakesEnd.Round(time.Millisecond), floodDuration)
	}
	if g := fig.RSSPeak - fig.RSSBefore; g >= floodMaxRSS {
		t.Errorf("ikegate's RSS grew by %d KiB under the flood (%d -> peak %d), want < %d KiB",
			g, fig.RSSBefore, fig.RSSPeak, floodMaxRSS)
	}
	if fig.Reflected > fig.Flood.Sent {
		t.Errorf("reflection: %d packets reached the spoofed sources for %d sent", fig.Reflected, fig.Flood.Sent)
	}
	if fig.LogLines >= floodMaxLines {
		t.Errorf("ikegate wrote %d log lines from the flood's start to %v after its end, want < %d; the last ones:\n%s",
			fig.LogLines, floodAfter, floodMaxLines, strings.Join(lastN(fig.LogSample, 30), "\n"))
	}
}

// floodStats is `ikegate stats --json`, the parts the flood tests read.
type floodStats struct {
	PacketsIn  map[string]uint64 `json:"packets_in"`
	PacketsOut map[string]uint64 `json:"packets_out"`
	Drops      map[string]uint64 `json:"drops"`
	IKEv1      map[string]uint64 `json:"ikev1"`
	IKEv2      map[string]uint64 `json:"ikev2"`
	Effects    map[string]uint64 `json:"effects"`
}

func ikegateStats(g *Ikegate) (floodStats, error) {
	var st floodStats
	out, err := g.ctl("stats", "--json")
	if err != nil {
		return st, fmt.Errorf("ikegate stats --json: %v: %s", err, out)
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return st, fmt.Errorf("ikegate stats --json: %v: %q", err, out)
	}
	return st, nil
}

// floodPeer is the strongSwan side (Left) of a flood test's connection
// "flood" and the responder's (Right) mirror of it, which accepts any
// peer address (remote_addr %any), so the spoofed first messages reach
// the very connection the legitimate peer uses.
func floodPeer(t *testing.T, lab *Lab, kind FloodKind) (peer, resp Conn, swanExtra string) {
	pair := v1Pair{LeftAddr, RightAddr}
	switch kind {
	case FloodIKEv1Main, FloodIKEv1Aggressive:
		v1PeerSubnets(t, lab, lab.Left, 211, []int{0})
		peer = v1PSKConn("flood", 0, pair, "aes256-sha256-modp2048", "aes256-sha256")
		if kind == FloodIKEv1Aggressive {
			peer.Aggressive = true
			peer.LocalID, peer.RemoteID = "keyid:flood-group", "keyid:flood-gate"
		}
		swanExtra = v1SwanExtra
	case FloodIKEv2Init:
		addPeerSubnets(t, lab, 1)
		peer = v2PSKConn("flood", 0, v2Pair(pair), "aes256-sha256-modp2048", "aes256-sha256")
		swanExtra = "retransmit_tries = 3\nretransmit_timeout = 1.0\nretransmit_base = 1.0"
	}
	resp = peer.Mirror()
	resp.RemoteAddr = "%any"
	return peer, resp, swanExtra
}

// floodIkegate runs one flood test against ikegate.
func floodIkegate(t *testing.T, kind FloodKind) {
	lab := NewLab(t)
	att := lab.AddFloodAttacker(t, lab.Right)
	peer, resp, extra := floodPeer(t, lab, kind)
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: []Conn{peer}, LibIPsec: true, Extra: extra})
	// log_level info: what a gateway runs with. (At debug ikegate writes
	// a line per half-open SA it forgets; the bound on lines caused by
	// unauthenticated input is for the levels a gateway runs at.)
	toml := PatchIkegateTOML(IkegateTOML(IkegateGateway{Listen: []string{RightAddr}, LogLevel: "info"}, resp),
		[]string{"workers = 2"}, "", nil)
	g := lab.StartIkegate(t, lab.Right, toml)
	keepLogs(t, swan.LogPath, g.LogPath)

	var mu sync.Mutex
	var peakHalfOpen uint64
	var lastStats floodStats
	sample := func() {
		st, err := ikegateStats(g)
		if err != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		lastStats = st
		peakHalfOpen = max(peakHalfOpen, st.IKEv1["half_open"], st.IKEv2["half_open"])
	}
	st0, err := ikegateStats(g)
	if err != nil {
		t.Fatal(err)
	}
	cfg := FloodConfig{Kind: kind, Dst: netip.MustParseAddr(RightAddr), Rate: floodRate, Duration: floodDuration,
		IKE: "aes256-sha256-modp2048"}
	if kind == FloodIKEv1Aggressive {
		cfg.KeyID = "flood-group" // the group the gateway knows (its remote_id)
	}
	effect := func(k string) func() (int, error) {
		return func() (int, error) {
			st, err := ikegateStats(g)
			return int(st.Effects[k]), err
		}
	}
	fig := floodRun(t, att, cfg, swan, peer.Name, floodResponder{
		pid: g.Proc.Pid(), logPath: g.LogPath,
		ups: effect("ike-up"), downs: effect("ike-down"),
		sample: sample,
	})
	st1, err := ikegateStats(g)
	if err != nil {
		t.Fatal(err)
	}
	fig.report(t, "ikegate")
	mu.Lock()
	t.Logf("ikegate stats during the flood (last sample): ikev1 %s; ikev2 %s; peak half_open %d",
		statLine(lastStats.IKEv1, "half_open", "half_open_evicted", "half_open_refused", "dropped", "established"),
		statLine(lastStats.IKEv2, "half_open", "cookies_sent", "dropped", "established"), peakHalfOpen)
	mu.Unlock()
	t.Logf("ikegate stats after the flood: ikev1 %s; ikev2 %s",
		statLine(st1.IKEv1, "half_open", "half_open_evicted", "half_open_refused", "dropped", "unknown_cookies", "established", "auth_failures"),
		statLine(st1.IKEv2, "half_open", "cookies_sent", "dropped", "unknown_spi", "established", "auth_failures"))
	t.Logf("ikegate packets: in %s; out %s; drops %s", statDelta(st0.PacketsIn, st1.PacketsIn),
		statDelta(st0.PacketsOut, st1.PacketsOut), statDelta(st0.Drops, st1.Drops))
	fig.assertHeld(t)
	// The flood must have reached ikegate at all (the lab's routing).
	var in uint64
	for k, v := range st1.PacketsIn {
		in += v - st0.PacketsIn[k]
	}
	if in < fig.Flood.Sent*9/10 {
		t.Errorf("ikegate counted %d datagrams in for %d spoofed ones sent: the flood did not reach it", in, fig.Flood.Sent)
	}
}

// TestFloodIKEv1Main: a flood of spoofed IKEv1 Main Mode messages 1
// (2,000 pps from random addresses of 198.18.0.0/15 and random ports, 25
// s) at ikegate (two workers) while strongSwan brings the same connection
// up and down ten times. ikegate must establish all ten, grow by less
// than 64 MiB, answer no spoofed datagram with more than one packet (its
// Main Mode keeps no state for message 1) and write a bounded log.
func TestFloodIKEv1Main(t *testing.T) { floodIkegate(t, FloodIKEv1Main) }

// TestFloodIKEv1Aggressive: as TestFloodIKEv1Main with Aggressive Mode
// messages 1 (SA, a valid MODP-2048 KE, nonce, ID_KEY_ID of the group the
// gateway knows) at a group PSK connection that accepts any address.
func TestFloodIKEv1Aggressive(t *testing.T) { floodIkegate(t, FloodIKEv1Aggressive) }

// TestFloodIKEv2Init: as TestFloodIKEv1Main with IKEv2 IKE_SA_INIT
// requests (SA, a valid MODP-2048 KE, nonce): beyond the cookie threshold
// ikegate answers with a COOKIE, which strongSwan returns.
func TestFloodIKEv2Init(t *testing.T) { floodIkegate(t, FloodIKEv2Init) }

// TestFloodIKEv1MainStrongSwan: the Main Mode flood of TestFloodIKEv1Main
// at strongSwan 5.9.8 as the responder (an equivalent connection,
// remote_addrs %any), for comparison. It reports strongSwan's figures and
// asserts nothing about them.
func TestFloodIKEv1MainStrongSwan(t *testing.T) {
	lab := NewLab(t)
	att := lab.AddFloodAttacker(t, lab.Right)
	peer, resp, extra := floodPeer(t, lab, FloodIKEv1Main)
	// The responder installs CHILD SAs too (kernel-libipsec needs a local
	// address inside its traffic selector).
	lab.AddSubnet(t, lab.Right, "v1g0", "10.212.0.1/24")
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: []Conn{peer}, LibIPsec: true, Extra: extra})
	// charon's default log levels (1 for every group), as a gateway runs.
	rs := lab.StartStrongSwan(t, lab.Right, SwanConfig{Conns: []Conn{resp}, LibIPsec: true, Extra: extra,
		LogLevels: "default = 1"})
	keepLogs(t, swan.LogPath, rs.LogPath)
	var mu sync.Mutex
	var peakHalf, samples int
	halfRE := regexp.MustCompile(`IKE_SAs: (\d+) total, (\d+) half-open`)
	sample := func() {
		out, err := swanctlWithin(rs, 3*time.Second, "--stats")
		if err != nil {
			return
		}
		if m := halfRE.FindStringSubmatch(out); m != nil {
			n, _ := strconv.Atoi(m[2])
			mu.Lock()
			peakHalf = max(peakHalf, n)
			samples++
			mu.Unlock()
		}
	}
	// Its established and deleted IKE SAs, from its log (listing its
	// SAs would list every half-open one of the flood too).
	lc := &logCounter{path: rs.LogPath, patterns: [][]string{
		{"IKE_SA " + peer.Name + "[", "] established between"},
		{"received DELETE for IKE_SA " + peer.Name + "["},
	}}
	fig := floodRun(t, att, FloodConfig{Kind: FloodIKEv1Main, Dst: netip.MustParseAddr(RightAddr), Rate: floodRate,
		Duration: floodDuration, IKE: "aes256-sha256-modp2048"}, swan, peer.Name, floodResponder{
		pid: rs.Proc.Pid(), logPath: rs.LogPath,
		ups:    func() (int, error) { return lc.count(0) },
		downs:  func() (int, error) { return lc.count(1) },
		sample: sample,
	})
	fig.report(t, "strongSwan responder")
	mu.Lock()
	t.Logf("strongSwan responder: peak half-open IKE_SAs during the flood %d (swanctl --stats, sampled; %d samples answered)",
		peakHalf, samples)
	mu.Unlock()
	if want := uint64(float64(floodRate) * floodDuration.Seconds() * 0.9); fig.Flood.Sent < want {
		t.Errorf("the flood sent %d datagrams, want at least %d", fig.Flood.Sent, want)
	}
}

// statLine formats the given keys of a counter map.
func statLine(m map[string]uint64, keys ...string) string {
	var parts []string
	for _, k := range keys {
		if v, ok := m[k]; ok {
			parts = append(parts, fmt.Sprintf("%s=%d", k, v))
		}
	}
	return strings.Join(parts, " ")
}

// statDelta formats the non-zero growth of each counter from a to b.
func statDelta(a, b map[string]uint64) string {
	var keys []string
	for k := range b {
		if b[k] != a[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s+%d", k, b[k]-a[k]))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// procRSS reads a process's resident set in KiB (vmRSS without t.Fatal,
// for a sampling goroutine).
func procRSS(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			return strconv.Atoi(f[1])
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// procCPU reads a process's user+system CPU time (cpuTime without
// t.Fatal).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100, nil
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func readFrom(path string, off int64) string {
	b, _ := os.ReadFile(path)
	if int64(len(b)) < off {
		return string(b)
	}
	return string(b[off:])
}

func meaningfulLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// lineHistogram counts log lines by message: ikegate's console lines are
// time, level, message, fields (tab-separated); strongSwan's are time,
// thread, [group], message (the message's first words are kept).
var digitsRE = regexp.MustCompile(`[0-9a-f]{6,}|\d+`)

func lineHistogram(lines []string, top int) string {
	count := map[string]int{}
	for _, l := range lines {
		key := l
		if f := strings.Split(l, "\t"); len(f) >= 3 {
			key = f[1] + " " + f[2]
		} else if f := strings.Fields(l); len(f) >= 3 {
			words := f[2:]
			if len(words) > 6 {
				words = words[:6]
			}
			key = strings.Join(words, " ")
		}
		count[digitsRE.ReplaceAllString(key, "N")]++
	}
	type kv struct {
		k string
		n int
	}
	var kvs []kv
	for k, n := range count {
		kvs = append(kvs, kv{k, n})
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].n > kvs[j].n || kvs[i].n == kvs[j].n && kvs[i].k < kvs[j].k })
	var parts []string
	for i, e := range kvs {
		if i == top {
			parts = append(parts, fmt.Sprintf("... %d more kinds", len(kvs)-top))
			break
		}
		parts = append(parts, fmt.Sprintf("%d× %q", e.n, e.k))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// logCounter counts the lines of a growing log that contain every
// string of each of its patterns, reading only what was added since the
// last call.
type logCounter struct {
	mu       sync.Mutex
	path     string
	patterns [][]string
	counts   []int
	off      int64
	rest     string
}

// count returns the lines so far that match pattern i.
func (c *logCounter) count(i int) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts == nil {
		c.counts = make([]int, len(c.patterns))
	}
	f, err := os.Open(c.path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, c.off, 1<<40))
	if err != nil {
		return 0, err
	}
	c.off += int64(len(b))
	text := c.rest + string(b)
	end := strings.LastIndexByte(text, '\n')
	c.rest = text[end+1:]
	for _, l := range strings.Split(text[:end+1], "\n") {
		for j, p := range c.patterns {
			all := true
			for _, sub := range p {
				if !strings.Contains(l, sub) {
					all = false
					break
				}
			}
			if all {
				c.counts[j]++
			}
		}
	}
	return c.counts[i], nil
}

// swanctlWithin is Swan.Swanctl given up after d (a flooded charon may
// not answer vici for a long time).
func swanctlWithin(s *Swan, d time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	argv := append([]string{IPCmd, "netns", "exec", s.NS, "env"}, s.env...)
	argv = append(append(append(argv, Swanctl), args...), "--uri", s.URI)
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	return string(out), err
}

// udpCounters reads the Udp line of /proc/net/snmp in namespace ns.
func udpCounters(ns string) map[string]uint64 {
	out, err := runOut(IPCmd, "netns", "exec", ns, "cat", "/proc/net/snmp")
	m := map[string]uint64{}
	if err != nil {
		return m
	}
	var names []string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f[1:]
			continue
		}
		for i, v := range f[1:] {
			if i < len(names) {
				m[names[i]], _ = strconv.ParseUint(v, 10, 64)
			}
		}
	}
	return m
}
