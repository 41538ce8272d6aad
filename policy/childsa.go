package policy

// WipeKeys zeroes the ESP keys of both directions in place; an engine
// calls it when it drops the CHILD SA, so its keys do not linger in memory.
// It is a no-op on a nil *ChildSA.
func (c *ChildSA) WipeKeys() {
	if c == nil {
		return
	}
	clear(c.EncKeyIn)
	clear(c.EncKeyOut)
	clear(c.IntegKeyIn)
	clear(c.IntegKeyOut)
}
