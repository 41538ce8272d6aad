package ikev2

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"ikegate/internal/engine"
	"ikegate/internal/enginetest"
	"ikegate/isakmp"
	"ikegate/policy"
)

// moveTo exports every SA of n, sends the records through their JSON
// encoding and restores them into a fresh engine with a fresh installer,
// which then takes n's place: the peer must notice nothing.
func moveTo(t *testing.T, p *pair, n *node) {
	t.Helper()
	before := n.eng.SAs()
	blobs := exportJSON(t, n)
	if len(blobs) != len(before) {
		t.Fatalf("exported %d records for %d SAs", len(blobs), len(before))
	}
	restoreInto(t, p, n, blobs)
	if after := n.eng.SAs(); !reflect.DeepEqual(after, before) {
		t.Fatalf("restored SAs differ:\n before %+v\n after  %+v", before, after)
	}
}

// exportJSON returns the records of n's SAs as JSON.
func exportJSON(t testing.TB, n *node) [][]byte {
	t.Helper()
	var blobs [][]byte
	for _, rec := range n.eng.Export() {
		b, err := rec.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		blobs = append(blobs, b)
	}
	return blobs
}

// restoreInto restores blobs into a fresh engine with a fresh installer,
// which takes n's place.
func restoreInto(t *testing.T, p *pair, n *node, blobs [][]byte) {
	t.Helper()
	cfg := n.eng.Cfg
	inst := &fakeInstaller{Base: n.inst.Base ^ 0x0f000000} // another host's SPI space
	cfg.Installer = inst
	fresh := NewEngine(cfg)
	for _, b := range blobs {
		rec, err := engine.UnmarshalRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		out, err := fresh.Restore(p.Now, rec)
		if err != nil {
			t.Fatal(err)
		}
		p.Do(enginetest.Peer{Engine: fresh, Inst: inst}, out)
	}
	for spi, ch := range inst.Live {
		if old := n.inst.Live[spi]; old != nil && ch.Owner != old.Owner {
			t.Fatalf("restored CHILD SA %08x speaks for %q, was %q (selector conflicts would misfire)", spi, ch.Owner, old.Owner)
		}
	}
	if len(inst.Live) != len(n.inst.Live) {
		t.Fatalf("restored %d CHILD SAs into the installer, had %d", len(inst.Live), len(n.inst.Live))
	}
	n.eng, n.inst = fresh, inst
}

// TestExportRestore moves one side's SAs to a fresh engine in the middle
// of an exchange whose response was lost: the peer's retransmission is
// answered from the restored response cache, and the SA then lives on
// through liveness checks, CHILD SA and IKE SA rekeys initiated by either
// side, and a new CHILD SA from the restored side.
func TestExportRestore(t *testing.T) {
	for _, tc := range []struct {
		name  string
		moved func(p *pair) *node // whose SAs move
		short func(p *pair) *node // whose lifetimes are short (rekeys it)
	}{
		{"responder moves, initiator rekeys", func(p *pair) *node { return p.b }, func(p *pair) *node { return p.a }},
		{"responder moves and rekeys", func(p *pair) *node { return p.b }, func(p *pair) *node { return p.b }},
		{"initiator moves and rekeys", func(p *pair) *node { return p.a }, func(p *pair) *node { return p.a }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, []string{"aes256-sha256-modp2048"}, []string{"aes128-sha256"})
			for _, n := range []*node{p.a, p.b} {
				n.conns[0].DPDDelay, n.conns[0].DPDTimeout, n.conns[0].DPDAction = 20*time.Second, time.Minute, "clear"
			}
			s := tc.short(p)
			s.conns[0].IKELifetime, s.conns[0].ChildLifetime = 10*time.Minute, 4*time.Minute
			p.initiate(p.a, p.a.conns[0])
			p.run(time.Second)
			requireEstablished(t, p.a, p.b)
			first := p.a.eng.SAs()[0]

			// The peer of the moving side rekeys the CHILD SA (a kernel soft
			// expire); the answer is lost and the move happens right then.
			moved := tc.moved(p)
			other := p.a
			if moved == p.a {
				other = p.b
			}
			dropped := 0
			p.Filter = func(_ int, d isakmp.Datagram) []isakmp.Datagram {
				if d.Local.Addr() == moved.addr && dropped == 0 {
					dropped++
					return nil
				}
				return []isakmp.Datagram{d}
			}
			spi := other.eng.SAs()[0].Children[0].SPIIn
			v, _ := strconv.ParseUint(spi, 16, 32)
			out, ok := other.eng.Expired(p.Now, uint32(v), false)
			if !ok {
				t.Fatal("soft expire not taken")
			}
			p.do(other, out)
			for len(p.Queue) > 0 { // deliver the request only; no timers
				p.Wire.Deliver()
			}
			if dropped != 1 {
				t.Fatalf("the response was not dropped (%d)", dropped)
			}
			moveTo(t, p, moved)
			p.run(30 * time.Second) // the retransmission is answered from the cache
			requireEstablished(t, p.a, p.b)
			if got := p.a.eng.SAs()[0]; got.LocalSPI != first.LocalSPI || got.Children[0].SPIIn == first.Children[0].SPIIn {
				t.Fatalf("after the move: IKE SA %s (was %s), CHILD SA %s (was %s)", got.LocalSPI, first.LocalSPI,
					got.Children[0].SPIIn, first.Children[0].SPIIn)
			}

			// Liveness checks both ways and IKE/CHILD rekeys.
			p.run(25 * time.Minute)
			requireEstablished(t, p.a, p.b)
			now := p.a.eng.SAs()[0]
			if now.LocalSPI == first.LocalSPI {
				t.Errorf("IKE SA not rekeyed after the move: %s", now.LocalSPI)
			}

			// A new CHILD SA initiated by the moved side.
			ds, err := moved.eng.Initiate(p.Now, moved.conns[0])
			if err != nil {
				t.Fatal(err)
			}
			p.do(moved, ds)
			p.run(time.Second)
			for _, n := range []*node{p.a, p.b} {
				sas := n.eng.SAs()
				if len(sas) != 1 || len(sas[0].Children) != 2 {
					t.Fatalf("%s: want one IKE SA with two CHILD SAs: %+v", n.name, sas)
				}
				for _, c := range sas[0].Children {
					if c.State != "INSTALLED" {
						t.Fatalf("%s: CHILD SA %s is %s", n.name, c.SPIIn, c.State)
					}
				}
			}
		})
	}
}

