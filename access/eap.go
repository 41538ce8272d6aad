package access

import (
	"context"
)

// EAP codes and types the gateway's EAP servers use (RFC 3748).
const (
	EAPCodeRequest  = 1
	EAPCodeResponse = 2
	EAPCodeSuccess  = 3
	EAPCodeFailure  = 4

	EAPTypeIdentity = 1
	EAPTypeNak      = 3
	EAPTypeMSCHAPv2 = 26
)

// EAPStep is what an EAP server says after one message of the client.
type EAPStep struct {
	// Message is the EAP packet to send to the client (RFC 3748 4: code,
	// identifier, length, data): a Request while the conversation goes
	// on, Success or Failure when it is over.
	Message []byte
	// Done: the conversation is over (Message is Success or Failure).
	Done bool
	// Err: why the client is refused, in plain words naming the user
	// (never a password or key). Nil with Done: accepted. Set before Done
	// when the verdict is final but the method still tells the client
	// (the MSCHAPv2 Failure request it acknowledges).
	Err error
	// MSK, when Done and accepted: the Master Session Key the method
	// derived (RFC 5247), nil for methods without one. A secret.
	MSK []byte
	// Identity is the client's EAP identity, once it said it ("" before).
	Identity string
	// Reply, when Done and accepted by RADIUS: what the Access-Accept said
	// (Class, Framed-IP-Address, Session-Timeout, ...).
	Reply RadiusReply
	// FromRadius: Reply is RADIUS's answer.
	FromRadius bool
}

// EAPSession is the server side of one client's EAP conversation
// (RFC 3748), driven one client message at a time. It is not safe for
// concurrent use: its caller sends one message and waits for the step.
type EAPSession interface {
	// Step takes the client's next EAP message (nil: start the
	// conversation; the first step is the EAP-Request/Identity) and
	// returns what to answer. It may block for a RADIUS round trip (at
	// most the servers' timeouts); callers run it off the shards'
	// goroutines when it may.
	Step(ctx context.Context, msg []byte) EAPStep
	// Blocks reports whether Step may block (RADIUS).
	Blocks() bool
}
