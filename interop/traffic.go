package interop

// Traffic through the tunnels: ping, bulk transfers with end-to-end hashes,
// raw frames captured and re-injected (replay, tampering), a NAT router
// namespace, captures of the non-ESP part of the wire, and the CPU time of
// a daemon. Everything that talks on the network runs inside the test
// process, on a thread moved into the namespace just long enough to create
// the socket (a socket stays in the namespace it was created in), so no
// ping/socat/nc is needed on the host.

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// InNetns runs f on an OS thread inside the named namespace (one created
// with `ip netns add`). Sockets f creates belong to that namespace for
// their whole life, whatever thread later uses them.
func InNetns(name string, f func() error) error {
	type res struct{ err error }
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			ch <- res{err}
			return
		}
		defer orig.Close()
		h, err := netns.GetFromName(name)
		if err != nil {
			ch <- res{fmt.Errorf("netns %s: %w", name, err)}
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			ch <- res{fmt.Errorf("setns %s: %w", name, err)}
			return
		}
		err = f()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread() // otherwise the thread ends with the goroutine
		}
		ch <- res{err}
	}()
	return (<-ch).err
}

// Ping sends count ICMP (IPv6: ICMPv6) echo requests from src to dst
// inside namespace ns, one every interval, and returns how many replies
// came back within timeout after the last request.
func Ping(ns, src, dst string, count int, interval, timeout time.Duration) (int, error) {
	// IPv4: type 8 asks, 0 answers, and we checksum; ICMPv6: 128 and 129,
	// and the kernel checksums raw ICMPv6 sockets.
	network, echo, reply := "ip4:icmp", byte(8), byte(0)
	if v6 := net.ParseIP(dst); v6 != nil && v6.To4() == nil {
		network, echo, reply = "ip6:ipv6-icmp", 128, 129
	}
	var c *net.IPConn
	err := InNetns(ns, func() error {
		var err error
		c, err = net.ListenIP(network, &net.IPAddr{IP: net.ParseIP(src)})
		return err
	})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	id := uint16(rand.Uint32())
	dstIP := &net.IPAddr{IP: net.ParseIP(dst)}
	got := map[uint16]bool{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for len(got) < count {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return // deadline
			}
			m := buf[:n]
			if len(m) < 8 || m[0] != reply || !net.ParseIP(dst).Equal(from.(*net.IPAddr).IP) || binary.BigEndian.Uint16(m[4:]) != id {
				continue
			}
			got[binary.BigEndian.Uint16(m[6:])] = true
		}
	}()
	for seq := 0; seq < count; seq++ {
		msg := make([]byte, 64)
		msg[0] = echo
		binary.BigEndian.PutUint16(msg[4:], id)
		binary.BigEndian.PutUint16(msg[6:], uint16(seq))
		copy(msg[8:], "ikegate traffic test")
		if echo == 8 {
			binary.BigEndian.PutUint16(msg[2:], inetChecksum(msg))
		}
		if _, err := c.WriteTo(msg, dstIP); err != nil {
			c.Close()
			<-done
			return 0, fmt.Errorf("ping %s -> %s: %w", src, dst, err)
		}
		if seq < count-1 {
			time.Sleep(interval)
		}
	}
	c.SetReadDeadline(time.Now().Add(timeout))
	<-done
	return len(got), nil
}

func inetChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// TransferResult is one bulk transfer.
type TransferResult struct {
	Bytes            int64
	Elapsed          time.Duration
	SentSHA, RecvSHA string // hex sha256 of what was written / read (empty without hashing)
}

// MBps is the throughput in MB/s (10^6 bytes).
func (r TransferResult) MBps() float64 { return float64(r.Bytes) / 1e6 / r.Elapsed.Seconds() }

func (r TransferResult) String() string {
	return fmt.Sprintf("%d bytes in %v (%.1f MB/s)", r.Bytes, r.Elapsed.Round(time.Millisecond), r.MBps())
}

