package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode"
)

// Bounds of the numeric [gateway] and [[connection]] keys, checked by the
// loader (an out-of-range value is an error naming file, key and line).
// They admit the short values the interop lab uses on purpose (lifetimes
// of 6-10 s, dpd_delay 3 s / dpd_timeout 9 s, natt_keepalive 2 s,
// retransmit_tries 2).
const (
	// workers: 0 is one shard per CPU; more than 1024 shards only adds
	// goroutines and divides cookie_threshold to nothing.
	MinWorkers = 0
	MaxWorkers = 1024

	// cookie_threshold: 0 demands a cookie always; a million half-open
	// IKE SAs is beyond what any gateway holds, so it means "never".
	MinCookieThreshold = 0
	MaxCookieThreshold = 1_000_000

	// retransmit_tries / retransmit_timeout: the timeout doubles on each
	// try, so 10 tries from 10 s already wait 2.8 hours in all. strongSwan
	// defaults to 5 tries from 4 s, Libreswan to 500 ms.
	MinRetransmitTries   = 1
	MaxRetransmitTries   = 10
	MinRetransmitTimeout = 100 * time.Millisecond
	MaxRetransmitTimeout = 10 * time.Second

	// natt_keepalive: RFC 4787 (REQ-5) lets a NAT drop an idle UDP
	// mapping after two minutes, so a longer interval keeps nothing open.
	MinNATKeepalive = time.Second
	MaxNATKeepalive = 2 * time.Minute

	// ike_lifetime / child_lifetime: Libreswan's maximum for both is 24 h
	// (and IKEv1 peers commonly refuse more); below a few seconds an SA
	// spends its life rekeying. The lab rekey tests use 6-10 s.
	MinLifetime = 5 * time.Second
	MaxLifetime = 24 * time.Hour

	// dpd_delay / dpd_timeout: below a second is a flood of probes; a
	// peer silent for more than an hour is not "detected" by DPD in any
	// useful sense.
	MinDPDDelay   = time.Second
	MaxDPDDelay   = time.Hour
	MinDPDTimeout = time.Second
	MaxDPDTimeout = time.Hour
)

// Host is what LoadHost checks a configuration against besides its own
// rules: this host's addresses and groups. Every finding is a warning.
type Host struct {
	// IsLocal reports whether an address is one of this host's (nil: the
	// listen addresses are not checked). Unspecified addresses (0.0.0.0,
	// ::) are not asked about.
	IsLocal func(netip.Addr) bool
	// LookupGroup returns an error when the group (name or numeric ID)
	// does not exist on this host (nil: control_group is not checked).
	LookupGroup func(name string) error
}

// LoadHost is Load plus checks whose findings are warnings rather than
// errors, returned as *FieldError in document order (also when err is not
// nil):
//
//   - a listen address that is not on this host (h.IsLocal), which `run`
//     will fail to bind;
//   - a control_group that does not exist (h.LookupGroup);
//   - a file holding secrets that its group or others may read: the
//     configuration file itself when it has a psk, password, nt_hash or
//     [radius] secret, and the private key files it names.
func LoadHost(path string, h Host) (*Config, []*FieldError, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading config: %w", err)
	}
	l := &cfgLoader{file: path, dir: filepath.Dir(path), src: data, host: &h}
	cfg := l.parse()
	if l.lines != nil {
		l.configFileSecrets()
	}
	sort.SliceStable(l.warns, func(i, j int) bool { return warnLine(l.warns[i]) < warnLine(l.warns[j]) })
	if len(l.errs) > 0 {
		l.sortErrs()
		return nil, l.warns, errors.Join(l.errs...)
	}
	return cfg, l.warns, nil
}

// warnLine orders warnings: those about the whole file first, then by line.
func warnLine(w *FieldError) int {
	if w.Section == "" && w.Key == "" {
		return -1
	}
	return w.Line
}

// Line returns the line of key in section of the configuration file at
// path (0 if unknown). Sections are named as in the file: "gateway",
// "radius", and "connection#0", "user#2", ... for the tables of an array.
// It lets errors found after loading (a listen address that cannot be
// bound) point at the key.
func Line(path, section, key string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	lines := cfgIndexLines(data)
	if section == "" {
		return lines[key]
	}
	return lines[section+"."+key]
}

// warnf records a warning about key, as errf records an error.
func (t *cfgTable) warnf(key, format string, args ...any) {
	t.l.warns = append(t.l.warns, &FieldError{
		File: t.l.file, Section: t.sec, Key: key, Line: t.line(key),
		Err: fmt.Errorf(format, args...),
	})
}

