package interop

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// Pinger is a continuous IPv4 ping from src to dst inside a namespace,
// one echo request every interval, recording when replies came.
type Pinger struct {
	c     *net.IPConn
	id    uint16
	stop  chan struct{}
	done  sync.WaitGroup
	mu    sync.Mutex
	sent  int
	got   map[uint16]bool
	times []time.Time // reply arrival times, in order
}

// StartPinger starts pinging; t.Cleanup stops it.
func StartPinger(t testing.TB, ns, src, dst string, interval time.Duration) *Pinger {
	t.Helper()
	p := &Pinger{id: uint16(rand.Uint32()), stop: make(chan struct{}), got: map[uint16]bool{}}
	if err := InNetns(ns, func() error {
		var err error
		p.c, err = net.ListenIP("ip4:icmp", &net.IPAddr{IP: net.ParseIP(src)})
		return err
	}); err != nil {
		t.Fatalf("pinger %s -> %s: %v", src, dst, err)
	}
	dstIP := &net.IPAddr{IP: net.ParseIP(dst)}
	p.done.Add(2)
	go func() {
		defer p.done.Done()
		buf := make([]byte, 1500)
		for {
			n, from, err := p.c.ReadFrom(buf)
			if err != nil {
				return
			}
			m := buf[:n]
			if len(m) < 8 || m[0] != 0 || !dstIP.IP.Equal(from.(*net.IPAddr).IP) || binary.BigEndian.Uint16(m[4:]) != p.id {
				continue
			}
			seq := binary.BigEndian.Uint16(m[6:])
			p.mu.Lock()
			if !p.got[seq] {
				p.got[seq] = true
				p.times = append(p.times, time.Now())
			}
			p.mu.Unlock()
		}
	}()
	go func() {
		defer p.done.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for seq := uint16(0); ; seq++ {
			msg := make([]byte, 64)
			msg[0] = 8
			binary.BigEndian.PutUint16(msg[4:], p.id)
			binary.BigEndian.PutUint16(msg[6:], seq)
			copy(msg[8:], "ikegate cluster test")
			binary.BigEndian.PutUint16(msg[2:], inetChecksum(msg))
			p.c.WriteTo(msg, dstIP) // a failure is a lost ping
			p.mu.Lock()
			p.sent++
			p.mu.Unlock()
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(p.Stop)
	return p
}

// Stop ends the pinger (waiting a second for the last replies).
func (p *Pinger) Stop() {
	select {
	case <-p.stop:
		return
	default:
	}
	close(p.stop)
	time.Sleep(time.Second)
	p.c.Close()
	p.done.Wait()
}

// Counts returns the requests sent and the replies received so far.
func (p *Pinger) Counts() (sent, replies int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent, len(p.got)
}

// MaxGap is the longest time without a reply between from and to (the
// gaps between consecutive replies, and from the last reply to to).
func (p *Pinger) MaxGap(from, to time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	var gap time.Duration
	last := from
	for _, r := range p.times {
		if r.Before(from) || r.After(to) {
			continue
		}
		gap = max(gap, r.Sub(last))
		last = r
	}
	return max(gap, to.Sub(last))
}