// Transfer sends n pseudo-random bytes over TCP from srcAddr in namespace
// srcNS to dstAddr in dstNS and returns the sha256 of what was sent and of
// what arrived (hash false: only counts, for benchmarks).
func Transfer(srcNS, srcAddr, dstNS, dstAddr string, n int64, hash bool, timeout time.Duration) (TransferResult, error) {
	var ln *net.TCPListener
	if err := InNetns(dstNS, func() error {
		var err error
		ln, err = net.ListenTCP("tcp4", &net.TCPAddr{IP: net.ParseIP(dstAddr)})
		return err
	}); err != nil {
		return TransferResult{}, err
	}
	defer ln.Close()
	deadline := time.Now().Add(timeout)
	ln.SetDeadline(deadline)
	type recvRes struct {
		n   int64
		sum string
		err error
	}
	rc := make(chan recvRes, 1)
	go func() {
		c, err := ln.AcceptTCP()
		if err != nil {
			rc <- recvRes{err: fmt.Errorf("accept: %w", err)}
			return
		}
		defer c.Close()
		c.SetDeadline(deadline)
		h := sha256.New()
		var w io.Writer = io.Discard
		if hash {
			w = h
		}
		got, err := io.CopyBuffer(w, c, make([]byte, 256<<10))
		r := recvRes{n: got, err: err}
		if hash {
			r.sum = fmt.Sprintf("%x", h.Sum(nil))
		}
		rc <- r
	}()

	var c *net.TCPConn
	if err := InNetns(srcNS, func() error {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(srcAddr)}, Deadline: deadline}
		cc, err := d.Dial("tcp4", ln.Addr().String())
		if err != nil {
			return err
		}
		c = cc.(*net.TCPConn)
		return nil
	}); err != nil {
		return TransferResult{}, fmt.Errorf("connect %s -> %s: %w", srcAddr, ln.Addr(), err)
	}
	c.SetDeadline(deadline)
	t0 := time.Now()
	src := rand.NewChaCha8([32]byte{1, 2, 3})
	h := sha256.New()
	buf := make([]byte, 256<<10)
	var sent int64
	var werr error
	for sent < n && werr == nil {
		b := buf[:min(int64(len(buf)), n-sent)]
		if hash {
			src.Read(b)
			h.Write(b)
		}
		var k int
		k, werr = c.Write(b)
		sent += int64(k)
	}
	c.CloseWrite()
	r := <-rc
	c.Close()
	res := TransferResult{Bytes: r.n, Elapsed: time.Since(t0), RecvSHA: r.sum}
	if hash {
		res.SentSHA = fmt.Sprintf("%x", h.Sum(nil))
	}
	if werr != nil {
		return res, fmt.Errorf("send (after %d bytes): %w", sent, werr)
	}
	if r.err != nil {
		return res, fmt.Errorf("receive (after %d bytes): %w", r.n, r.err)
	}
	return res, nil
}

// PacketSocket is an AF_PACKET socket on one interface of a namespace: it
// sees every frame sent and received there, and sends raw frames.
type PacketSocket struct {
	fd      int
	ifindex int
}

