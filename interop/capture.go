package interop

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// CaptureFilter is the capture filter of Capture: IKE and NAT-T (ESP in UDP
// and IKE over 4500).
const CaptureFilter = "udp port 500 or udp port 4500"

// Capture is a running dumpcap writing a pcapng file.
type Capture struct {
	Path string
	Proc *Proc
}

// Capture starts dumpcap on iface inside namespace ns (udp port 500 or 4500)
// writing to a pcapng in t.TempDir(). Stop it with Stop (t.Cleanup does too)
// before reading the file. On a failed test the path is logged, and the file
// is kept if IKEGATE_KEEP_PCAP names a directory to copy it to.
func (l *Lab) Capture(t testing.TB, ns, iface string) *Capture {
	t.Helper()
	dir := t.TempDir()
	c := &Capture{Path: filepath.Join(dir, fmt.Sprintf("%s-%s.pcapng", ns, iface))}
	stderr := filepath.Join(dir, "dumpcap.log")
	c.Proc = startProc(t, "dumpcap@"+ns, stderr, nil,
		[]string{IPCmd, "netns", "exec", ns, Dumpcap, "-q", "-i", iface, "-f", CaptureFilter, "-w", c.Path})
	// dumpcap prints "Capturing on 'IFACE'" once the filter is attached.
	if !WaitFor(t, 10*time.Second, func() bool {
		b, _ := os.ReadFile(stderr)
		return strings.Contains(string(b), "Capturing on") || c.Proc.Exited()
	}) || c.Proc.Exited() {
		b, _ := os.ReadFile(stderr)
		t.Fatalf("dumpcap on %s/%s did not start: %s", ns, iface, b)
	}
	t.Cleanup(func() {
		c.Stop()
		if t.Failed() {
			t.Logf("capture %s (%s)", c.Path, CaptureFilter)
			if keep := os.Getenv("IKEGATE_KEEP_PCAP"); keep != "" {
				dst := filepath.Join(keep, strings.ReplaceAll(t.Name(), "/", "_")+"-"+filepath.Base(c.Path))
				if err := copyFile(c.Path, dst); err == nil {
					t.Logf("capture kept as %s", dst)
				}
			}
		}
	})
	return c
}

// Stop ends the capture (SIGINT, so dumpcap flushes) and returns the path.
func (c *Capture) Stop() string {
	if c.Proc.Exited() {
		return c.Path
	}
	// Fact: dumpcap 4.0 reads with a 250 ms timeout from a TPACKET_V3 ring
	// whose blocks are handed over when full or timed out; stopped sooner
	// after the last packet, the capture can come out empty (seen: 0 of 4
	// packets when stopped 100 ms after the exchange). Wait out two
	// timeouts before SIGINT.
	time.Sleep(600 * time.Millisecond)
	c.Proc.Interrupt()
	return c.Path
}

// IKEPacket is one IKE message as tshark decoded it.
type IKEPacket struct {
	Frame        int
	Src, Dst     string // "addr:port" (IPv6 too: "fd00:200::1:500", no brackets)
	ISPI, RSPI   string // hex, 16 digits
	Version      string // "0x20" (IKEv2) or "0x10" (IKEv1), as tshark prints it
	ExchangeType int    // 34 IKE_SA_INIT, 35 IKE_AUTH, 2 Main, 4 Aggressive, 32 Quick, ...
	MessageID    uint32
	Response     bool // IKEv2 R flag (flags & 0x20)
	Initiator    bool // IKEv2 I flag (flags & 0x08)
}

func (p IKEPacket) String() string {
	return fmt.Sprintf("#%d %s->%s %s/%s v%s xchg %d mid %d", p.Frame, p.Src, p.Dst, p.ISPI, p.RSPI,
		p.Version, p.ExchangeType, p.MessageID)
}

// CheckDissection fails the test if tshark finds a malformed packet or any
// expert-info entry of severity error in pcap, and returns the IKE messages
// it decoded.
func CheckDissection(t testing.TB, pcap string) []IKEPacket {
	t.Helper()
	pkts, problems, err := Dissect(pcap)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		t.Errorf("tshark: malformed packets or expert errors in %s:\n%s", pcap, strings.Join(problems, "\n"))
		full, _ := runOut(Tshark, "-r", pcap, "-n", "-V", "-Y", "_ws.malformed || _ws.expert.severity == 0x00800000")
		t.Logf("tshark -V of those packets:\n%s", full)
	}
	return pkts
}

// expertError is _ws.expert.severity for "Error" (PI_ERROR).
const expertError = "8388608"

// Dissect runs tshark once over pcap and returns the IKE messages and one
// line per packet that is malformed or carries an expert error.
//
// Fact: tshark 4.0 takes 2-3 s (wall clock, little CPU) just to start on
// these hosts, so everything is read in one pass (-T fields with the
// _ws.malformed and _ws.expert fields) rather than a run per check.
func Dissect(pcap string) (pkts []IKEPacket, problems []string, err error) {
	fields := []string{"frame.number", "_ws.malformed", "_ws.expert.severity", "_ws.expert.message",
		"ip.src", "udp.srcport", "ip.dst", "udp.dstport",
		"isakmp.ispi", "isakmp.rspi", "isakmp.version", "isakmp.exchangetype", "isakmp.messageid", "isakmp.flags",
		"ipv6.src", "ipv6.dst"}
	args := []string{"-r", pcap, "-n", "-T", "fields", "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=;"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := runOut(append([]string{Tshark}, args...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("tshark -r %s: %v\n%s", pcap, err, out)
	}
	for _, line := range meaningful(out) {
		f := strings.Split(line, "|")
		if len(f) != len(fields) {
			continue
		}
		first := func(s string) string { v, _, _ := strings.Cut(s, ";"); return v }
		if f[4] == "" && f[6] == "" { // IPv6: "addr:port" all the same
			f[4], f[6] = f[14], f[15]
		}
		sev := strings.Split(f[2], ";")
		isErr := false
		for _, s := range sev {
			if s == expertError {
				isErr = true
			}
		}
		if f[1] != "" || isErr {
			problems = append(problems, fmt.Sprintf("frame %s %s:%s->%s:%s: %s %s", f[0], f[4], f[5], f[6], f[7], f[1], f[3]))
		}
		if f[8] == "" { // not IKE (ESP in UDP, NAT keepalive)
			continue
		}
		var p IKEPacket
		p.Frame, _ = strconv.Atoi(f[0])
		p.Src, p.Dst = first(f[4])+":"+first(f[5]), first(f[6])+":"+first(f[7])
		p.ISPI, p.RSPI, p.Version = first(f[8]), first(f[9]), first(f[10])
		p.ExchangeType, _ = strconv.Atoi(first(f[11]))
		mid, _ := strconv.ParseUint(strings.TrimPrefix(first(f[12]), "0x"), 16, 32)
		p.MessageID = uint32(mid)
		flags, _ := strconv.ParseUint(strings.TrimPrefix(first(f[13]), "0x"), 16, 8)
		p.Response, p.Initiator = flags&0x20 != 0, flags&0x08 != 0
		pkts = append(pkts, p)
	}
	return pkts, problems, nil
}

// meaningful drops empty lines and tshark's "Running as user root" warning.
func meaningful(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "Running as user") {
			continue
		}
		lines = append(lines, l)
	}
	return lines
}
