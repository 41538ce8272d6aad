//go:build bench

package interop

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTrafficBenchmark (case 5, built only with -tags bench, which
// interop/bench-traffic.sh passes, so it is not part of the test run): TCP throughput
// through one AES-GCM-128 tunnel with 1400-byte inner packets (TUN MTU
// 1400 on every side), ikegate-to-ikegate (userspace dataplane) and
// strongSwan-libipsec-to-strongSwan-libipsec, in the same run on the same
// host, with the CPU time (utime+stime from /proc/PID/stat) each daemon
// used during the transfers. IKEGATE_BENCH_MB sets the size of each
// transfer (default 200), IKEGATE_BENCH_RUNS the runs per direction
// (default 3; the median is reported), IKEGATE_BENCH_FLOWS the TCP
// connections that carry each transfer at once (default 1; the MB split
// evenly between them, MB/s counted over the whole), which a multi-queue
// TUN device spreads over its queues (a single connection stays on one).
func TestTrafficBenchmark(t *testing.T) {
	RequireLab(t)
	mb := envInt("IKEGATE_BENCH_MB", 200)
	runs := envInt("IKEGATE_BENCH_RUNS", 3)
	flows := envInt("IKEGATE_BENCH_FLOWS", 1)

	type result struct {
		name       string
		fwd, rev   benchFigure
		leftPID    int
		rightPID   int
		leftLabel  string
		rightLabel string
	}
	var results []result

	// ikegate <-> ikegate.
	{
		lab := NewLab(t)
		lab.AddSubnet(t, lab.Left, "sn0", leftHost(0)+"/24")
		lab.AddSubnet(t, lab.Right, "gs0", rightHost(0)+"/24")
		c := trafficConn("bench", 2, 0, LeftAddr, RightAddr, "aes128gcm16-prfsha256-x25519", "aes128gcm16")
		gl, gr := userspaceGateway(LeftAddr), userspaceGateway(RightAddr)
		gl.LogLevel, gr.LogLevel = "info", "info"
		left := lab.StartIkegate(t, lab.Left, IkegateTOML(gl, c))
		right := lab.StartIkegate(t, lab.Right, IkegateTOML(gr, c.Mirror()))
		if out, err := left.Up("bench"); err != nil {
			t.Fatalf("up: %v\n%s", err, out)
		}
		waitGateSA(t, left, "bench", 10*time.Second, settled(1))
		waitGateSA(t, right, "bench", 10*time.Second, settled(1))
		logMTU(t, lab.Left, "ikegate0")
		r := result{name: "ikegate <-> ikegate (userspace ESP)", leftPID: left.Proc.Pid(), rightPID: right.Proc.Pid(),
			leftLabel: "ikegate L", rightLabel: "ikegate R"}
		r.fwd, r.rev = benchBothWays(t, lab, r.leftPID, r.rightPID, mb, runs, flows)
		results = append(results, r)
		// Which TUN queues carried the traffic (IKEGATE_USERSPACE_QUEUES).
		for _, g := range []*Ikegate{left, right} {
			out, err := g.ctl("stats", "--json")
			var st struct {
				TUNQueueReads []uint64 `json:"tun_queue_reads"`
			}
			if err == nil {
				err = json.Unmarshal([]byte(out), &st)
			}
			t.Logf("%s: packets read per TUN queue %v (%v)", g.NS, st.TUNQueueReads, err)
			fmt.Printf("ikegate in %s: packets read per TUN queue %v\n", g.NS, st.TUNQueueReads)
		}
		left.Proc.Stop()
		right.Proc.Stop()
	}

	// strongSwan libipsec <-> strongSwan libipsec.
	{
		lab := NewLab(t)
		lab.AddSubnet(t, lab.Left, "sn0", leftHost(0)+"/24")
		lab.AddSubnet(t, lab.Right, "gs0", rightHost(0)+"/24")
		c := trafficConn("bench", 2, 0, LeftAddr, RightAddr, "aes128gcm16-prfsha256-x25519", "aes128gcm16")
		quiet := "default = 0\nike = 1\ncfg = 0\nknl = 1\nnet = 0\nenc = 0"
		right := lab.StartStrongSwan(t, lab.Right, SwanConfig{Conns: []Conn{c.Mirror()}, LibIPsec: true, LogLevels: quiet})
		left := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: []Conn{c}, LibIPsec: true, LogLevels: quiet})
		if out, err := left.Initiate("bench", 10); err != nil {
			t.Fatalf("swanctl --initiate: %v\n%s", err, out)
		}
		waitSwanSA(t, left, "bench", 1, 10*time.Second)
		waitSwanSA(t, right, "bench", 1, 10*time.Second)
		for _, ns := range []string{lab.Left, lab.Right} {
			// Same inner packet size as ikegate's TUN.
			MustRun(t, IPCmd, "-n", ns, "link", "set", "ipsec0", "mtu", "1400")
		}
		logMTU(t, lab.Left, "ipsec0")
		r := result{name: "strongSwan libipsec <-> strongSwan libipsec", leftPID: left.Proc.Pid(), rightPID: right.Proc.Pid(),
			leftLabel: "charon L", rightLabel: "charon R"}
		r.fwd, r.rev = benchBothWays(t, lab, r.leftPID, r.rightPID, mb, runs, flows)
		results = append(results, r)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\nTCP through one tunnel, AES-GCM-128, inner MTU 1400, %d MB per transfer over %d connection(s), median of %d runs, %d CPUs\n",
		mb, flows, runs, runtime.NumCPU())
	fmt.Fprintf(&b, "%-46s %-6s %9s %22s %22s\n", "setup", "dir", "MB/s", "CPU s/GB sender-side", "CPU s/GB receiver-side")
	for _, r := range results {
		for _, f := range []struct {
			dir string
			f   benchFigure
		}{{"L->R", r.fwd}, {"R->L", r.rev}} {
			fmt.Fprintf(&b, "%-46s %-6s %9.1f %22.2f %22.2f\n", r.name, f.dir, f.f.MBps, f.f.SendCPUPerGB, f.f.RecvCPUPerGB)
		}
	}
	if len(results) == 2 {
		ig, sw := results[0], results[1]
		fmt.Fprintf(&b, "throughput ratio ikegate/strongSwan: L->R %.2f, R->L %.2f\n", ig.fwd.MBps/sw.fwd.MBps, ig.rev.MBps/sw.rev.MBps)
		fmt.Fprintf(&b, "CPU per GB ratio ikegate/strongSwan (both daemons): L->R %.2f, R->L %.2f\n",
			(ig.fwd.SendCPUPerGB+ig.fwd.RecvCPUPerGB)/(sw.fwd.SendCPUPerGB+sw.fwd.RecvCPUPerGB),
			(ig.rev.SendCPUPerGB+ig.rev.RecvCPUPerGB)/(sw.rev.SendCPUPerGB+sw.rev.RecvCPUPerGB))
	}
	t.Log(b.String())
	fmt.Print(b.String())
}

