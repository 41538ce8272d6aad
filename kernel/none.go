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
	// installed are the recorded CHILD SAs by local address and inbound
	// SPI (unique: AddChildSA refuses a second), so that AllocSPI and
	// AddChildSA check an SPI in constant time. Each is the caller's own
	// ChildSA (policy.Installer.AddChildSA lets a dataplane keep it), not
	// a copy: one record per CHILD SA in the whole daemon. A moved SA is
	// replaced by a copy of ours (MoveChildSA), as its caller then
	// rewrites the addresses of its own.
	installed map[spiKey]*policy.ChildSA
	closed    bool
}

func newNone(log *zap.Logger) *noneBackend {
	if log == nil {
		log = zap.NewNop()
	}
	return &noneBackend{
		log:       log,
		allocated: map[spiKey]netip.Addr{},
		installed: map[spiKey]*policy.ChildSA{},
	}
}

// inUse reports whether spi is reserved or installed inbound at dst.
func (b *noneBackend) inUse(dst netip.Addr, spi uint32) bool {
	if _, ok := b.allocated[spiKey{dst, spi}]; ok {
		return true
	}
	_, ok := b.installed[spiKey{dst, spi}]
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
	if _, ok := b.installed[in]; ok {
		return fmt.Errorf("kernel: add inbound ESP state spi %#08x %v->%v: already installed", sa.SPIIn, k.remote, k.local)
	}
	delete(b.allocated, in)
	b.installed[in] = sa // kept, not copied (see installed)
	b.log.Debug("CHILD SA recorded (dataplane none)", zap.String("conn", sa.ConnName),
		zap.String("spi_in", fmt.Sprintf("%08x", sa.SPIIn)), zap.String("spi_out", fmt.Sprintf("%08x", sa.SPIOut)))
	return nil
}

// MoveChildSA records sa's new addresses.
func (b *noneBackend) MoveChildSA(sa *policy.ChildSA, local, remote netip.AddrPort) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	in, s, ok := b.lookup(sa)
	if !ok {
		return fmt.Errorf("kernel: move CHILD SA spi %#08x: not installed", sa.SPIIn)
	}
	delete(b.installed, in)
	// Our own copy from now on: the caller moves its ChildSA after this
	// returns, outside b.mu, while Installed may read the record.
	c := recordOf(s)
	c.Move(local, remote)
	b.installed[spiKey{c.Local.Unmap(), c.SPIIn}] = &c
	return nil
}

func (b *noneBackend) DelChildSA(sa *policy.ChildSA) error {
	if sa == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if in, _, ok := b.lookup(sa); ok {
		delete(b.installed, in)
	}
	delete(b.allocated, spiKey{sa.Local.Unmap(), sa.SPIIn})
	return nil
}

// lookup finds the recorded CHILD SA with sa's addresses and SPIs, and
// its key in installed (under b.mu).
func (b *noneBackend) lookup(sa *policy.ChildSA) (spiKey, *policy.ChildSA, bool) {
	k := keyOf(sa)
	in := spiKey{k.local, k.spiIn}
	s, ok := b.installed[in]
	if !ok || keyOf(s) != k {
		return in, nil, false
	}
	return in, s, true
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
		out = append(out, recordOf(sa)) // without the keys, which the caller keeps
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