// TestRestoreStaleRecord: a record written before the last exchanges the
// SA took part in (a cluster node failed between two writes) is restored.
// Requests of the peer that the failed node answered put the peer's
// message IDs ahead of the record: the restored SA follows them (once,
// authenticated) instead of dropping them until the peer declares it
// dead. A request of its own that the failed node sent and saw answered
// is sent again with the same ID, and the peer answers it from its
// response cache (RFC 7296 2.1): one such exchange is survivable; the
// runtime writes records often enough that there is never more.
func TestRestoreStaleRecord(t *testing.T) {
	for _, tc := range []struct {
		name       string
		dpdA, dpdB time.Duration
		staleFor   time.Duration
		midSync    bool // both announce RFC 6311
	}{
		{"peer's requests ahead", 10 * time.Second, 0, 25 * time.Second, false},
		{"own request answered", 0, 10 * time.Second, 12 * time.Second, false},
		{"RFC 6311: peer's requests ahead", 10 * time.Second, 0, 25 * time.Second, true},
		{"RFC 6311: own requests ahead by three", 0, 10 * time.Second, 35 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"})
			p.a.eng.Cfg.MIDSync, p.b.eng.Cfg.MIDSync = tc.midSync, tc.midSync
			p.a.conns[0].DPDDelay, p.b.conns[0].DPDDelay = tc.dpdA, tc.dpdB
			for _, n := range []*node{p.a, p.b} {
				n.conns[0].DPDTimeout, n.conns[0].DPDAction = 40*time.Second, "clear"
			}
			p.initiate(p.a, p.a.conns[0])
			p.run(time.Second)
			requireEstablished(t, p.a, p.b)
			first := p.a.eng.SAs()[0]
			stale := exportJSON(t, p.b)
			p.run(tc.staleFor) // exchanges after b's record was taken
			restoreInto(t, p, p.b, stale)
			for _, sa := range p.b.eng.sas {
				if sa.midSync != tc.midSync {
					t.Fatalf("restored SA: RFC 6311 %v, want %v", sa.midSync, tc.midSync)
				}
			}
			p.run(3 * time.Minute) // without following, a dead peer after 40 s
			requireEstablished(t, p.a, p.b)
			if got := p.a.eng.SAs()[0]; got.LocalSPI != first.LocalSPI {
				t.Fatalf("the IKE SA was replaced (%s, was %s): the restored side did not answer", got.LocalSPI, first.LocalSPI)
			}
		})
	}
}