// benchFigure is the median run of one direction.
type benchFigure struct {
	MBps                       float64
	SendCPUPerGB, RecvCPUPerGB float64 // CPU seconds per GB of payload, of the sending and receiving side's daemon
}

func benchBothWays(t *testing.T, lab *Lab, leftPID, rightPID, mb, runs, flows int) (fwd, rev benchFigure) {
	t.Helper()
	// Warm up (TCP, pools, page cache of nothing): 20 MB.
	if _, err := Transfer(lab.Left, leftHost(0), lab.Right, rightHost(0), 20<<20, false, 60*time.Second); err != nil {
		t.Fatalf("warm-up: %v", err)
	}
	one := func(sNS, src, dNS, dst string, sPID, dPID int) benchFigure {
		var figs []benchFigure
		for range runs {
			s0, _ := CPUTime(sPID)
			d0, _ := CPUTime(dPID)
			r, err := transferFlows(sNS, src, dNS, dst, int64(mb)<<20, flows, 120*time.Second)
			if err != nil {
				t.Fatalf("transfer %s -> %s: %v", src, dst, err)
			}
			s1, _ := CPUTime(sPID)
			d1, _ := CPUTime(dPID)
			gb := float64(r.Bytes) / 1e9
			f := benchFigure{MBps: r.MBps(), SendCPUPerGB: (s1 - s0).Seconds() / gb, RecvCPUPerGB: (d1 - d0).Seconds() / gb}
			t.Logf("%s -> %s: %s; CPU sender-side daemon %v, receiver-side daemon %v", src, dst, r, s1-s0, d1-d0)
			figs = append(figs, f)
		}
		sort.Slice(figs, func(i, j int) bool { return figs[i].MBps < figs[j].MBps })
		return figs[len(figs)/2]
	}
	fwd = one(lab.Left, leftHost(0), lab.Right, rightHost(0), leftPID, rightPID)
	rev = one(lab.Right, rightHost(0), lab.Left, leftHost(0), rightPID, leftPID)
	return fwd, rev
}

// transferFlows is Transfer of n bytes over flows connections at once
// (n/flows each): the bytes of all, over the time until the last ended.
func transferFlows(srcNS, src, dstNS, dst string, n int64, flows int, timeout time.Duration) (TransferResult, error) {
	if flows <= 1 {
		return Transfer(srcNS, src, dstNS, dst, n, false, timeout)
	}
	type res struct {
		r   TransferResult
		err error
	}
	ch := make(chan res, flows)
	t0 := time.Now()
	for range flows {
		go func() {
			r, err := Transfer(srcNS, src, dstNS, dst, n/int64(flows), false, timeout)
			ch <- res{r, err}
		}()
	}
	var total TransferResult
	var errs []error
	for range flows {
		r := <-ch
		total.Bytes += r.r.Bytes
		if r.err != nil {
			errs = append(errs, r.err)
		}
	}
	total.Elapsed = time.Since(t0)
	return total, errors.Join(errs...)
}

func logMTU(t *testing.T, ns, dev string) {
	out, err := runOut(IPCmd, "-n", ns, "-o", "link", "show", dev)
	t.Logf("%s in %s: %s %v", dev, ns, strings.TrimSpace(out), err)
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
		return v
	}
	return def
}
