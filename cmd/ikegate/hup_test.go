package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// With IKEGATE_TEST_MAIN set (to the JSON of the arguments), the test
// binary is ikegate: TestSIGHUP runs the daemon in a process of its own
// to send it signals.
func TestMain(m *testing.M) {
	if a := os.Getenv("IKEGATE_TEST_MAIN"); a != "" {
		var args []string
		if err := json.Unmarshal([]byte(a), &args); err != nil {
			panic(err)
		}
		os.Exit(run(args, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSIGHUP: `ikegate run` survives SIGHUP (Go's default is to die),
// logs that reload is not implemented, keeps serving, and still stops
// cleanly on SIGTERM.
func TestSIGHUP(t *testing.T) {
	ports := freePorts(t, 2)
	dir, err := os.MkdirTemp("", "ikehup") // short: a socket path has a length limit
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "ctl.sock")
	cfg := writeFile(t, "hup.toml", strings.NewReplacer("15900", strconv.Itoa(ports[0]), "15901", strconv.Itoa(ports[1]),
		"/tmp/ikegate-test-unused.sock", sock).Replace(goodConfig))
	args, _ := json.Marshal([]string{"run", "--config", cfg})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "IKEGATE_TEST_MAIN="+string(args))
	var stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	}()

	// The SIGHUP handler is in place before the control socket exists.
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			select {
			case err := <-exited:
				t.Fatalf("daemon exited (%v) while waiting for %s:\n%s", err, what, stderr.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s:\n%s", what, stderr.String())
			}
		}
	}
	serving := func() bool {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	waitFor("the control socket", serving)

	for i := 1; i <= 2; i++ {
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitFor("the SIGHUP log line", func() bool { return strings.Count(stderr.String(), hupMessage) == i })
	}
	if !strings.Contains(stderr.String(), "reloaded: 0 connection(s) added") {
		t.Errorf("log:\n%s", stderr.String())
	}
	if code, stdout, e := runCmd(t, "conns", "--names", "--control", sock); code != 0 || stdout != "site-b\n" {
		t.Errorf("after SIGHUP: conns --names: exit %d, stdout %q, stderr %q", code, stdout, e)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("still running 10s after SIGTERM:\n%s", stderr.String())
	}
}