// OpenPacketSocket opens an AF_PACKET socket bound to iface in ns.
func OpenPacketSocket(ns, iface string) (*PacketSocket, error) {
	p := &PacketSocket{fd: -1}
	err := InNetns(ns, func() error {
		ifc, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		p.ifindex = ifc.Index
		proto := int(htons(unix.ETH_P_ALL))
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		p.fd = fd
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("AF_PACKET on %s/%s: %w", ns, iface, err)
	}
	return p, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Close closes the socket.
func (p *PacketSocket) Close() error { return unix.Close(p.fd) }

// ESPFrame is one captured Ethernet frame carrying ESP in UDP over IPv4.
type ESPFrame struct {
	Frame    []byte
	ipOff    int // offset of the IP header
	udpOff   int
	espOff   int
	SPI, Seq uint32
}

// Clone returns a deep copy.
func (f *ESPFrame) Clone() *ESPFrame {
	c := *f
	c.Frame = append([]byte(nil), f.Frame...)
	return &c
}

// SetSeq rewrites the ESP sequence number (the ICV no longer matches) and
// zeroes the UDP checksum (none, in IPv4) so the receiver's kernel passes
// the datagram on.
func (f *ESPFrame) SetSeq(seq uint32) {
	binary.BigEndian.PutUint32(f.Frame[f.espOff+4:], seq)
	f.Seq = seq
	f.NoUDPChecksum()
}

// FlipBit flips one bit at offset off from the start of the ESP header.
func (f *ESPFrame) FlipBit(off int, mask byte) {
	f.Frame[f.espOff+off] ^= mask
	f.NoUDPChecksum()
}

// ESPLen is the length of the ESP packet (header to ICV).
func (f *ESPFrame) ESPLen() int { return len(f.Frame) - f.espOff }

// NoUDPChecksum sets the UDP checksum to zero (not computed).
func (f *ESPFrame) NoUDPChecksum() { f.Frame[f.udpOff+6], f.Frame[f.udpOff+7] = 0, 0 }

// CaptureESP waits up to timeout for a frame carrying ESP-in-UDP (UDP port
// dstPort, not a keepalive or IKE) with SPI spi to dst.
func (p *PacketSocket) CaptureESP(dst string, dstPort uint16, spi uint32, timeout time.Duration) (*ESPFrame, error) {
	want := netip.MustParseAddr(dst).As4()
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 65536)
	for time.Now().Before(deadline) {
		tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
		unix.SetsockoptTimeval(p.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		n, _, err := unix.Recvfrom(p.fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			return nil, err
		}
		fr := buf[:n]
		if n < 14+20+8+8 || binary.BigEndian.Uint16(fr[12:]) != 0x0800 {
			continue
		}
		ip := 14
		ihl := int(fr[ip]&0x0f) * 4
		if fr[ip]>>4 != 4 || fr[ip+9] != unix.IPPROTO_UDP || [4]byte(fr[ip+16:ip+20]) != want {
			continue
		}
		udp := ip + ihl
		esp := udp + 8
		if n < esp+8 || binary.BigEndian.Uint16(fr[udp+2:]) != dstPort {
			continue
		}
		gotSPI := binary.BigEndian.Uint32(fr[esp:])
		if gotSPI == 0 || gotSPI != spi {
			continue
		}
		f := &ESPFrame{Frame: append([]byte(nil), fr...), ipOff: ip, udpOff: udp, espOff: esp,
			SPI: gotSPI, Seq: binary.BigEndian.Uint32(fr[esp+4:])}
		return f, nil
	}
	return nil, fmt.Errorf("no ESP frame with SPI %08x to %s:%d within %v", spi, dst, dstPort, timeout)
}

// Send transmits a raw frame on the socket's interface.
func (p *PacketSocket) Send(frame []byte) error {
	return unix.Sendto(p.fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: p.ifindex, Protocol: htons(unix.ETH_P_IP)})
}

// NATLab is three namespaces in a row: Left (the peer, 10.200.0.1/24 on
// lab0), NAT (10.200.0.254/24 on lab0 toward Left, 192.168.200.1/24 on
// in0 toward Right; masquerades what leaves on lab0) and Right
// (192.168.200.2/24 on lab0, default route via the NAT). The peer sees
// Right's traffic as coming from 10.200.0.254.
type NATLab struct {
	*Lab
	NAT string
}

// NAT lab addresses.
const (
	NATOutside = "10.200.0.254"  // the NAT's public address, on Left's link
	NATInside  = "192.168.200.1" // the NAT's private address, Right's gateway
	NATRight   = "192.168.200.2" // Right (ikegate) behind the NAT
)

// NewNATLab creates a NATLab; cleanups delete everything.
func NewNATLab(t testing.TB) *NATLab {
	t.Helper()
	RequireLab(t)
	var b [3]byte
	rb := rand.Uint32()
	b[0], b[1], b[2] = byte(rb), byte(rb>>8), byte(rb>>16)
	l := &NATLab{Lab: &Lab{ID: fmt.Sprintf("%x", b[:])}}
	l.Left = l.NewNamespace(t, "l")
	l.NAT = l.NewNamespace(t, "n")
	l.Right = l.NewNamespace(t, "r")
	l.Link(t, l.Left, LabIface, LeftAddr+"/24", l.NAT, LabIface, NATOutside+"/24")
	l.Link(t, l.NAT, "in0", NATInside+"/24", l.Right, LabIface, NATRight+"/24")
	MustRun(t, IPCmd, "-n", l.Right, "route", "add", "default", "via", NATInside)
	MustRun(t, IPCmd, "netns", "exec", l.NAT, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	rules := fmt.Sprintf(`table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "%s" ip saddr 192.168.200.0/24 masquerade
  }
}
`, LabIface)
	f := filepath.Join(t.TempDir(), "nat.nft")
	writeFile(t, f, rules, 0o644)
	MustRun(t, IPCmd, "netns", "exec", l.NAT, "nft", "-f", f)
	return l
}

// TrafficCaptureFilter captures IKE (port 500, and port 4500 with the
// non-ESP marker) and NAT keepalives (UDP length 9), not ESP: bulk
// transfers would make the file huge.
const TrafficCaptureFilter = "udp port 500 or (udp port 4500 and (udp[4:2] = 9 or udp[8:4] = 0))"

// CaptureFiltered is Lab.Capture with another capture filter.
func (l *Lab) CaptureFiltered(t testing.TB, ns, iface, filter string) *Capture {
	t.Helper()
	dir := t.TempDir()
	c := &Capture{Path: filepath.Join(dir, fmt.Sprintf("%s-%s.pcapng", ns, iface))}
	stderr := filepath.Join(dir, "dumpcap.log")
	c.Proc = startProc(t, "dumpcap@"+ns+"/"+iface, stderr, nil,
		[]string{IPCmd, "netns", "exec", ns, Dumpcap, "-q", "-i", iface, "-f", filter, "-w", c.Path})
	if !WaitFor(t, 10*time.Second, func() bool {
		b, _ := os.ReadFile(stderr)
		return strings.Contains(string(b), "Capturing on") || c.Proc.Exited()
	}) || c.Proc.Exited() {
		b, _ := os.ReadFile(stderr)
		t.Fatalf("dumpcap on %s/%s did not start: %s", ns, iface, b)
	}
	t.Cleanup(func() { c.Stop() })
	return c
}

// WirePacket is one UDP datagram of a capture as tshark sees it.
type WirePacket struct {
	Frame     int
	Src, Dst  string // addr:port (IPv6 without brackets, as IKEPacket)
	UDPLen    int
	Keepalive bool // dissected as a NAT-keepalive (udpencap.nat_keepalive)
	IKE       bool
	Exchange  int
	Data      string // hex payload when tshark shows raw data (keepalive: "ff")
}

// WirePackets lists the UDP datagrams of pcap with tshark.
func WirePackets(pcap string) ([]WirePacket, error) {
	fields := []string{"frame.number", "ip.src", "udp.srcport", "ip.dst", "udp.dstport", "udp.length",
		"udpencap.nat_keepalive", "isakmp.exchangetype", "udp.payload", "ipv6.src", "ipv6.dst"}
	args := []string{"-r", pcap, "-n", "-T", "fields", "-E", "separator=|", "-E", "occurrence=f"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := runOut(append([]string{Tshark}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("tshark -r %s: %v\n%s", pcap, err, out)
	}
	var pkts []WirePacket
	for _, line := range meaningful(out) {
		f := strings.Split(line, "|")
		if len(f) != len(fields) {
			continue
		}
		if f[1] == "" && f[3] == "" { // IPv6: "addr:port" all the same
			f[1], f[3] = f[9], f[10]
		}
		var p WirePacket
		p.Frame, _ = strconv.Atoi(f[0])
		p.Src, p.Dst = f[1]+":"+f[2], f[3]+":"+f[4]
		p.UDPLen, _ = strconv.Atoi(f[5])
		p.Keepalive = f[6] != ""
		p.IKE = f[7] != ""
		p.Exchange, _ = strconv.Atoi(f[7])
		p.Data = strings.ReplaceAll(f[8], ":", "")
		pkts = append(pkts, p)
	}
	return pkts, nil
}

// CPUTime is the user+system CPU time a process has used so far
// (/proc/PID/stat utime + stime).
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // comm may contain spaces
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, s)
	}
	f := strings.Fields(s[i+1:])
	// fields after comm: state(3) ... utime(14) stime(15): indexes 11, 12
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, s)
	}
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / hz, nil
}

