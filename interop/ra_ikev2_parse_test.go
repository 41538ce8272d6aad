package interop

import "testing"

// TestParseSwanctlVIPs: local-vips and remote-vips of an IKE SA (lists at
// the IKE SA's level) are parsed, and do not end up in a CHILD SA.
func TestParseSwanctlVIPs(t *testing.T) {
	out := `list-sa event {
  rw {
    uniqueid = 1
    version = 2
    state = ESTABLISHED
    local-vips = [
      10.9.0.1
      fd00:9::100
    ]
    child-sas {
      rw-1 {
        name = rw
        state = INSTALLED
        local-ts = [
          10.9.0.1/32
        ]
        remote-ts = [
          10.2.0.0/24
        ]
      }
    }
  }
}
list-sas reply {
}
`
	sas, err := ParseSwanctlSAs(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(sas) != 1 || len(sas[0].Children) != 1 {
		t.Fatalf("parsed %+v", sas)
	}
	sa := sas[0]
	if len(sa.LocalVIPs) != 2 || sa.LocalVIPs[0] != "10.9.0.1" || sa.LocalVIPs[1] != "fd00:9::100" || len(sa.RemoteVIPs) != 0 {
		t.Errorf("local-vips %v remote-vips %v, want [10.9.0.1 fd00:9::100] []", sa.LocalVIPs, sa.RemoteVIPs)
	}
	c := sa.Children[0]
	if len(c.LocalTS) != 1 || c.LocalTS[0] != "10.9.0.1/32" || len(c.RemoteTS) != 1 || c.RemoteTS[0] != "10.2.0.0/24" {
		t.Errorf("child local-ts %v remote-ts %v", c.LocalTS, c.RemoteTS)
	}
}