// TestRecordHidesSecrets: the record's JSON carries the keys (it is what
// a cluster stores, encrypted), but printing or logging a record never
// shows them.
func TestRecordHidesSecrets(t *testing.T) {
	p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"})
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Second)
	recs := p.b.eng.Export()
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	rec := &recs[0]
	skd := rec.Secrets["sk_d"]
	enc := rec.Children[0].Secrets["enc_in"]
	if len(skd) == 0 || len(enc) == 0 {
		t.Fatal("record lacks keys")
	}
	js, err := rec.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"secrets"`) || !strings.Contains(string(js), `"format":1`) {
		t.Fatalf("JSON does not mark its secrets or format: %s", js)
	}
	for _, shown := range []string{fmt.Sprint(rec), fmt.Sprintf("%+v", *rec), fmt.Sprintf("%#v", *rec), fmt.Sprintf("%v", rec.Children),
		fmt.Sprintf("%x", rec.Secrets["sk_d"]), fmt.Sprintf("%s", rec.Secrets)} {
		for _, k := range [][]byte{skd, enc} {
			if strings.Contains(shown, hex.EncodeToString(k)) || strings.Contains(shown, string(k)) || strings.Contains(shown, fmt.Sprint([]byte(k))) {
				t.Fatalf("a key shows in %q", shown)
			}
		}
	}
}

// TestRestoreRefuses: a record that cannot be restored is refused with a
// reason and leaves the engine as it was.
func TestRestoreRefuses(t *testing.T) {
	p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"})
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Second)
	good := p.b.eng.Export()[0]
	for _, tc := range []struct {
		name  string
		spoil func(r *engine.Record)
		want  string
	}{
		{"SPI in use", func(r *engine.Record) {}, "in use"},
		{"other version", func(r *engine.Record) { r.Version, r.IKEv1 = 1, &engine.V1State{} }, "cannot restore an IKEv1 SA"},
		{"other format", func(r *engine.Record) { r.Format = 2 }, "format 2"},
		{"remote access", func(r *engine.Record) { r.SPIr++; r.RemoteAccess = true }, "remote-access SA"},
		{"no such connection", func(r *engine.Record) { r.SPIr++; r.Conn = "gone" }, `no connection named "gone"`},
		{"missing key", func(r *engine.Record) {
			r.SPIr++
			r.Secrets = engine.Secrets{"sk_d": r.Secrets["sk_d"]}
		}, `lacks secret "sk_ei"`},
		{"bad child key", func(r *engine.Record) {
			r.SPIr++
			r.Children = []engine.ChildRecord{r.Children[0]}
			r.Children[0].Secrets = engine.Secrets{"enc_in": []byte{1}}
		}, "key lengths"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := good.Marshal()
			rec, err := engine.UnmarshalRecord(b)
			if err != nil {
				t.Fatal(err)
			}
			tc.spoil(rec)
			before := len(p.b.eng.SAs())
			out, err := p.b.eng.Restore(p.Now, rec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Restore: %v, want an error containing %q", err, tc.want)
			}
			if !out.Empty() || len(p.b.eng.SAs()) != before {
				t.Fatalf("a refused record changed the engine: %+v, %d SAs", out, len(p.b.eng.SAs()))
			}
		})
	}
}

// TestSelectorConflictRefused: when the runtime refuses a CHILD SA because
// another peer owns its selectors, the responder answers TS_UNACCEPTABLE
// (not NO_PROPOSAL_CHOSEN) and the IKE SA stays.
func TestSelectorConflictRefused(t *testing.T) {
	p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"})
	p.b.inst.FailAdd = fmt.Errorf("%w: 10.0.0.1/32 of x overlaps 10.0.0.1/32 of y", policy.ErrSelectorConflict)
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Second)
	sas := p.a.eng.SAs()
	if len(sas) != 1 || sas[0].State != "ESTABLISHED" || len(sas[0].Children) != 1 {
		t.Fatalf("initiator: %+v", sas)
	}
	if ch := sas[0].Children[0]; ch.State != "FAILED" || !strings.Contains(ch.Error, "TS_UNACCEPTABLE") {
		t.Fatalf("CHILD SA %s: %q, want FAILED with TS_UNACCEPTABLE", ch.State, ch.Error)
	}
}

// FuzzRestore restores arbitrary record JSON (as a cluster node reads it
// from etcd after decryption) into an engine: a record is refused with
// an error or restored, never a panic; a restored one is an established
// SA. Seeds: a real record and spoiled copies.
// go test -run=NONE -fuzz='^FuzzRestore$' -fuzztime=5m ./ikev2/
func FuzzRestore(f *testing.F) {
	p := newPairForFuzz(f)
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Minute)
	for _, n := range []*node{p.a, p.b} {
		for _, b := range exportJSON(f, n) {
			f.Add(b)
			f.Add(bytes.Replace(b, []byte(`"children":[{`), []byte(`"children":[{"spi_in":0,`), 1))
			f.Add(bytes.Replace(b, []byte(`"ike_version":2`), []byte(`"ike_version":1`), 1))
		}
	}
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := newPairForFuzz(t)
		rec, err := engine.UnmarshalRecord(b)
		if err != nil {
			return
		}
		if _, err := p.b.eng.Restore(p.Now, rec); err != nil {
			return
		}
		for _, sa := range p.b.eng.SAs() {
			if sa.State != "ESTABLISHED" {
				t.Fatalf("restored SA in state %s", sa.State)
			}
		}
	})
}
