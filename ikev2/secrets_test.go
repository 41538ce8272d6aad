package ikev2

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestNoSecretsInLogs runs handshakes, a failed authentication and a
// delete at debug level and checks that neither the PSK nor any derived
// key appears in any log message or field.
func TestNoSecretsInLogs(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	p := (&pair{t: t,
		a: newNode(t, "a", a, log, pskConn(t, "ab", a, b, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128-sha256"})),
		b: newNode(t, "b", b, log, pskConn(t, "ba", b, a, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128-sha256"})),
	}).wire()
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Minute)
	requireEstablished(t, p.a, p.b)
	var secrets []string
	for _, k := range p.a.inst.Live {
		for _, key := range [][]byte{k.EncKeyIn, k.EncKeyOut, k.IntegKeyIn, k.IntegKeyOut} {
			secrets = append(secrets, hex.EncodeToString(key), fmt.Sprint(key))
		}
	}
	for _, sa := range p.a.eng.sas {
		secrets = append(secrets, hex.EncodeToString(sa.keys.sk().SKd), hex.EncodeToString(sa.keys.sk().SKpi))
	}
	ds, _ := p.b.eng.Terminate(p.Now, "ba")
	p.do(p.b, ds)
	p.run(time.Minute)
	// A failed authentication logs the most about keys, if anything does.
	p.b.conns[0].PSK = []byte("another secret")
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Minute)
	secrets = append(secrets, "test secret", "another secret")

	if logs.Len() < 10 {
		t.Fatalf("only %d log entries: the test does not exercise logging", logs.Len())
	}
	for _, e := range logs.All() {
		text := e.Message + " " + fmt.Sprint(e.ContextMap())
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Fatalf("log entry %q contains a secret", text)
			}
		}
	}
}
