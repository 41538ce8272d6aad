package ikev2

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// TestInitialContactRestart: a peer that restarts (a fresh engine, whose
// first IKE_AUTH carries INITIAL_CONTACT) from the same address and port
// leaves the responder with only its new IKE SA, round after round: the
// engine finds the stale SA in its index by peer address (filed when the
// SA came up, taken out when it is removed) instead of scanning all.
func TestInitialContactRestart(t *testing.T) {
	p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"})
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	for round := range 4 {
		if round > 0 { // the peer restarts and forgets its SAs
			p.a = newNode(t, "a", p.a.addr, log, p.a.conns...)
		}
		p.initiate(p.a, p.a.conns[0])
		p.run(30 * time.Second)
		requireEstablished(t, p.a, p.b) // one IKE SA each: the stale one is gone
	}
}
