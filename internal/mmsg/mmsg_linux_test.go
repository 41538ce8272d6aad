//go:build linux

package mmsg

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSendRecv sends three datagrams over loopback with one Send and
// reads them with Recv, both from RawConn callbacks; an empty socket
// asks the poller to wait (done false) until the read deadline.
func TestSendRecv(t *testing.T) {
	a, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := net.DialUDP("udp4", nil, a.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	msgs := [][]byte{[]byte("one"), []byte("two!"), []byte("three")}
	hdrs := make([]unix.Mmsghdr, len(msgs))
	iovs := make([]unix.Iovec, len(msgs))
	for i, m := range msgs {
		iovs[i].Base = &m[0]
		iovs[i].SetLen(len(m))
		hdrs[i].Hdr.Iov = &iovs[i]
		hdrs[i].Hdr.SetIovlen(1)
	}
	wc, _ := b.SyscallConn()
	var sent int
	var serr error
	if err := wc.Write(func(fd uintptr) bool {
		var done bool
		sent, done, serr = Send(fd, hdrs)
		return done
	}); err != nil || serr != nil || sent != len(msgs) {
		t.Fatalf("Send: %d sent, %v, %v", sent, err, serr)
	}

	rbufs := make([][]byte, 8)
	rhdrs := make([]unix.Mmsghdr, len(rbufs))
	riovs := make([]unix.Iovec, len(rbufs))
	for i := range rbufs {
		rbufs[i] = make([]byte, 64)
		riovs[i].Base = &rbufs[i][0]
		riovs[i].SetLen(64)
		rhdrs[i].Hdr.Iov = &riovs[i]
		rhdrs[i].Hdr.SetIovlen(1)
	}
	rc, _ := a.SyscallConn()
	got := 0
	for got < len(msgs) {
		var n int
		var rerr error
		if err := rc.Read(func(fd uintptr) bool {
			var done bool
			n, done, rerr = Recv(fd, rhdrs)
			return done
		}); err != nil || rerr != nil {
			t.Fatalf("Recv: %v, %v", err, rerr)
		}
		if got+n > len(msgs) {
			t.Fatalf("%d messages read, %d sent", got+n, len(msgs))
		}
		for j := range n {
			if g := string(rbufs[j][:rhdrs[j].Len]); g != string(msgs[got+j]) {
				t.Errorf("message %d: %q, want %q", got+j, g, msgs[got+j])
			}
		}
		got += n
	}

	// Nothing left: the callback says wait, and the deadline ends it.
	a.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	waits := 0
	err = rc.Read(func(fd uintptr) bool {
		_, done, _ := Recv(fd, rhdrs)
		if !done {
			waits++
		}
		return done
	})
	if err == nil || waits == 0 {
		t.Errorf("empty socket: err %v after %d waits, want a timeout after at least one", err, waits)
	}
}
