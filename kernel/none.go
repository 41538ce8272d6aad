package kernel

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"
	"sync"

	"go.uber.org/zap"

	"ikegate/policy"
)

// minSPI is the smallest SPI handed out: 1-255 are reserved by IANA
// (RFC 4303 2.1) and 0 means "no SPI".
const minSPI = 0x100

// noneBackend installs nothing: it hands out SPIs and records SAs. Of
// policy.Dataplane's optional parts it supports none.
type noneBackend struct {
	ReqIDs
	log *zap.Logger

	mu        sync.Mutex
	allocated map[spiKey]netip.Addr // reserved inbound SPIs -> remote
	installed map[saKey]policy.ChildSA
	// inbound finds installed SAs by inbound SPI and local address, so
	// that AllocSPI and AddChildSA check an SPI in constant time (they
	// scanned installed: O(n²) for n CHILD SAs).
	inbound map[spiKey]saKey
	closed  bool
}

func newNone(log *zap.Logger) *noneBackend {
	if log == nil {
		log = zap.NewNop()
	}
	return &noneBackend{
		log:       log,
		allocated: map[spiKey]netip.Addr{},
		installed: map[saKey]policy.ChildSA{},
		inbound:   map[spiKey]saKey{},
	}
}

// inUse reports whether spi is reserved or installed inbound at dst.
func (b *noneBackend) inUse(dst netip.Addr, spi uint32) bool {
	if _, ok := b.allocated[spiKey{dst, spi}]; ok {
		return true
	}
	_, ok := b.inbound[spiKey{dst, spi}]
	return ok
}

func (b *noneBackend) AllocSPI(local, remote netip.Addr) (uint32, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errClosed
	}
	local = local.Unmap()
	for range 1000 {
		spi, err := randomSPI()
		if err != nil {
			return 0, err
		}
		if b.inUse(local, spi) {
			continue
		}
		b.allocated[spiKey{local, spi}] = remote.Unmap()
		return spi, nil
	}
	return 0, fmt.Errorf("kernel: no free SPI for %v after 1000 tries", local)
}

// randomSPI returns a uniformly random SPI >= minSPI.
func randomSPI() (uint32, error) {
	var b [4]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("kernel: random SPI: %w", err)
		}
		if spi := binary.BigEndian.Uint32(b[:]); spi >= minSPI {
			return spi, nil
		}
	}
}

func (b *noneBackend) AddChildSA(sa *policy.ChildSA) error {
	if err := validateChildSA(sa); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errClosed
	}
	k := keyOf(sa)
	in := spiKey{k.local, k.spiIn}
	if _, ok := b.inbound[in]; ok {
		return fmt.Errorf("kernel: add inbound ESP state spi %#08x %v->%v: already installed", sa.SPIIn, k.remote, k.local)
	}
	delete(b.allocated, in)
	b.installed[k] = recordOf(sa) // no keys: nothing uses them
	b.inbound[in] = k
	b.log.Debug("CHILD SA recorded (dataplane none)", zap.String("conn", sa.ConnName),
		zap.String("spi_in", fmt.Sprintf("%08x", sa.SPIIn)), zap.String("spi_out", fmt.Sprintf("%08x", sa.SPIOut)))
	return nil
}

// MoveChildSA records sa's new addresses.
func (b *noneBackend) MoveChildSA(sa *policy.ChildSA, local, remote netip.AddrPort) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := keyOf(sa)
	s, ok := b.installed[k]
	if !ok {
		return fmt.Errorf("kernel: move CHILD SA spi %#08x: not installed", sa.SPIIn)
	}
	delete(b.installed, k)
	delete(b.inbound, spiKey{k.local, k.spiIn})
	s.Move(local, remote)
	nk := keyOf(&s)
	b.installed[nk] = s
	b.inbound[spiKey{nk.local, nk.spiIn}] = nk
	return nil
}

func (b *noneBackend) DelChildSA(sa *policy.ChildSA) error {
	if sa == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	k := keyOf(sa)
	delete(b.installed, k)
	in := spiKey{k.local, k.spiIn}
	if b.inbound[in] == k {
		delete(b.inbound, in)
	}
	delete(b.allocated, in)
	return nil
}

var _ policy.Dataplane = (*noneBackend)(nil)

// Capabilities reports none: there is no dataplane.
func (b *noneBackend) Capabilities() policy.Capabilities { return policy.Capabilities{Move: true} }

// Counters reports ok=false: nothing is counted.
func (b *noneBackend) Counters(uint32) (policy.ChildCounters, bool) {
	return policy.ChildCounters{}, false
}

// InstallTrap is unsupported (errors.ErrUnsupported): no dataplane sees
// packets.
func (b *noneBackend) InstallTrap(conn *policy.Connection, _ uint32) error {
	return trapsUnsupported(conn)
}

// RemoveTrap is unsupported (errors.ErrUnsupported).
func (b *noneBackend) RemoveTrap(conn *policy.Connection) error { return trapsUnsupported(conn) }

// Events returns nil: there are no events.
func (b *noneBackend) Events() <-chan Event { return nil }

// HandleESP does nothing: there is no dataplane to take ESP.
func (b *noneBackend) HandleESP(netip.AddrPort, netip.AddrPort, []byte) {}

// SetSender does nothing: nothing is ever sent.
func (b *noneBackend) SetSender(func(local, remote netip.AddrPort, b []byte) error) {}

// Stats returns zero: no drops are counted.
func (b *noneBackend) Stats() policy.DataplaneStats { return policy.DataplaneStats{} }

// Installed lists the recorded CHILD SAs.
func (b *noneBackend) Installed() []policy.ChildSA {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]policy.ChildSA, 0, len(b.installed))
	for _, sa := range b.installed {
		out = append(out, cloneChildSA(&sa))
	}
	sortChildSAs(out)
	return out
}

func (b *noneBackend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	clear(b.allocated)
	clear(b.installed)
	clear(b.inbound)
	return nil
}

func sortChildSAs(s []policy.ChildSA) {
	sort.Slice(s, func(i, j int) bool {
		if s[i].ReqID != s[j].ReqID {
			return s[i].ReqID < s[j].ReqID
		}
		return s[i].SPIIn < s[j].SPIIn
	})
}
