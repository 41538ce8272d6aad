//go:build linux

// Package netnstest gives tests their own network namespaces: created
// without moving the test's threads, and entered by one locked thread
// for the work that must run inside.
package netnstest

import (
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netns"
)

// New creates a network namespace for t, closed at its end, without
// entering it. Without root the test is skipped with why in the message
// (CI runs as root: a skip there means the test did not run).
func New(t testing.TB, why string) netns.NsHandle {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: NOT ROOT — " + why + " needs root (CAP_NET_ADMIN) for a network namespace; " +
			"CI runs as root, so a skip there means it did NOT run")
	}
	var ns netns.NsHandle
	Run(t, netns.None(), func() error {
		var err error
		ns, err = netns.New()
		if err != nil {
			return fmt.Errorf("create network namespace: %w", err)
		}
		return nil
	})
	t.Cleanup(func() { ns.Close() })
	return ns
}

// Run runs f on a thread inside ns (netns.None(): the current one) and
// returns the thread to where it was; a thread that cannot go back dies
// with its goroutine. An error of f fails t.
func Run(t testing.TB, ns netns.NsHandle, f func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if ns.IsOpen() {
			if err := netns.Set(ns); err != nil {
				errc <- err
				return
			}
		}
		err = f()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
