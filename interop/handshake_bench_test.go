//go:build bench

package interop

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hsIdleWait is how long after the handshakes the responder's RSS is
// read again, idle with every SA held: ikegate lowers its collector's
// target once it has allocated little for 5 s (gc_idle_percent).
const hsIdleWait = 8 * time.Second

// hsPSK is the benchmark's pre-shared key.
const hsPSK = "handshake-benchmark-secret-0123456789"

// hsSuite is what one benchmark table negotiates.
type hsSuite struct {
	version  int
	ike, esp string
}

// hsFigures are one responder's figures: the generator's report
// (`ikegate bench --json`) and the responder's CPU time and RSS growth.
type hsFigures struct {
	name         string
	established  int
	count        int
	rate         float64
	p50, p99     float64 // ms
	cpuPerSA     float64 // responder, µs
	rssPerSA     float64 // responder, KiB, right after the handshakes
	idleRSSPerSA float64 // responder, KiB, hsIdleWait later
	genCPUPerSA  float64 // generator, µs
}

// TestHandshakeBenchmark (built only with -tags bench, which
// interop/bench-handshakes.sh passes): IKEGATE_BENCH_COUNT (default 2000)
// handshakes with virtual IPs, PSK, IKEGATE_BENCH_CONCURRENCY (default
// 100) in flight, IKEGATE_BENCH_RUNS times (default 3; the median run by
// rate is shown), by `ikegate bench` in the left namespace against
// strongSwan (charon-systemd, kernel-libipsec: this host has no kernel
// ESP) and against ikegate (userspace dataplane, the counterpart of
// libipsec; and without a dataplane, IKE alone) in the right one, each
// in a fresh lab: IKEv2 with AES-GCM-128/Curve25519, then IKEv1 Main Mode
// + Mode Config + Quick Mode with AES-128/SHA-256/Curve25519 and
// AES-GCM-128 ESP. It prints one table per version: established, rate,
// latency, the responder's CPU time (utime+stime of /proc/PID/stat) and
// RSS growth per SA with every SA held (right after the handshakes and
// hsIdleWait later), the generator's CPU per SA, and the ratio
// ikegate/strongSwan.
func TestHandshakeBenchmark(t *testing.T) {
	RequireLab(t)
	count := envInt("IKEGATE_BENCH_COUNT", 2000)
	conc := envInt("IKEGATE_BENCH_CONCURRENCY", 100)
	runs := envInt("IKEGATE_BENCH_RUNS", 3)
	// Source addresses of the clients: ikegate serves each IKEv1 peer
	// address on one shard (one CPU), so from one address IKEv1 load uses
	// one of them.
	sources := envInt("IKEGATE_BENCH_SOURCES", 1)
	pskFile := filepath.Join(t.TempDir(), "psk")
	writeFile(t, pskFile, hsPSK+"\n", 0o600)
	var b strings.Builder
	fmt.Fprintf(&b, "\nIKE handshakes: %d clients, %d in flight, PSK, a virtual IP each, `ikegate bench` in the other namespace from %d source address(es), %d CPUs (shared)",
		count, conc, sources, runtime.NumCPU())
	if runs > 1 {
		fmt.Fprintf(&b, ", median of %d runs by rate", runs)
	}
	b.WriteString("\n")
	for _, s := range []hsSuite{
		{version: 2, ike: "aes128gcm16-prfsha256-x25519", esp: "aes128gcm16"},
		{version: 1, ike: "aes128-sha256-x25519", esp: "aes128gcm16"},
	} {
		var rows []hsFigures
		for _, resp := range []string{"strongswan", "ikegate-userspace", "ikegate-none"} {
			var figs []hsFigures
			for i := range runs {
				t.Run(fmt.Sprintf("ikev%d-%s-%d", s.version, resp, i+1), func(t *testing.T) {
					figs = append(figs, hsRun(t, s, resp, count, conc, sources, pskFile))
				})
			}
			if len(figs) > 0 {
				// The median run by rate.
				sort.Slice(figs, func(i, j int) bool { return figs[i].rate < figs[j].rate })
				rows = append(rows, figs[len(figs)/2])
			}
		}
		mode := ""
		if s.version == 1 {
			mode = " Main Mode + Mode Config + Quick Mode"
		}
		fmt.Fprintf(&b, "\nIKEv%d%s, IKE %s, ESP %s\n", s.version, mode, s.ike, s.esp)
		fmt.Fprintf(&b, "%-32s %11s %8s %8s %8s %11s %11s %11s %14s\n",
			"responder", "established", "rate/s", "p50 ms", "p99 ms", "CPU µs/SA", "RSS KiB/SA", "idle KiB/SA", "gen CPU µs/SA")
		for _, r := range rows {
			fmt.Fprintf(&b, "%-32s %11s %8.0f %8.1f %8.1f %11.0f %11.1f %11.1f %14.0f\n", r.name,
				fmt.Sprintf("%d/%d", r.established, r.count), r.rate, r.p50, r.p99, r.cpuPerSA, r.rssPerSA, r.idleRSSPerSA, r.genCPUPerSA)
		}
		if len(rows) >= 2 && rows[0].established > 0 && rows[1].established > 0 {
			sw, ig := rows[0], rows[1]
			ratio := func(a, b float64) string {
				if b == 0 {
					return "-"
				}
				return fmt.Sprintf("%.2f", a/b)
			}
			fmt.Fprintf(&b, "%-32s %11s %8s %8s %8s %11s %11s %11s\n", "ratio ikegate/strongSwan", "",
				ratio(ig.rate, sw.rate), ratio(ig.p50, sw.p50), ratio(ig.p99, sw.p99),
				ratio(ig.cpuPerSA, sw.cpuPerSA), ratio(ig.rssPerSA, sw.rssPerSA), ratio(ig.idleRSSPerSA, sw.idleRSSPerSA))
		}
	}
	t.Log(b.String())
	fmt.Print(b.String())
}

