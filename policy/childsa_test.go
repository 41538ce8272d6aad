package policy

import (
	"bytes"
	"testing"
)

func TestChildSAWipeKeys(t *testing.T) {
	k := &ChildSA{
		EncKeyIn: []byte{1, 2}, EncKeyOut: []byte{3, 4, 5},
		IntegKeyIn: []byte{6}, IntegKeyOut: nil,
	}
	in := k.EncKeyIn // the engine's KEYMAT slice: wiped in place
	k.WipeKeys()
	for name, key := range map[string][]byte{"EncKeyIn": k.EncKeyIn, "EncKeyOut": k.EncKeyOut,
		"IntegKeyIn": k.IntegKeyIn, "IntegKeyOut": k.IntegKeyOut} {
		if !bytes.Equal(key, make([]byte, len(key))) {
			t.Errorf("%s = %x after WipeKeys", name, key)
		}
	}
	if len(k.EncKeyOut) != 3 || !bytes.Equal(in, []byte{0, 0}) {
		t.Error("WipeKeys must zero the keys in place, not drop them")
	}
	var none *ChildSA
	none.WipeKeys() // must not panic
}
