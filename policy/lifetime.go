package policy

import "time"

// RekeyAfter is how long after its creation one side rekeys an SA of the
// given lifetime (def when zero): the original initiator at 80-90% of it,
// spread by jitter (a random number) so that two gateways do not collide;
// the responder only at the full lifetime, so it rekeys only when the
// peer does not. Both IKE versions use it.
func RekeyAfter(lifetime, def time.Duration, initiator bool, jitter uint16) time.Duration {
	if lifetime <= 0 {
		lifetime = def
	}
	if !initiator {
		return lifetime
	}
	return lifetime*9/10 - time.Duration(jitter)*lifetime/10/65536
}
