package policy

// The values of [gateway] esp_encap.
const (
	// ESPEncapForce: every CHILD SA is UDP-encapsulated (RFC 3948): the
	// engines claim to be behind a NAT in their NAT detection payloads,
	// so every peer sends ESP-in-UDP to port 4500. The default of the
	// userspace dataplane, and what peers that cannot do raw ESP need
	// (strongSwan's kernel-libipsec before 5.9.11).
	ESPEncapForce = "force"
	// ESPEncapAuto: real NAT detection; peers behind a NAT (or whose
	// NAT detection claims one) use ESP-in-UDP, the others raw ESP (IP
	// protocol 50). The default of the xfrm and none dataplanes.
	ESPEncapAuto = "auto"
)

// ESPEncapDefault is the esp_encap of a dataplane that does not set it:
// "force" for "userspace" (which carried ESP-in-UDP only before it had a
// raw ESP transport), "auto" for the others.
func ESPEncapDefault(dataplane string) string {
	if dataplane == "userspace" {
		return ESPEncapForce
	}
	return ESPEncapAuto
}

// ESPEncapMode is g's esp_encap, ESPEncapDefault of its dataplane when
// unset.
func (g *Gateway) ESPEncapMode() string {
	if g.ESPEncap == "" {
		return ESPEncapDefault(g.Dataplane)
	}
	return g.ESPEncap
}

// ForceEncap reports whether the engines must claim a NAT so that every
// CHILD SA is UDP-encapsulated (esp_encap = "force").
func (g *Gateway) ForceEncap() bool { return g.ESPEncapMode() == ESPEncapForce }

// espEncap reads esp_encap of [gateway] (after dataplane): "force" or
// "auto", the dataplane's default when unset.
func (l *cfgLoader) espEncap(t *cfgTable, g *Gateway) {
	if t.enum("esp_encap", &g.ESPEncap, ESPEncapForce, ESPEncapAuto) {
		return
	}
	g.ESPEncap = ESPEncapDefault(g.Dataplane)
}
