package gateway

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"go.uber.org/zap"

	"ikegate/oakley"
	"ikegate/policy"
)

// keyExport writes IKE SA keys in Wireshark's decryption-table formats
// (the "ikev1_decryption_table" and "ikev2_decryption_table" UAT files in
// a Wireshark profile). It is the one place keys leave the engines, on
// explicit request (gateway.key_export), for debugging in a lab.
type keyExport struct {
	mu  sync.Mutex
	dir string
	log *zap.Logger
}

func newKeyExport(dir string, log *zap.Logger) (*keyExport, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("gateway: key_export: %w", err)
	}
	log.Warn("key export is ON: IKE SA keys are written for Wireshark; anyone who reads them can decrypt the IKE traffic. "+
		"Use it in a lab, never in production.", zap.String("key_export", dir))
	return &keyExport{dir: dir, log: log}, nil
}

// record appends one IKE SA's keys; it is safe for concurrent use.
func (k *keyExport) record(keys policy.ExportedKeys) {
	line, file, err := wiresharkLine(keys)
	if err != nil {
		k.log.Info("key export: "+err.Error(), zap.String("spi_i", fmt.Sprintf("%016x", keys.SPIi)))
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	f, err := os.OpenFile(filepath.Join(k.dir, file), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		k.log.Warn("key export failed", zap.Error(err))
		return
	}
	defer f.Close()
	if _, err := f.WriteString(line + "\n"); err != nil {
		k.log.Warn("key export failed", zap.Error(err))
	}
}

// wiresharkLine formats keys as a line of the UAT file it belongs in.
func wiresharkLine(k policy.ExportedKeys) (line, file string, err error) {
	spi := func(v uint64) string { return fmt.Sprintf("%016x", v) }
	if k.Version == 1 {
		// Initiator's cookie, encryption key.
		return spi(k.SPIi) + "," + hex.EncodeToString(k.EncI), "ikev1_decryption_table", nil
	}
	encr, ok := wiresharkEncr(k.Encr)
	if !ok {
		return "", "", fmt.Errorf("Wireshark cannot decrypt %s; IKE SA not exported", k.Encr)
	}
	integ, ok := wiresharkInteg[k.Integ]
	if !ok {
		return "", "", fmt.Errorf("Wireshark does not know integrity algorithm %d; IKE SA not exported", k.Integ)
	}
	return fmt.Sprintf("%s,%s,%s,%s,%q,%s,%s,%q", spi(k.SPIi), spi(k.SPIr),
		hex.EncodeToString(k.EncI), hex.EncodeToString(k.EncR), encr,
		hex.EncodeToString(k.IntegI), hex.EncodeToString(k.IntegR), integ), "ikev2_decryption_table", nil
}

// wiresharkEncr names an IKEv2 cipher as Wireshark's IKEv2 decryption
// table does.
func wiresharkEncr(t oakley.Transform) (string, bool) {
	switch t.ID {
	case oakley.Encr3DES:
		return "3DES [RFC2451]", true
	case oakley.EncrAESCBC:
		return fmt.Sprintf("AES-CBC-%d [RFC3602]", t.KeyLen), true
	case oakley.EncrAESCTR:
		return fmt.Sprintf("AES-CTR-%d [RFC5930]", t.KeyLen), true
	case oakley.EncrAESGCM8, oakley.EncrAESGCM12, oakley.EncrAESGCM16:
		icv := map[uint16]int{oakley.EncrAESGCM8: 8, oakley.EncrAESGCM12: 12, oakley.EncrAESGCM16: 16}[t.ID]
		return fmt.Sprintf("AES-GCM-%d with %d octet ICV [RFC5282]", t.KeyLen, icv), true
	}
	return "", false
}

var wiresharkInteg = map[uint16]string{
	oakley.IntegNone:         "NONE [RFC4306]",
	oakley.IntegHMACMD5_96:   "HMAC_MD5_96 [RFC2403]",
	oakley.IntegHMACSHA1_96:  "HMAC_SHA1_96 [RFC2404]",
	oakley.IntegHMACSHA2_256: "HMAC_SHA2_256_128 [RFC4868]",
	oakley.IntegHMACSHA2_384: "HMAC_SHA2_384_192 [RFC4868]",
	oakley.IntegHMACSHA2_512: "HMAC_SHA2_512_256 [RFC4868]",
}
