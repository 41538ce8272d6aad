package loadgen

import (
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"

	"ikegate/policy"
)

// installer is the clients' dataplane: it hands out SPIs and installs
// nothing. The SPIs come from one counter for the whole run, so that no two
// clients use the same one: they all share a few source addresses, and a
// responder's dataplane keys its outbound SAs by destination and SPI.
type installer struct {
	spis   *atomic.Uint32
	reqIDs uint32
}

func (d *installer) AllocSPI(local, remote netip.Addr) (uint32, error) {
	for {
		spi := d.spis.Add(1)
		if spi >= 0x100 { // 1-255 are reserved (RFC 4303 2.1)
			return spi, nil
		}
	}
}

func (d *installer) AllocReqID() uint32 {
	d.reqIDs++
	if d.reqIDs == 0 {
		d.reqIDs++
	}
	return d.reqIDs
}

func (d *installer) AddChildSA(sa *policy.ChildSA) error { return nil }

func (d *installer) DelChildSA(sa *policy.ChildSA) error { return nil }

func (d *installer) MoveChildSA(sa *policy.ChildSA, local, remote netip.AddrPort) error {
	return fmt.Errorf("load generator: %w", errors.ErrUnsupported)
}

func (d *installer) Counters(spiIn uint32) (policy.ChildCounters, bool) {
	return policy.ChildCounters{}, false
}

func (d *installer) Capabilities() policy.Capabilities { return policy.Capabilities{} }
