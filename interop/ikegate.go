package interop

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// IkegateBin returns $IKEGATE_BIN; with IKEGATE_INTEROP=1 a missing binary
// fails the test (test-all.sh builds it).
func IkegateBin(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("IKEGATE_BIN")
	if bin == "" {
		t.Fatal("IKEGATE_BIN is not set: build ikegate (`go build -o $BIN ./cmd/ikegate`) or run interop/test-all.sh")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("IKEGATE_BIN=%s: %v", bin, err)
	}
	return bin
}

// Ikegate is a running `ikegate run`.
type Ikegate struct {
	NS      string
	Bin     string
	Config  string
	Control string // control socket
	LogPath string
	Proc    *Proc
	lab     *Lab
}

// IkegateGateway is the [gateway] table of a generated config.
type IkegateGateway struct {
	Listen    []string // default: none (the daemon's default)
	IKEPort   int      // 0: omitted (500)
	NATTPort  int      // 0: omitted (4500)
	Dataplane string   // default "none"
	Control   string   // default: filled in by StartIkegate ("@CONTROL@")
	LogLevel  string   // default "debug"
	ESPEncap  string   // esp_encap: "" omitted (the dataplane's default), "force", "auto"
}

// ControlPlaceholder in a config handed to StartIkegate is replaced by the
// control socket path it chooses.
const ControlPlaceholder = "@CONTROL@"

// IkegateTOML renders an ikegate config for conns (each as seen from
// ikegate's end, e.g. peerConn.Mirror()). The same Conn that configures a
// strongSwan or Libreswan peer thus configures ikegate:
//
//	toml := IkegateTOML(IkegateGateway{Listen: []string{RightAddr}}, peer.Mirror())
func IkegateTOML(gw IkegateGateway, conns ...Conn) string {
	var b strings.Builder
	b.WriteString("# written by ikegate interop harness\n[gateway]\n")
	if len(gw.Listen) > 0 {
		fmt.Fprintf(&b, "listen = %s\n", tomlStrings(gw.Listen))
	}
	if gw.IKEPort != 0 {
		fmt.Fprintf(&b, "ike_port = %d\n", gw.IKEPort)
	}
	if gw.NATTPort != 0 {
		fmt.Fprintf(&b, "natt_port = %d\n", gw.NATTPort)
	}
	dp := gw.Dataplane
	if dp == "" {
		dp = "none"
	}
	fmt.Fprintf(&b, "dataplane = %s\n", strconv.Quote(dp))
	if gw.ESPEncap != "" {
		fmt.Fprintf(&b, "esp_encap = %s\n", strconv.Quote(gw.ESPEncap))
	}
	ctl := gw.Control
	if ctl == "" {
		ctl = ControlPlaceholder
	}
	fmt.Fprintf(&b, "control = %s\n", strconv.Quote(ctl))
	lvl := gw.LogLevel
	if lvl == "" {
		lvl = "debug"
	}
	fmt.Fprintf(&b, "log_level = %s\n", strconv.Quote(lvl))
	var all []Conn
	for _, c := range conns {
		all = append(all, c)
		for _, ch := range c.ExtraChildren {
			x := c
			x.Name, x.LocalTS, x.RemoteTS, x.Start, x.ExtraChildren = ch.Name, ch.LocalTS, ch.RemoteTS, "none", nil
			if len(ch.ESP) > 0 {
				x.ESP = ch.ESP
			}
			all = append(all, x)
		}
	}
	for _, c := range all {
		b.WriteString("\n[[connection]]\n")
		fmt.Fprintf(&b, "name = %s\n", strconv.Quote(c.Name))
		v := "any"
		switch c.Version {
		case 1:
			v = "ikev1"
		case 2:
			v = "ikev2"
		}
		fmt.Fprintf(&b, "version = %s\n", strconv.Quote(v))
		if c.Version == 1 && c.Aggressive {
			// The site-to-site interop cases use Aggressive Mode with a PSK
			// and no XAUTH on purpose: accept the risk explicitly.
			b.WriteString("ikev1_mode = \"aggressive\"\nallow_aggressive_psk = true\n")
		}
		kv := func(k, v string) {
			if v != "" {
				fmt.Fprintf(&b, "%s = %s\n", k, strconv.Quote(v))
			}
		}
		kv("local_addr", c.LocalAddr)
		kv("remote_addr", c.RemoteAddr)
		kv("local_id", c.LocalID)
		kv("remote_id", c.RemoteID)
		kv("auth", c.Auth)
		if c.Auth == "psk" {
			kv("psk", c.PSK)
		} else {
			kv("cert", c.Cert)
			kv("key", c.Key)
			if len(c.CAs) > 0 {
				fmt.Fprintf(&b, "ca = %s\n", tomlStrings(c.CAs))
			}
		}
		if len(c.IKE) > 0 {
			fmt.Fprintf(&b, "ike = %s\n", tomlStrings(c.IKE))
		}
		if len(c.ESP) > 0 {
			fmt.Fprintf(&b, "esp = %s\n", tomlStrings(c.ESP))
		}
		if len(c.LocalTS) > 0 {
			fmt.Fprintf(&b, "local_ts = %s\n", tomlStrings(c.LocalTS))
		}
		if len(c.RemoteTS) > 0 {
			fmt.Fprintf(&b, "remote_ts = %s\n", tomlStrings(c.RemoteTS))
		}
		kv("mode", c.Mode)
		kv("ike_lifetime", c.IkegateLifetimes[0])
		kv("child_lifetime", c.IkegateLifetimes[1])
		start := c.Start
		if start == "" {
			start = "none"
		}
		kv("start", start)
		if c.IkegateExtra != "" {
			b.WriteString(strings.TrimSpace(c.IkegateExtra) + "\n")
		}
	}
	return b.String()
}

