package interop

import (
	"testing"
	"time"
)

// TestIKEv1MixedVersions: one ikegate (one config) next to two peers in two
// namespaces: strongSwan A (IKEv1, on the lab link 10.200.0.0/24) and
// strongSwan B (IKEv2, on a second link 10.200.1.0/24 from a third
// namespace). ikegate holds an IKEv1 SA to A and an IKEv2 SA to B at the
// same time; and one `version = "any"` responder connection accepts an
// IKEv1 initiator (A) and an IKEv2 initiator (B) in the same run. Both
// peers run kernel-libipsec, so every phase 2 / CHILD SA is installed on
// both ends.
func TestIKEv1MixedVersions(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	nsB := lab.NewNamespace(t, "b")
	lab.Link(t, nsB, LabIface, "10.200.1.1/24", lab.Right, "lab1", "10.200.1.2/24")
	// Second addresses: A 10.200.0.3 -> ikegate 10.200.0.4, B 10.200.1.3 ->
	// ikegate 10.200.1.4, for the "any" responder.
	MustRun(t, IPCmd, "-n", lab.Left, "addr", "add", "10.200.0.3/24", "dev", LabIface)
	MustRun(t, IPCmd, "-n", lab.Right, "addr", "add", "10.200.0.4/24", "dev", LabIface)
	MustRun(t, IPCmd, "-n", nsB, "addr", "add", "10.200.1.3/24", "dev", LabIface)
	MustRun(t, IPCmd, "-n", lab.Right, "addr", "add", "10.200.1.4/24", "dev", "lab1")
	v1PeerSubnets(t, lab, lab.Left, 211, []int{60, 61})
	v1PeerSubnets(t, lab, nsB, 221, []int{60, 61})

	ts := func(c *Conn, local, remote string) { c.LocalTS, c.RemoteTS = []string{local}, []string{remote} }
	// A: IKEv1 to ikegate's v1 connection; B: IKEv2 to its v2 connection.
	v1A := v1PSKConn("mix-v1", 60, v1Pair{LeftAddr, RightAddr}, "aes256-sha256-modp2048", "aes256-sha256")
	v2B := v1PSKConn("mix-v2", 60, v1Pair{"10.200.1.1", "10.200.1.2"}, "aes256-sha256-modp2048", "aes256-sha256")
	v2B.Version = 2
	ts(&v2B, "10.221.60.0/24", "10.222.60.0/24")
	// The "any" responder: both initiators use one identity and secret.
	anyA := v1PSKConn("any-v1", 61, v1Pair{"10.200.0.3", "10.200.0.4"}, "aes256-sha256-modp2048", "aes256-sha256")
	anyA.LocalID, anyA.RemoteID, anyA.PSK = "@peer-any.lab", "@gate-any.lab", "ikev1-interop-any-0123456789"
	ts(&anyA, "10.211.61.0/24", "10.212.61.0/24")
	anyB := anyA
	anyB.Name, anyB.Version, anyB.LocalAddr, anyB.RemoteAddr = "any-v2", 2, "10.200.1.3", "10.200.1.4"
	ts(&anyB, "10.221.61.0/24", "10.222.61.0/24")
	gateAny := anyA.Mirror()
	gateAny.Name, gateAny.Version, gateAny.LocalAddr, gateAny.RemoteAddr = "any", 0, "", "%any"
	gateAny.LocalTS, gateAny.RemoteTS = []string{"10.212.61.0/24", "10.222.61.0/24"}, []string{"10.211.61.0/24", "10.221.61.0/24"}

	capA := lab.Capture(t, lab.Right, LabIface)
	capB := lab.Capture(t, lab.Right, "lab1")
	swanA := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: []Conn{v1A, anyA}, LibIPsec: true, Extra: v1SwanExtra})
	swanB := lab.StartStrongSwan(t, nsB, SwanConfig{Conns: []Conn{v2B, anyB}, LibIPsec: true, Extra: v1SwanExtra})
	g := lab.StartIkegate(t, lab.Right, v1GatewayTOML([]string{RightAddr, "10.200.0.4", "10.200.1.2", "10.200.1.4"},
		v1A.Mirror(), v2B.Mirror(), gateAny))
	v1KeepLogs(t, swanA.LogPath, swanB.LogPath, g.LogPath)

	t.Run("v1-and-v2-at-once", func(t *testing.T) {
		t0 := time.Now()
		for _, name := range []string{"mix-v1", "mix-v2"} {
			if out, err := g.Up(name); err != nil {
				t.Fatalf("ikegate up %s: %v\n%s", name, err, out)
			}
		}
		g1 := v1WaitGate(t, g, "mix-v1", 5*time.Second, v1Settled(1))
		g2 := v1WaitGate(t, g, "mix-v2", 5*time.Second, func(sa *v1GateSA) bool {
			return sa.State == "ESTABLISHED" && len(sa.Children) == 1 && sa.Children[0].State == "INSTALLED"
		})
		s1 := v1WaitSwan(t, swanA, "mix-v1", 1, 5*time.Second)
		s2 := v1WaitSwan(t, swanB, "mix-v2", 1, 5*time.Second)
		t.Logf("both up in %v", time.Since(t0).Round(time.Millisecond))
		if g1.Version != 1 || s1.Version != 1 || g2.Version != 2 || s2.Version != 2 {
			t.Errorf("versions: ikegate %d/%d, strongSwan A %d, B %d; want 1 and 2", g1.Version, g2.Version, s1.Version, s2.Version)
		}
		v1CheckSwanChild(t, g1, s1, "mix-v1", "AES_CBC_256/HMAC_SHA2_256_128", "")
		// Both at once in one listing.
		sas, _ := v1SAs(g)
		vers := map[int]int{}
		for _, sa := range sas {
			if sa.State == "ESTABLISHED" {
				vers[sa.Version]++
			}
		}
		if vers[1] < 1 || vers[2] < 1 {
			t.Errorf("ikegate sas --json lists %v established SAs by version; want both", vers)
		}
		gi, _ := v1Cookies(g1)
		if s1.InitSPI != gi {
			t.Errorf("IKEv1 cookies: ikegate %s, strongSwan A %s", gi, s1.InitSPI)
		}
		if i2, r2 := v1Cookies(g2); i2 != s2.InitSPI || r2 != s2.RespSPI {
			t.Errorf("IKEv2 SPIs: ikegate %s/%s, strongSwan B %s/%s", g2.LocalSPI, g2.RemoteSPI, s2.InitSPI, s2.RespSPI)
		}
	})

	t.Run("any-responder", func(t *testing.T) {
		t0 := time.Now()
		type res struct {
			out string
			err error
		}
		ch := make(chan res, 2)
		for _, x := range []struct {
			s    *Swan
			name string
		}{{swanA, "any-v1"}, {swanB, "any-v2"}} {
			go func(s *Swan, name string) {
				out, err := s.Initiate(name, 5)
				ch <- res{out, err}
			}(x.s, x.name)
		}
		for i := 0; i < 2; i++ {
			if r := <-ch; r.err != nil {
				t.Errorf("swanctl --initiate: %v\n%s", r.err, r.out)
			}
		}
		sa1 := v1WaitSwan(t, swanA, "any-v1", 1, 5*time.Second)
		sa2 := v1WaitSwan(t, swanB, "any-v2", 1, 5*time.Second)
		var got1, got2 *v1GateSA
		WaitFor(t, 5*time.Second, func() bool {
			got1, got2 = nil, nil
			for _, sa := range v1GateNamed(g, "any") {
				sa := sa
				if sa.State != "ESTABLISHED" || len(sa.Children) != 1 || sa.Children[0].State != "INSTALLED" {
					continue
				}
				switch sa.Version {
				case 1:
					got1 = &sa
				case 2:
					got2 = &sa
				}
			}
			return got1 != nil && got2 != nil
		})
		t.Logf("both up in %v", time.Since(t0).Round(time.Millisecond))
		if got1 == nil || got2 == nil {
			t.Fatalf("ikegate connection \"any\": IKEv1 SA %+v, IKEv2 SA %+v; want both", got1, got2)
		}
		if sa1.Version != 1 || sa2.Version != 2 {
			t.Errorf("strongSwan versions A %d B %d", sa1.Version, sa2.Version)
		}
		if gi, _ := v1Cookies(got1); sa1.InitSPI != gi || got1.Remote != "10.200.0.3:4500" {
			t.Errorf("IKEv1 SA of \"any\": %+v vs strongSwan A %s", got1.IkegateSA, sa1.InitSPI)
		}
		if i2, _ := v1Cookies(got2); i2 != sa2.InitSPI || got2.Remote != "10.200.1.3:4500" {
			t.Errorf("IKEv2 SA of \"any\": %+v vs strongSwan B %s", got2.IkegateSA, sa2.InitSPI)
		}
		t.Logf("any: IKEv1 %s %v === %v; IKEv2 %s %v === %v", got1.Remote, got1.Children[0].LocalTS, got1.Children[0].RemoteTS,
			got2.Remote, got2.Children[0].LocalTS, got2.Children[0].RemoteTS)
	})

	for _, c := range []*Capture{capA, capB} {
		pkts := CheckDissection(t, c.Stop())
		n1, n2 := 0, 0
		for _, p := range pkts {
			switch p.Version {
			case "0x10":
				n1++
			case "0x20":
				n2++
			}
		}
		t.Logf("%s: %d IKEv1 and %d IKEv2 messages dissected", c.Path, n1, n2)
	}
}