// intIn reads an integer that must lie in [lo, hi] into *dst; note, if
// set, explains a special value in the error ("0 means one per CPU").
func (t *cfgTable) intIn(key string, dst *int, lo, hi int, note string) {
	v, ok := t.int(key)
	if !ok {
		return
	}
	if v < lo || v > hi {
		if note != "" {
			note = " (" + note + ")"
		}
		t.errf(key, "%d is out of range: must be from %d to %d%s", v, lo, hi, note)
		return
	}
	*dst = v
}

// durationIn reads a duration written as a string ("30s", "4h") that
// must be positive and lie in [lo, hi] into *dst.
func (t *cfgTable) durationIn(key string, dst *time.Duration, lo, hi time.Duration) {
	s, ok := t.str(key)
	if !ok {
		return
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		t.errf(key, "%q is not a duration (like \"30s\", \"1h30m\")", s)
	case d <= 0:
		t.errf(key, "%q: must be positive", s)
	case d < lo || d > hi:
		t.errf(key, "%q is out of range: must be from %s to %s", s, cfgFmtDuration(lo), cfgFmtDuration(hi))
	default:
		*dst = d
	}
}

// cfgFmtDuration writes d as a config file would: "24h", "2m", "100ms".
func cfgFmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// controlGroup checks gateway.control_group's value.
func (l *cfgLoader) controlGroup(t *cfgTable, v string) {
	switch {
	case v == "":
		t.errf("control_group", "must not be empty (leave the key out for a socket only root may use, mode 0600)")
	case strings.ContainsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == ':' }):
		t.errf("control_group", "%q is not a group name", v)
	case l.host != nil && l.host.LookupGroup != nil:
		if err := l.host.LookupGroup(v); err != nil {
			t.warnf("control_group", "group %q does not exist on this host: `ikegate run` will fail to create the control socket", v)
		}
	}
}

// listenOnHost warns about a listen address that is not on this host.
func (l *cfgLoader) listenOnHost(t *cfgTable, a netip.Addr) {
	if l.host == nil || l.host.IsLocal == nil || a.IsUnspecified() {
		return
	}
	if !l.host.IsLocal(a) {
		t.warnf("listen", "%s is not an address of this host: `ikegate run` cannot bind it", a)
	}
}

// secretFile warns when path, a file holding a secret (a private key),
// may be read by its group or others.
func (l *cfgLoader) secretFile(t *cfgTable, key, path string) {
	if l.host == nil {
		return
	}
	fi, err := os.Stat(path)
	if err != nil {
		return
	}
	if who := cfgReadableBy(fi.Mode()); who != "" {
		t.warnf(key, "%s holds a private key but is readable by %s (mode %04o): chmod 600 %s", path, who, fi.Mode().Perm(), path)
	}
}

// configFileSecrets warns when the configuration file holds secrets (psk,
// password, nt_hash, radius secret) and may be read by group or others.
func (l *cfgLoader) configFileSecrets() {
	fi, err := os.Stat(l.file)
	if err != nil {
		return
	}
	who := cfgReadableBy(fi.Mode())
	if who == "" {
		return
	}
	key, line := cfgFirstSecret(l.lines)
	if key == "" {
		return
	}
	l.warns = append(l.warns, &FieldError{File: l.file, Err: fmt.Errorf(
		"holds secrets (%s, line %d) but is readable by %s (mode %04o): chmod 600 %s", key, line, who, fi.Mode().Perm(), l.file)})
}

// cfgFirstSecret returns the first secret key of the file ("psk",
// "password", "nt_hash" or "radius secret") and its line.
func cfgFirstSecret(lines cfgLineIndex) (string, int) {
	best, bestLine := "", 0
	for k, n := range lines {
		sec, key, ok := strings.Cut(k, ".")
		if !ok {
			continue
		}
		kind, _, _ := strings.Cut(sec, "#")
		var name string
		switch {
		case kind == "connection" && key == "psk":
			name = "psk"
		case kind == "user" && (key == "password" || key == "nt_hash"):
			name = key
		case sec == "radius" && key == "secret":
			name = "radius secret"
		default:
			continue
		}
		if best == "" || n < bestLine {
			best, bestLine = name, n
		}
	}
	return best, bestLine
}

// cfgReadableBy says who besides the owner may read a file of mode m:
// "group", "others", "group and others", or "" for nobody.
func cfgReadableBy(m fs.FileMode) string {
	g, o := m&0o040 != 0, m&0o004 != 0
	switch {
	case g && o:
		return "group and others"
	case g:
		return "group"
	case o:
		return "others"
	}
	return ""
}
