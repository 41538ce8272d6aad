// Package ikev1 is the IKEv1 engine (RFC 2407/2408/2409): Main,
// Aggressive and Quick Mode as a sans-I/O state machine. The vendor ID
// catalogue that names the extensions and products of its peers is
// internal/vendorid, shared with the IKEv2 engine.
package ikev1

import "ikegate/internal/vendorid"

// The vendor IDs ikegate sends (ourVIDs) and reads (readVIDs), from the
// shared catalogue. Do not modify them: they are shared.
var (
	VIDNATTRFC3947   = vendorid.NATTRFC3947
	VIDNATTDraft02   = vendorid.NATTDraft02
	VIDNATTDraft02n  = vendorid.NATTDraft02n
	VIDNATTDraft03   = vendorid.NATTDraft03
	VIDDPD           = vendorid.DPD
	VIDFragmentation = vendorid.Fragmentation
	VIDXAUTH         = vendorid.XAUTH
	VIDCiscoUnity    = vendorid.CiscoUnity
	VIDStrongSwan    = vendorid.StrongSwan
)
