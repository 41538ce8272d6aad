package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The Prometheus server and promtool of the metrics test (Debian's
// prometheus package; install.sh installs it).
var (
	PrometheusBin = "/usr/bin/prometheus"
	Promtool      = "/usr/bin/promtool"
)

// metricsListen is ikegate's metrics_listen in the test: the loopback of
// its own namespace.
const metricsListen = "127.0.0.1:9595"

// TestMetricsPrometheus: ikegate with metrics_listen and the userspace
// dataplane (this host's kernel has no ESP) in its namespace, an IKEv2 PSK
// SA with strongSwan (kernel-libipsec) protecting 10.201.0.0/24 ===
// 10.202.0.0/24, and a real Prometheus 2.42 server in the same namespace
// scraping /metrics every second. `promtool check metrics` must accept the
// exposition; Prometheus's HTTP API must report one ESTABLISHED IKE SA and
// one installed CHILD SA, and ipsec_child_bytes_total of the connection
// must grow, in both directions, after a ping through the tunnel.
func TestMetricsPrometheus(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	for _, p := range []string{PrometheusBin, Promtool} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("missing %s (run interop/install.sh: Debian package prometheus)", p)
		}
	}
	t0 := time.Now()
	lab.AddSubnet(t, lab.Left, "sn0", leftHost(0)+"/24")
	lab.AddSubnet(t, lab.Right, "gs0", rightHost(0)+"/24")
	const name = "metrics"
	ike, esp := swanTrafficSuite(2)
	peer := trafficConn(name, 2, 0, LeftAddr, RightAddr, ike, esp)
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: []Conn{peer}, LibIPsec: true})
	toml := PatchIkegateTOML(IkegateTOML(userspaceGateway(RightAddr), peer.Mirror()),
		[]string{`metrics_listen = "` + metricsListen + `"`}, "", nil)
	g := lab.StartIkegate(t, lab.Right, toml)
	keepLogs(t, swan.LogPath, g.LogPath)

	// Prometheus first: it scrapes the gateway without SAs meanwhile.
	prom := startPrometheus(t, lab.Right, metricsListen)

	if out, err := swan.Initiate(name, 10); err != nil {
		t.Fatalf("swanctl --initiate --child %s: %v\n%s", name, err, out)
	}
	waitGateSA(t, g, name, 10*time.Second, settled(1))

	// The exposition as Prometheus reads it, checked by promtool.
	text, err := nsHTTPGet(lab.Right, "http://"+metricsListen+"/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	for _, m := range []string{"ipsec_ike_sas", "ipsec_ike_half_open", "ipsec_child_sas", "ipsec_child_bytes_total",
		"ipsec_child_packets_total", "ipsec_ike_established_total", "ipsec_auth_failures_total",
		"ipsec_messages_dropped_total", "ipsec_cookies_sent_total", "ipsec_dataplane_drops_total", "ipsec_ikegate_info"} {
		if !strings.Contains(text, "\n# TYPE "+m+" ") {
			t.Errorf("/metrics has no %s", m)
		}
	}
	check := exec.Command(Promtool, "check", "metrics")
	check.Stdin = strings.NewReader(text)
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s\n--- exposition:\n%s", err, out, text)
	} else {
		t.Logf("promtool check metrics: ok (%d lines)%s", strings.Count(text, "\n"), strings.TrimSpace("\n"+string(out)))
	}

	// Prometheus's view, once it scraped the SA.
	estab := `sum(ipsec_ike_sas{state="ESTABLISHED"})`
	if v, ok := prom.waitValue(t, estab, 10*time.Second, func(v float64) bool { return v == 1 }); !ok {
		t.Fatalf("Prometheus: %s = %v, want 1", estab, v)
	}
	for q, want := range map[string]float64{
		`ipsec_ike_sas{state="ESTABLISHED",version="ikev2"}`: 1,
		`ipsec_child_sas{conn="metrics"}`:                    1,
		`ipsec_ike_established_total{version="ikev2"}`:       1,
		`ipsec_auth_failures_total{version="ikev2"}`:         0,
		`up{job="ikegate"}`:                                  1,
	} {
		if v, err := prom.query(q); err != nil || v != want {
			t.Errorf("Prometheus: %s = %v (%v), want %v", q, v, err, want)
		}
	}

	// Traffic: the connection's bytes grow after a ping both ways.
	bytesQ := func(dir string) string { return `ipsec_child_bytes_total{conn="metrics",direction="` + dir + `"}` }
	before := map[string]float64{}
	for _, dir := range []string{"in", "out"} {
		v, err := prom.query(bytesQ(dir))
		if err != nil {
			t.Fatalf("Prometheus: %s: %v", bytesQ(dir), err)
		}
		before[dir] = v
	}
	checkPing(t, lab.Left, lab.Right, 0)
	for _, dir := range []string{"in", "out"} {
		v, ok := prom.waitValue(t, bytesQ(dir), 5*time.Second, func(v float64) bool { return v > before[dir] })
		if !ok {
			t.Errorf("Prometheus: %s stayed at %v after the ping (was %v)", bytesQ(dir), v, before[dir])
			continue
		}
		t.Logf("Prometheus: %s %v -> %v", bytesQ(dir), before[dir], v)
	}
	t.Logf("took %v", time.Since(t0).Round(time.Millisecond))
}

