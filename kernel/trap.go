package kernel

import "ikegate/policy"

// TrapInstaller is implemented by the backends that can trap a
// connection (start = "trap"): install an outbound policy for its
// LocalTS -> RemoteTS with a template for the tunnel endpoints and reqid,
// but no SA, so that the first matching packet makes the kernel raise an
// acquire (EventAcquire with that reqid) and the gateway negotiates.
//
// Only "xfrm" implements it. "none" has no dataplane to see packets and
// "userspace" has no policy layer that could raise an acquire.
//
// A CHILD SA installed later for the same selectors shares the trap's
// policy and takes it over; when that SA is deleted the policy goes back
// to the trap's template, so the connection stays trapped until
// RemoveTrap (or Close).
type TrapInstaller interface {
	// InstallTrap installs (or, with changed selectors or reqid,
	// replaces) the trap of conn, which needs a local and a remote
	// address. reqid identifies the trap in acquire events; it must not
	// collide with the reqids the engines give CHILD SAs.
	InstallTrap(conn *policy.Connection, reqid uint32) error
	// RemoveTrap removes the trap of conn (by name); removing a trap that
	// is not installed is not an error.
	RemoveTrap(conn *policy.Connection) error
}
