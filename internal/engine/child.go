package engine

import (
	"fmt"
	"slices"
	"time"

	"ikegate/oakley"
	"ikegate/policy"
)

// DefaultChildLifetime is a CHILD SA's lifetime when neither the
// connection nor the peer sets one (both versions).
const DefaultChildLifetime = time.Hour

// BytesCheckInterval is how often the traffic of CHILD SAs with a byte
// lifetime is compared with it.
const BytesCheckInterval = 10 * time.Second

// ChildState is where a CHILD SA (IKEv1: phase 2 SA) stands.
type ChildState uint8

// CHILD SA states.
const (
	ChildCreating      ChildState = iota + 1 // being negotiated
	ChildInstalled                           // negotiated and in the dataplane
	ChildInstallFailed                       // negotiated, but the dataplane refused it
	ChildFailed                              // the negotiation failed
	ChildDeleted                             // removed
	ChildInstalling                          // negotiated, waiting for the dataplane
)

// String is the state as `ikegate sas` shows it.
func (s ChildState) String() string {
	switch s {
	case ChildCreating:
		return "CREATING"
	case ChildInstalled:
		return "INSTALLED"
	case ChildInstallFailed:
		return "INSTALL_FAILED"
	case ChildFailed:
		return "FAILED"
	case ChildDeleted:
		return "DELETED"
	case ChildInstalling:
		return "INSTALLING"
	}
	return fmt.Sprintf("ChildState(%d)", uint8(s))
}

// Child is the part of a CHILD SA that both versions share; each engine
// embeds it in its own type for what its RFCs add (traffic selectors,
// in-flight key exchange).
type Child struct {
	Conn          *policy.Connection
	State         ChildState
	Rekeying      bool // our replacement is under way
	SPIIn, SPIOut uint32
	Err           string // why it failed
	Chosen        oakley.Proposal
	Kernel        *policy.ChildSA // what was handed to the installer
	RekeyAt       time.Time       // when we replace it (zero: not installed)
	Since         time.Time       // when it was installed
}

// Installed reports whether the CHILD SA is in the dataplane.
func (ch *Child) Installed() bool { return ch.State == ChildInstalled }

// RekeyDue reports whether it is time to replace the CHILD SA.
func (ch *Child) RekeyDue(now time.Time) bool {
	return ch.Installed() && !ch.Rekeying && Due(ch.RekeyAt, now)
}

// Info is the CHILD SA as `ikegate sas` shows it, without selectors.
func (ch *Child) Info() policy.ChildSAInfo {
	mode := "tunnel"
	if ch.Kernel != nil && !ch.Kernel.Tunnel {
		mode = "transport"
	}
	var expires time.Time
	if ch.Kernel != nil && ch.Kernel.Lifetime > 0 && !ch.Since.IsZero() {
		expires = ch.Since.Add(ch.Kernel.Lifetime)
	}
	return policy.ChildSAInfo{
		ExpiresAt:   stamp(expires),
		Name:        ch.Conn.Name,
		State:       ch.State.String(),
		Mode:        mode,
		SPIIn:       fmt.Sprintf("%08x", ch.SPIIn),
		SPIOut:      fmt.Sprintf("%08x", ch.SPIOut),
		ESPProposal: ch.Chosen.String(),
		Error:       ch.Err,
		InstalledAt: stamp(ch.Since),
		RekeyAt:     stamp(ch.RekeyAt),
	}
}

// Algorithms are the ESP algorithms of a chosen proposal and the lengths of
// their keys, which both versions cut from their KEYMAT.
type Algorithms struct {
	Encr, Integ      oakley.Transform
	EncLen, IntegLen int
}

