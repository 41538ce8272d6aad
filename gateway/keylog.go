package gateway

import (
	"encoding/hex"
	"fmt"
	"os"
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
	// Refuse now what record would refuse for every IKE SA: an unsafe
	// directory, or a planted file in it.
	for _, name := range keyExportFiles {
		f, err := openKeyFile(dir, name, false)
		if err != nil {
			return nil, fmt.Errorf("gateway: key_export: %w", err)
		}
		if f != nil {
			f.Close()
		}
	}
	log.Warn("key export is ON: IKE SA keys are written for Wireshark; anyone who reads them can decrypt the IKE traffic. "+
		"Use it in a lab, never in production.", zap.String("key_export", dir))
	return &keyExport{dir: dir, log: log}, nil
}

// keyExportFiles are the files record writes, in Wireshark's names.
var keyExportFiles = []string{"ikev1_decryption_table", "ikev2_decryption_table"}

// record appends one IKE SA's keys; it is safe for concurrent use.
func (k *keyExport) record(keys policy.ExportedKeys) {
	line, file, err := wiresharkLine(keys)
	if err != nil {
		k.log.Info("key export: "+err.Error(), zap.String("spi_i", fmt.Sprintf("%016x", keys.SPIi)))
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	f, err := openKeyFile(k.dir, file, true)
	if err != nil {
		k.log.Warn("key export refused", zap.Error(err))
		return
	}
	defer f.Close()
	if _, err := f.WriteString(line + "\n"); err != nil {
		k.log.Warn("key export failed", zap.Error(err))
	}
}

// The rules for the key export directory and files, checked by
// openKeyFile (keylog_unix.go) on every open, so that nobody but us (and
// root) can redirect the keys or read them:
//
//   - the directory is not a symbolic link, is owned by root or by us,
//     and is not writable by its group or others (no sticky-bit
//     exception: a shared directory such as /tmp is refused);
//   - a file is opened with O_NOFOLLOW (a planted symbolic link is
//     refused, its target untouched) and created with mode 0600;
//   - a file that exists is a regular file, owned by us, with one link,
//     readable by nobody else.

// checkKeyDir applies the directory rules to the owner and mode of dir.
func checkKeyDir(dir string, uid, euid uint32, mode os.FileMode) error {
	switch {
	case mode&os.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link: give the real directory", dir)
	case !mode.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	case uid != 0 && uid != euid:
		return fmt.Errorf("%s is owned by uid %d, neither root nor us (uid %d): another user could replace the key files", dir, uid, euid)
	case mode.Perm()&0o022 != 0:
		return fmt.Errorf("%s is writable by %s (mode %04o): others could plant or replace the key files; chmod go-w it or use a private directory",
			dir, writableBy(mode), mode.Perm())
	}
	return nil
}

// checkKeyFile applies the file rules to a file that exists.
func checkKeyFile(path string, uid, euid uint32, nlink uint64, mode os.FileMode) error {
	switch {
	case !mode.IsRegular():
		return fmt.Errorf("%s exists and is not a regular file (%s)", path, fileType(mode))
	case uid != euid:
		return fmt.Errorf("%s is owned by uid %d, not us (uid %d): remove it", path, uid, euid)
	case nlink != 1:
		return fmt.Errorf("%s has %d hard links: another name could expose the keys; remove it", path, nlink)
	case mode.Perm()&0o077 != 0:
		return fmt.Errorf("%s is accessible by group or others (mode %04o): chmod 600 it", path, mode.Perm())
	}
	return nil
}

func writableBy(m os.FileMode) string {
	g, o := m&0o020 != 0, m&0o002 != 0
	switch {
	case g && o:
		return "group and others"
	case g:
		return "group"
	}
	return "others"
}

func fileType(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeSymlink != 0:
		return "a symbolic link"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return m.Type().String()
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
