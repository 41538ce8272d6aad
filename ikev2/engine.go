// Package ikev2 is the IKEv2 engine (RFC 7296): a sans-I/O state machine for
// initiator and responder. It never touches sockets, goroutines or the wall
// clock: the runtime feeds it datagrams, timer ticks and admin commands with
// the current time, and sends the datagrams it returns.
package ikev2

import (
	"errors"
	"io"
	"time"

	"go.uber.org/zap"

	"ikegate/isakmp"
	"ikegate/policy"
)

// Config configures an Engine.
type Config struct {
	DB        *policy.DB
	Installer policy.Installer
	Log       *zap.Logger
	Rand      io.Reader // crypto/rand.Reader in production

	IKEPort, NATTPort uint16 // ports peers are contacted on

	CookieThreshold int           // half-open SAs before COOKIEs are demanded
	RetransmitTries int           // sends of a request before giving up
	RetransmitBase  time.Duration // first retransmit timeout, doubled each try
}

// Engine runs the IKE SAs of one shard. It is not safe for concurrent use:
// one goroutine owns it.
type Engine struct {
	cfg Config
}

// NewEngine returns an engine with no SAs.
func NewEngine(cfg Config) *Engine { return &Engine{cfg: cfg} }

// HandleDatagram processes one received IKEv2 message and returns the
// datagrams to send in answer.
func (e *Engine) HandleDatagram(now time.Time, d isakmp.Datagram) []isakmp.Datagram {
	return nil
}

// Tick runs the timers that are due at now (retransmissions, timeouts,
// expiry) and returns the datagrams to send.
func (e *Engine) Tick(now time.Time) []isakmp.Datagram { return nil }

// NextDeadline is when Tick next has work; the zero time means never.
func (e *Engine) NextDeadline() time.Time { return time.Time{} }

// Initiate starts an IKE SA (with its first CHILD SA) for conn.
func (e *Engine) Initiate(now time.Time, conn *policy.Connection) ([]isakmp.Datagram, error) {
	return nil, errors.New("ikev2: not implemented")
}

// Terminate deletes the IKE SAs (and their CHILD SAs) of connection name.
// It reports whether there was any.
func (e *Engine) Terminate(now time.Time, name string) ([]isakmp.Datagram, bool) {
	return nil, false
}

// SAs returns the status of every IKE SA in the engine.
func (e *Engine) SAs() []policy.IKESAInfo { return nil }
