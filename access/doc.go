// Package access holds the shared state of remote access that both IKE
// engines use: the address pools ([[pool]]) that Mode Config (IKEv1) and
// configuration payloads (IKEv2) hand addresses from, and the local user
// list ([[user]]) that XAUTH and EAP-MSCHAPv2 check passwords against.
// The RADIUS client is elsewhere; this package only reads the policy
// types (policy/access.go).
package access