// Pid is the process id of a lab process. `ip netns exec` execs the
// command, so it is the daemon's own pid.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Kill sends SIGKILL to the process group and waits for the end: a crash,
// no goodbye (no DELETE sent to the peer).
func (p *Proc) Kill() {
	if p.Exited() {
		return
	}
	_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// PatchIkegateTOML adds raw TOML lines to a config written by IkegateTOML:
// gw lines go into [gateway], conn lines into the [[connection]] called
// name ("" for every connection).
func PatchIkegateTOML(toml string, gw []string, name string, conn []string) string {
	if len(gw) > 0 {
		toml = strings.Replace(toml, "[gateway]\n", "[gateway]\n"+strings.Join(gw, "\n")+"\n", 1)
	}
	if len(conn) > 0 {
		lines := strings.Split(toml, "\n")
		var out []string
		for _, l := range lines {
			out = append(out, l)
			if strings.HasPrefix(l, "name = ") && (name == "" || l == "name = "+strconv.Quote(name)) {
				out = append(out, conn...)
			}
		}
		toml = strings.Join(out, "\n")
	}
	return toml
}

// IkegateTrafficChild is a CHILD SA of `ikegate sas --json` with the
// dataplane counters.
type IkegateTrafficChild struct {
	IkegateChild
	InPackets      uint64 `json:"in_packets"`
	InBytes        uint64 `json:"in_bytes"`
	OutPackets     uint64 `json:"out_packets"`
	OutBytes       uint64 `json:"out_bytes"`
	ReplayDrops    uint64 `json:"replay_drops"`
	AuthFailures   uint64 `json:"auth_failures"`
	PadErrors      uint64 `json:"pad_errors"`
	Malformed      uint64 `json:"malformed"`
	OutsideTSDrops uint64 `json:"outside_ts_drops"`
}

// TrafficChildren returns every CHILD SA of `ikegate sas --json` with its
// dataplane counters.
func (g *Ikegate) TrafficChildren() ([]IkegateTrafficChild, error) {
	out, err := g.lab.Exec(g.NS, g.Bin, "sas", "--json", "--control", g.Control)
	if err != nil {
		return nil, fmt.Errorf("ikegate sas --json: %v: %s", err, out)
	}
	var sas []struct {
		Children []IkegateTrafficChild `json:"children"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &sas); err != nil {
		return nil, fmt.Errorf("ikegate sas --json: %v: %q", err, out)
	}
	var cs []IkegateTrafficChild
	for _, sa := range sas {
		cs = append(cs, sa.Children...)
	}
	return cs, nil
}

// StatsJSON returns `ikegate stats --json`, decoded.
func (g *Ikegate) StatsJSON() (map[string]any, error) {
	out, err := g.lab.Exec(g.NS, g.Bin, "stats", "--json", "--control", g.Control)
	if err != nil {
		return nil, fmt.Errorf("ikegate stats --json: %v: %s", err, out)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &m); err != nil {
		return nil, fmt.Errorf("ikegate stats --json: %v: %q", err, out)
	}
	return m, nil
}