func tomlStrings(v []string) string {
	q := make([]string, len(v))
	for i, s := range v {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// StartIkegate writes tomlConfig (ControlPlaceholder replaced by a socket in
// a private directory) and runs `$IKEGATE_BIN run --config FILE` in ns,
// waiting until `ikegate sas --json` answers on the control socket.
func (l *Lab) StartIkegate(t testing.TB, ns, tomlConfig string) *Ikegate {
	t.Helper()
	bin := IkegateBin(t)
	dir := shortTempDir(t, "ikg-")
	g := &Ikegate{NS: ns, Bin: bin, lab: l,
		Config:  filepath.Join(dir, "ikegate.toml"),
		Control: filepath.Join(dir, "control.sock"),
		LogPath: filepath.Join(dir, "ikegate.log"),
	}
	writeFile(t, g.Config, strings.ReplaceAll(tomlConfig, ControlPlaceholder, g.Control), 0o600)
	t.Logf("ikegate %s config:\n%s", ns, strings.ReplaceAll(tomlConfig, ControlPlaceholder, g.Control))
	g.Proc = startProc(t, "ikegate@"+ns, g.LogPath, nil,
		[]string{IPCmd, "netns", "exec", ns, bin, "run", "--config", g.Config})
	var lastErr string
	if !WaitFor(t, 10*time.Second, func() bool {
		if g.Proc.Exited() {
			return true
		}
		_, err := g.SAs()
		if err != nil {
			lastErr = err.Error()
		}
		return err == nil
	}) || g.Proc.Exited() {
		t.Fatalf("ikegate in %s: control %s did not answer (exited: %v): %s", ns, g.Control, g.Proc.Exited(), lastErr)
	}
	return g
}

func (g *Ikegate) ctl(args ...string) (string, error) {
	return g.lab.Exec(g.NS, g.Bin, append(args, "--control", g.Control)...)
}

// Up initiates connection name (`ikegate up NAME`).
func (g *Ikegate) Up(name string) (string, error) { return g.ctl("up", name, "--no-wait") }

// UpWait initiates connection name and waits for the outcome (`ikegate up NAME --timeout`).
func (g *Ikegate) UpWait(name string, timeout time.Duration) (string, error) {
	return g.ctl("up", name, "--timeout", timeout.String())
}

// Down terminates connection name (`ikegate down NAME`).
func (g *Ikegate) Down(name string) (string, error) { return g.ctl("down", name) }

// IkegateSA mirrors policy.IKESAInfo, the JSON of `ikegate sas --json`
// (kept separate so the lab compiles while policy changes).
type IkegateSA struct {
	Name        string         `json:"name"`
	Version     int            `json:"version"`
	State       string         `json:"state"`
	Local       string         `json:"local"`
	Remote      string         `json:"remote"`
	LocalSPI    string         `json:"local_spi"`
	RemoteSPI   string         `json:"remote_spi"`
	Initiator   bool           `json:"initiator"`
	IKEProposal string         `json:"ike_proposal"`
	LocalID     string         `json:"local_id,omitempty"`
	RemoteID    string         `json:"remote_id,omitempty"`
	Children    []IkegateChild `json:"children"`
}

// IkegateChild mirrors policy.ChildSAInfo.
type IkegateChild struct {
	Name        string   `json:"name"`
	State       string   `json:"state"`
	SPIIn       string   `json:"spi_in"`
	SPIOut      string   `json:"spi_out"`
	ESPProposal string   `json:"esp_proposal"`
	LocalTS     []string `json:"local_ts"`
	RemoteTS    []string `json:"remote_ts"`
	Mode        string   `json:"mode,omitempty"` // "tunnel" or "transport"
	Error       string   `json:"error,omitempty"`
}

// SAs returns `ikegate sas --json`.
func (g *Ikegate) SAs() ([]IkegateSA, error) {
	out, err := g.lab.Exec(g.NS, g.Bin, "sas", "--json", "--control", g.Control)
	if err != nil {
		return nil, fmt.Errorf("ikegate sas --json: %v: %s", err, out)
	}
	return ParseIkegateSAs(out)
}

// ParseIkegateSAs decodes `ikegate sas --json`: a JSON array of IKE SAs (an
// object {"sas": [...]} is accepted too).
func ParseIkegateSAs(out string) ([]IkegateSA, error) {
	s := strings.TrimSpace(out)
	var sas []IkegateSA
	if strings.HasPrefix(s, "{") {
		var w struct {
			SAs []IkegateSA `json:"sas"`
		}
		if err := json.Unmarshal([]byte(s), &w); err != nil {
			return nil, fmt.Errorf("ikegate sas --json: %v: %q", err, s)
		}
		return w.SAs, nil
	}
	if s == "" || s == "null" {
		return nil, nil
	}
	if err := json.Unmarshal([]byte(s), &sas); err != nil {
		return nil, fmt.Errorf("ikegate sas --json: %v: %q", err, s)
	}
	return sas, nil
}

// SA returns the IKE SA of connection name, or nil.
func (g *Ikegate) SA(name string) *IkegateSA {
	sas, err := g.SAs()
	if err != nil {
		return nil
	}
	for i := range sas {
		if sas[i].Name == name {
			return &sas[i]
		}
	}
	return nil
}

// Established reports whether connection name has an ESTABLISHED IKE SA.
func (g *Ikegate) Established(name string) bool {
	sa := g.SA(name)
	return sa != nil && sa.State == "ESTABLISHED"
}

// Log returns ikegate's output so far.
func (g *Ikegate) Log() string {
	b, _ := os.ReadFile(g.LogPath)
	return string(b)
}