// hsRun starts responder resp in a fresh lab, runs the generator against
// it and returns the figures.
func hsRun(t *testing.T, s hsSuite, resp string, count, conc, sources int, pskFile string) hsFigures {
	lab := NewLab(t)
	from := []string{LeftAddr}
	for i := 1; i < sources; i++ {
		a := fmt.Sprintf("10.200.0.%d", 200+i)
		MustRun(t, IPCmd, "-n", lab.Left, "addr", "add", a+"/24", "dev", LabIface)
		from = append(from, a)
	}
	var pid int
	name := "ikegate (userspace dataplane)"
	switch resp {
	case "strongswan":
		sw := lab.StartStrongSwan(t, lab.Right, SwanConfig{LibIPsec: true, Swanctl: hsSwanctl(s),
			LogLevels: "default = -1",
			// Tuned as strongSwan's documentation says for many SAs: a
			// hashed IKE SA table, and no COOKIE or per-address half-open
			// limit (every client comes from one address; ikegate's
			// cookie_threshold is raised as well).
			Extra: "ikesa_table_size = 4096\nikesa_table_segments = 16\ncookie_threshold = 1000000\nblock_threshold = 1000000"})
		pid = sw.Proc.Pid()
		name = "strongSwan (libipsec)"
		if out, err := sw.Swanctl("--version"); err == nil {
			if v := regexp.MustCompile(`\d+\.\d+\.\d+`).FindString(out); v != "" {
				name = "strongSwan " + v + " (libipsec)"
			}
		}
	default:
		dp := "userspace"
		if resp == "ikegate-none" {
			dp, name = "none", "ikegate (no dataplane)"
		}
		g := lab.StartIkegate(t, lab.Right, hsIkegateTOML(s, dp))
		pid = g.Proc.Pid()
	}
	time.Sleep(200 * time.Millisecond) // let the daemon settle after startup
	rss0, cpu0 := vmRSS(t, pid), cpuTime(t, pid)
	args := []string{IPCmd, "netns", "exec", lab.Left, IkegateBin(t), "bench", RightAddr,
		"--version", strconv.Itoa(s.version), "--from", strings.Join(from, ","), "--psk-file", pskFile,
		"--id", "@c%d.bench", "--remote-id", "@gw.bench", "--vip", "--ike", s.ike, "--esp", s.esp,
		"--count", strconv.Itoa(count), "--concurrency", strconv.Itoa(conc), "--timeout", "30s",
		"--keep", "--json"}
	cmd := exec.Command(args[0], args[1:]...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	rss1, cpu1 := vmRSS(t, pid), cpuTime(t, pid)
	time.Sleep(hsIdleWait)
	rss2 := vmRSS(t, pid)
	var rep struct {
		Established int            `json:"established"`
		Count       int            `json:"count"`
		Rate        float64        `json:"rate_per_s"`
		Failures    map[string]int `json:"failures"`
		Latency     struct {
			P50 float64 `json:"p50"`
			P99 float64 `json:"p99"`
		} `json:"latency_ms"`
		GenCPU float64 `json:"generator_cpu_us_per_sa"`
	}
	if jerr := json.Unmarshal(out, &rep); jerr != nil {
		t.Fatalf("ikegate bench: %v (%v)\n%s\n%s", err, jerr, out, stderr.String())
	}
	if rep.Established != rep.Count {
		t.Errorf("%d of %d established: %v\n%s", rep.Established, rep.Count, rep.Failures, out)
	}
	f := hsFigures{name: name, established: rep.Established, count: rep.Count, rate: rep.Rate, p50: rep.Latency.P50, p99: rep.Latency.P99,
		genCPUPerSA: rep.GenCPU}
	if rep.Established > 0 {
		f.cpuPerSA = float64((cpu1 - cpu0).Microseconds()) / float64(rep.Established)
		f.rssPerSA = float64(rss1-rss0) / float64(rep.Established)
		f.idleRSSPerSA = float64(rss2-rss0) / float64(rep.Established)
	}
	t.Logf("run: IKEv%d %-32s %d/%d, %.0f/s, p50 %.1f ms, p99 %.1f ms, CPU %.0f µs/SA (%v), RSS %.1f KiB/SA (%d -> %d KiB), idle %.1f KiB/SA (%d KiB), generator %.0f µs/SA",
		s.version, name, f.established, f.count, f.rate, f.p50, f.p99, f.cpuPerSA, (cpu1 - cpu0).Round(time.Millisecond),
		f.rssPerSA, rss0, rss1, f.idleRSSPerSA, rss2, f.genCPUPerSA)
	return f
}

// hsSwanctl is strongSwan's responder configuration for suite s.
func hsSwanctl(s hsSuite) string {
	return fmt.Sprintf(`connections {
  bench {
    version = %d
    local_addrs = %s
    proposals = %s
    pools = rw
    send_certreq = no
    local {
      auth = psk
      id = @gw.bench
    }
    remote {
      auth = psk
    }
    children {
      bench {
        local_ts = 0.0.0.0/0
        esp_proposals = %s
      }
    }
  }
}
pools {
  rw {
    addrs = 10.9.0.0/16
  }
}
secrets {
  ike-bench {
    secret = %q
  }
}
`, s.version, RightAddr, s.ike, s.esp, hsPSK)
}

// hsIkegateTOML is ikegate's responder configuration for suite s.
func hsIkegateTOML(s hsSuite, dataplane string) string {
	return fmt.Sprintf(`[gateway]
listen = [%q]
dataplane = %q
log_level = "warn"
control = %q
cookie_threshold = 1000000

[[pool]]
name = "rw"
addresses = ["10.9.0.0/16"]

[[connection]]
name = "bench"
version = "ikev%d"
local_addr = %q
remote_addr = "%%any"
local_id = "@gw.bench"
auth = "psk"
psk = %q
pool = "rw"
ike = [%q]
esp = [%q]
local_ts = ["0.0.0.0/0"]
`, RightAddr, dataplane, ControlPlaceholder, s.version, RightAddr, hsPSK, s.ike, s.esp)
}