// ChildAlgorithms reads the ESP algorithms of chosen (INTEG "none" for
// AEAD ciphers).
func ChildAlgorithms(chosen oakley.Proposal) (Algorithms, error) {
	var a Algorithms
	a.Encr, _ = chosen.First(oakley.TransformENCR)
	integ, ok := chosen.First(oakley.TransformINTEG)
	if !ok {
		integ = oakley.Transform{Type: oakley.TransformINTEG, ID: oakley.IntegNone}
	}
	a.Integ = integ
	var err1, err2 error
	a.EncLen, err1 = oakley.EncrKeyLen(a.Encr)
	a.IntegLen, err2 = oakley.IntegKeyLen(integ.ID)
	if err1 != nil || err2 != nil {
		return a, fmt.Errorf("unsupported algorithm: %v %v", err1, err2)
	}
	return a, nil
}

// RequestInstall asks the runtime to add k to the dataplane for ch (an
// EffectInstall): the one path by which a CHILD SA of either version
// enters the dataplane. ch is INSTALLING until the answer comes to the
// engine's Installed with the returned ID, which it passes to InstallDone.
func (c *Core[S, C, W]) RequestInstall(ch *Child, k *policy.ChildSA) uint64 {
	ch.Kernel, ch.State = k, ChildInstalling
	k.SHA256Trunc96 = ch.Conn != nil && ch.Conn.SHA2TruncBug && k.Integ.ID == oakley.IntegHMACSHA2_256
	return c.Ask(Effect{Kind: EffectInstall, Child: k})
}

// InstallDone records the dataplane's answer for ch: INSTALLED, to be
// replaced at rekeyAt, or INSTALL_FAILED with the reason.
func (c *Core[S, C, W]) InstallDone(now time.Time, ch *Child, err error, rekeyAt time.Time) {
	if err != nil {
		ch.State, ch.Err = ChildInstallFailed, err.Error()
		return
	}
	ch.State, ch.RekeyAt = ChildInstalled, rekeyAt
	if ch.Since.IsZero() {
		ch.Since = now
	}
}

// ChildRekeyAt is when a CHILD SA installed now is replaced by our side
// (initiator: whether we originally initiated its IKE SA; see
// policy.RekeyAfter).
func (c *Core[S, C, W]) ChildRekeyAt(now time.Time, k *policy.ChildSA, initiator bool) time.Time {
	return now.Add(c.RekeyDelay(initiator, k.Lifetime, DefaultChildLifetime))
}

// RetireChild asks the dataplane to send no more on the installed CHILD
// SA ch; it stays for inbound packets until RemoveChild.
func (c *Core[S, C, W]) RetireChild(ch *Child) {
	if ch.Kernel != nil && ch.State == ChildInstalled {
		c.Effect(Effect{Kind: EffectRetire, Child: ch.Kernel})
	}
}

// RemoveChild asks the runtime to take ch out of the dataplane (if it is
// in; an EffectRemove) and marks it DELETED: the one path out.
func (c *Core[S, C, W]) RemoveChild(ch *Child) {
	if ch.Kernel != nil && ch.State == ChildInstalled {
		c.Effect(Effect{Kind: EffectRemove, Child: ch.Kernel})
	} else {
		ch.Kernel.WipeKeys()
	}
	ch.State = ChildDeleted
}

// BytesDue reports whether the periodic byte-lifetime check at *at is due,
// and if so moves it on.
func BytesDue(at *time.Time, now time.Time) bool {
	if !Due(*at, now) {
		return false
	}
	*at = now.Add(BytesCheckInterval)
	return true
}

// ByteLifetimeReached reports whether ch has used 90% of its byte
// lifetime, when the installer can tell: time to replace it.
func (c *Core[S, C, W]) ByteLifetimeReached(ch *Child) bool {
	return ch.Installed() && !ch.Rekeying && policy.ByteLifetimeReached(c.Cfg.Installer, ch.Kernel)
}

// Without returns cs without c, keeping the order (it edits cs in place).
func Without[C comparable](cs []C, c C) []C {
	if i := slices.Index(cs, c); i >= 0 {
		return slices.Delete(cs, i, i+1)
	}
	return cs
}