// promServer is a Prometheus server running in a namespace.
type promServer struct {
	ns, api string // api: http://127.0.0.1:PORT
}

// startPrometheus runs Prometheus in ns with a private config and TSDB
// directory, scraping target's /metrics every second (job "ikegate"), its
// web UI and API on a free port of ns's loopback, and waits until it is
// ready.
func startPrometheus(t *testing.T, ns, target string) *promServer {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	writeFile(t, cfg, `# written by the ikegate interop harness
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: ikegate
    static_configs:
      - targets: ['`+target+`']
`, 0o644)
	port, err := nsFreePort(ns)
	if err != nil {
		t.Fatal(err)
	}
	p := &promServer{ns: ns, api: "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	proc := startProc(t, "prometheus@"+ns, filepath.Join(dir, "prometheus.log"), nil,
		[]string{IPCmd, "netns", "exec", ns, PrometheusBin,
			"--config.file=" + cfg, "--storage.tsdb.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=127.0.0.1:" + strconv.Itoa(port), "--log.level=warn"})
	if !WaitFor(t, 15*time.Second, func() bool {
		if proc.Exited() {
			return true
		}
		_, err := nsHTTPGet(ns, p.api+"/-/ready")
		return err == nil
	}) || proc.Exited() {
		t.Fatalf("Prometheus in %s did not become ready (exited: %v)", ns, proc.Exited())
	}
	return p
}

// query runs an instant query that must return one sample and returns its
// value.
func (p *promServer) query(q string) (float64, error) {
	body, err := nsHTTPGet(p.ns, p.api+"/api/v1/query?query="+url.QueryEscape(q))
	if err != nil {
		return 0, err
	}
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"` // [time, "value"]
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return 0, fmt.Errorf("%s: %v: %s", q, err, body)
	}
	if r.Status != "success" || len(r.Data.Result) != 1 {
		return 0, fmt.Errorf("%s: status %s (%s), %d samples: %s", q, r.Status, r.Error, len(r.Data.Result), body)
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	return strconv.ParseFloat(s, 64)
}

// waitValue polls q until ok accepts its value or timeout passes, and
// returns the last value.
func (p *promServer) waitValue(t *testing.T, q string, timeout time.Duration, ok func(float64) bool) (float64, bool) {
	t.Helper()
	var v float64
	var err error
	if WaitFor(t, timeout, func() bool {
		v, err = p.query(q)
		return err == nil && ok(v)
	}) {
		return v, true
	}
	if err != nil {
		t.Logf("Prometheus: last query error: %v", err)
	}
	return v, false
}

// nsHTTPGet GETs url from inside namespace ns (the TCP socket is created
// there) and returns the body; a status other than 200 is an error.
func nsHTTPGet(ns, url string) (string, error) {
	tr := &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := InNetns(ns, func() error {
				var err error
				c, err = (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		}}
	cl := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	resp, err := cl.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	return string(b), nil
}

// nsFreePort returns a TCP port free on ns's loopback.
func nsFreePort(ns string) (int, error) {
	var port int
	err := InNetns(ns, func() error {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		port = l.Addr().(*net.TCPAddr).Port
		return l.Close()
	})
	return port, err
}
