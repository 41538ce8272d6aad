package main

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"ikegate/gateway"
)

// TestCheckWarnings: check prints the loader's warnings (secrets readable
// by others, a listen address not on this host, an unknown control_group)
// to stderr with the file name, key and line, and still passes the file.
func TestCheckWarnings(t *testing.T) {
	tests := []struct {
		name string
		text string
		mode os.FileMode
		code int
		want []string // stderr lines (substrings, in order); none: stderr empty
	}{
		{"clean", goodConfig, 0o600, 0, nil},
		{"psk readable", goodConfig, 0o644, 0,
			[]string{`: holds secrets (psk, line 17) but is readable by group and others (mode 0644): chmod 600 `}},
		{"psk readable by group", goodConfig, 0o640, 0,
			[]string{`: holds secrets (psk, line 17) but is readable by group (mode 0640)`}},
		{"listen not on host", strings.Replace(goodConfig, `listen = ["127.0.0.1"]`, `listen = ["127.0.0.1", "192.0.2.77"]`, 1), 0o600, 0,
			[]string{`: gateway: key "listen": 192.0.2.77 is not an address of this host: ` + "`ikegate run`" + ` cannot bind it (line 3)`}},
		{"unknown control_group", strings.Replace(goodConfig, "dataplane = \"none\"\n", "dataplane = \"none\"\ncontrol_group = \"ikegate-no-such-group\"\n", 1), 0o600, 0,
			[]string{`: gateway: key "control_group": group "ikegate-no-such-group" does not exist on this host`}},
		{"warnings with an error", strings.Replace(goodConfig, "dataplane = \"none\"\n", "dataplane = \"none\"\nworkers = 5000\n", 1), 0o644, 2,
			[]string{`warning: `, `holds secrets (psk, line 18)`, `: gateway: key "workers": 5000 is out of range: must be from 0 to 1024 (0 means one per CPU) (line 7)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, "c.toml", tt.text)
			if err := os.Chmod(p, tt.mode); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := runCmd(t, "check", p)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tt.code, stderr)
			}
			if tt.code == 0 && stdout != p+": OK (1 connection)\n" {
				t.Errorf("stdout %q", stdout)
			}
			if tt.want == nil {
				if stderr != "" {
					t.Errorf("stderr %q, want none", stderr)
				}
				return
			}
			rest := stderr
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("stderr\n%s\nlacks (in order) %q", stderr, w)
				}
				rest = rest[i+len(w):]
			}
			for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
				if strings.HasPrefix(line, "warning: ") && !strings.HasPrefix(line, "warning: "+p+": ") {
					t.Errorf("warning without the file name: %q", line)
				}
			}
		})
	}
}

// TestRunBindErrors: run reports a listen address it cannot bind with the
// file, the listen key and its line (and says when the address is not on
// this host), and logs the loader's warnings first.
func TestRunBindErrors(t *testing.T) {
	ports := freePorts(t, 2)
	busy, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.LocalAddr().(*net.UDPAddr).Port
	cfg := func(listen string, ike int) string {
		return strings.NewReplacer(`listen = ["127.0.0.1"]`, "listen = "+listen,
			"15900", strconv.Itoa(ike), "15901", strconv.Itoa(ports[1])).Replace(goodConfig)
	}
	tests := []struct {
		name string
		text string
		want []string
		not  string
	}{
		{"not on host", cfg(`["127.0.0.1", "192.0.2.77"]`, ports[0]), []string{
			`WARN`, `: gateway: key "listen": 192.0.2.77 is not an address of this host`,
			`ERROR`, `: gateway: key "listen": cannot bind 192.0.2.77:` + strconv.Itoa(ports[0]) + `: bind: cannot assign requested address (the address is not on this host) (line 3)`,
		}, ""},
		{"port in use", cfg(`["127.0.0.1"]`, busyPort), []string{
			`ERROR`, `: gateway: key "listen": cannot bind 127.0.0.1:` + strconv.Itoa(busyPort) + `: bind: address already in use (line 3)`,
		}, "not on this host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, "run.toml", tt.text)
			code, _, stderr := runCmd(t, "run", "--config", p)
			if code != exitFailure {
				t.Errorf("exit %d, want %d", code, exitFailure)
			}
			rest := stderr
			for _, w := range tt.want {
				if strings.HasPrefix(w, ": ") {
					w = p + w
				}
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("stderr\n%s\nlacks (in order) %q", stderr, w)
				}
				rest = rest[i+len(w):]
			}
			if tt.not != "" && strings.Contains(stderr, tt.not) {
				t.Errorf("stderr says %q:\n%s", tt.not, stderr)
			}
		})
	}
}

func TestBindError(t *testing.T) {
	const file = "/nonexistent/x.toml"
	ap := netip.MustParseAddrPort("192.0.2.77:500")
	opErr := func(errno syscall.Errno) error {
		return &net.OpError{Op: "listen", Net: "udp4", Err: os.NewSyscallError("bind", errno)}
	}
	tests := []struct {
		name string
		err  error
		want string // "": not a bind error
	}{
		{"other error", errors.New("gateway: dataplane: boom"), ""},
		{"not local", &gateway.ListenError{Addr: ap, Err: opErr(syscall.EADDRNOTAVAIL)},
			file + `: gateway: key "listen": cannot bind 192.0.2.77:500: bind: cannot assign requested address (the address is not on this host)`},
		{"in use, wrapped", errors.Join(errors.New("x"), &gateway.ListenError{Addr: ap, Err: opErr(syscall.EADDRINUSE)}),
			file + `: gateway: key "listen": cannot bind 192.0.2.77:500: bind: address already in use`},
		{"permission", &gateway.ListenError{Addr: ap, Err: opErr(syscall.EACCES)},
			file + `: gateway: key "listen": cannot bind 192.0.2.77:500: bind: permission denied`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fe := bindError(file, tt.err)
			switch {
			case tt.want == "" && fe != nil:
				t.Errorf("got %v, want nil", fe)
			case tt.want != "" && (fe == nil || fe.Error() != tt.want):
				t.Errorf("got %v\nwant %s", fe, tt.want)
			}
		})
	}
}

func TestLocalAddrs(t *testing.T) {
	local := localAddrs()
	for _, tt := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true}, {"127.0.0.2", true}, {"::1", true}, {"::ffff:127.0.0.1", true},
		{"192.0.2.77", false}, {"2001:db8::77", false},
	} {
		if got := local(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("local(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}
