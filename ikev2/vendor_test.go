package ikev2

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"ikegate/internal/vendorid"
	"ikegate/isakmp"
)

const (
	nNATS      = isakmp.NotifyNATDetectionSourceIP
	nNATD      = isakmp.NotifyNATDetectionDestinationIP
	nFrag      = isakmp.NotifyIKEv2FragmentationSupported
	nSigHash   = isakmp.NotifySignatureHashAlgorithms
	nRedirect  = isakmp.NotifyRedirectSupported
	nMultiAuth = isakmp.NotifyMultipleAuthSupported
)

// TestProductFromNotifies: the notification orders of IKE_SA_INIT that
// name strongSwan and Libreswan (as captured from strongSwan 5.9.8 and
// Libreswan 4.10, see fingerprints), and those that must name nothing,
// ikegate's own first.
func TestProductFromNotifies(t *testing.T) {
	const childless = isakmp.NotifyChildlessIKEv2Supported
	for _, tc := range []struct {
		name string
		seq  []isakmp.NotifyType
		want string
	}{
		// Captured.
		{"strongSwan 5.9.8 request", []isakmp.NotifyType{nNATS, nNATD, nFrag, nSigHash, nRedirect}, vendorid.ProductStrongSwan},
		{"strongSwan 5.9.8 response", []isakmp.NotifyType{nNATS, nNATD, nFrag, nSigHash, childless, nMultiAuth}, vendorid.ProductStrongSwan},
		{"Libreswan 4.10 request (PSK)", []isakmp.NotifyType{nFrag, nNATS, nNATD}, vendorid.ProductLibreswan},
		{"Libreswan 4.10 response (PSK)", []isakmp.NotifyType{nFrag, nNATS, nNATD, childless}, vendorid.ProductLibreswan},
		// From their sources.
		{"strongSwan request after a COOKIE", []isakmp.NotifyType{isakmp.NotifyCookie, nNATS, nNATD, nFrag, nSigHash, nRedirect}, vendorid.ProductStrongSwan},
		{"strongSwan two source addresses", []isakmp.NotifyType{nNATS, nNATS, nNATD, nFrag, nRedirect}, vendorid.ProductStrongSwan},
		{"strongSwan redirected", []isakmp.NotifyType{nNATS, nNATD, nFrag, nSigHash, isakmp.NotifyRedirectedFrom}, vendorid.ProductStrongSwan},
		{"strongSwan 6 response", []isakmp.NotifyType{nNATS, nNATD, nFrag, nSigHash, childless, notifyIntermediateExchangeSupported, nMultiAuth}, vendorid.ProductStrongSwan},
		{"strongSwan with PPK", []isakmp.NotifyType{nNATS, nNATD, nFrag, nSigHash, nRedirect, notifyUsePPK}, vendorid.ProductStrongSwan},
		{"Libreswan request (certificates, redirect)", []isakmp.NotifyType{nFrag, nRedirect, nSigHash, nNATS, nNATD}, vendorid.ProductLibreswan},
		{"Libreswan response (PPK, intermediate)", []isakmp.NotifyType{nFrag, notifyIntermediateExchangeSupported, notifyUsePPK, nSigHash, nNATS, nNATD, childless}, vendorid.ProductLibreswan},
		{"Libreswan without fragmentation, certificates", []isakmp.NotifyType{nSigHash, nNATS, nNATD}, vendorid.ProductLibreswan},
		{"private notifications do not count", []isakmp.NotifyType{40961, nFrag, isakmp.NotifyMSStatus, nNATS, nNATD}, vendorid.ProductLibreswan},
		// Nothing to tell.
		{"ikegate request", []isakmp.NotifyType{nNATS, nNATD, nFrag, nSigHash}, ""},
		{"ikegate response", []isakmp.NotifyType{nNATS, nNATD, nFrag, nSigHash, nMultiAuth}, ""},
		{"NAT detection only", []isakmp.NotifyType{nNATS, nNATD}, ""},
		{"strongSwan order with an unexpected notification", []isakmp.NotifyType{nNATS, nNATD, nFrag, nSigHash, nRedirect, isakmp.NotifyIPCompSupported}, ""},
		{"no NAT detection", []isakmp.NotifyType{nFrag, nSigHash, nRedirect}, ""},
		{"two destination hashes", []isakmp.NotifyType{nFrag, nNATS, nNATD, nNATD}, ""},
		{"childless before the NAT pair", []isakmp.NotifyType{childless, nFrag, nNATS, nNATD}, ""},
		{"none", nil, ""},
	} {
		if got := productFromNotifies(tc.seq); got != tc.want {
			t.Errorf("%s: productFromNotifies(%v) = %q, want %q", tc.name, tc.seq, got, tc.want)
		}
	}
}

func TestIdentifyPeer(t *testing.T) {
	strongSwanReq := []isakmp.NotifyType{nNATS, nNATD, nFrag, nSigHash, nRedirect}
	libreswanReq := []isakmp.NotifyType{nFrag, nNATS, nNATD}
	for _, tc := range []struct {
		name     string
		vids     [][]byte
		notifies []isakmp.NotifyType
		want     string
	}{
		{"strongSwan send_vendor_id", [][]byte{vendorid.StrongSwan}, strongSwanReq, "strongSwan"},
		{"strongSwan by its notifications", nil, strongSwanReq, "strongSwan (probably)"},
		{"Libreswan send-vendorid", [][]byte{[]byte("OE-Libreswan-4.10")}, libreswanReq, "Libreswan"},
		{"Libreswan by its notifications", nil, libreswanReq, "Libreswan (probably)"},
		{"Libreswan fake-strongswan", [][]byte{vendorid.StrongSwan, []byte("OE-Libreswan-4.10")}, libreswanReq, "Libreswan"},
		{"a product ID beats the notifications", [][]byte{vendorid.StrongSwan}, libreswanReq, "strongSwan"},
		{"Windows", [][]byte{{0x1e, 0x2b, 0x51, 0x69, 0x05, 0x99, 0x1c, 0x7d, 0x7c, 0x96, 0xfc, 0xbf, 0xb5, 0x87, 0xe4, 0x61, 0, 0, 0, 9}}, []isakmp.NotifyType{nNATS, nNATD}, "Microsoft Windows"},
		{"IKEv1-style default set", [][]byte{vendorid.Fragmentation, vendorid.DPD, vendorid.XAUTH}, nil, "strongSwan (probably)"},
		{"unknown VID, ikegate's notifications", [][]byte{[]byte("who knows")}, []isakmp.NotifyType{nNATS, nNATD, nFrag, nSigHash}, ""},
	} {
		if got := identifyPeer(tc.vids, tc.notifies); got != tc.want {
			t.Errorf("%s: identifyPeer = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestPrivateNotify(t *testing.T) {
	for _, tc := range []struct {
		t    isakmp.NotifyType
		want bool
	}{
		{isakmp.NotifyAuthenticationFailed, false}, {8191, false}, {8192, true}, {isakmp.NotifyMSStatus, true},
		{16383, true}, {isakmp.NotifyInitialContact, false}, {40959, false}, {40960, true}, {65535, true},
	} {
		if got := privateNotify(tc.t); got != tc.want {
			t.Errorf("privateNotify(%d) = %v, want %v", tc.t, got, tc.want)
		}
	}
}

// TestPeerVendorPair: a vendor ID one engine sends in IKE_SA_INIT
// (Config.VendorIDs) is the other's peer_vendor, whichever initiates, and
// stays through export and restore; an engine that sends none (the
// default) is named by nobody, its notifications looking like no one's.
func TestPeerVendorPair(t *testing.T) {
	for _, tc := range []struct {
		name           string
		aVIDs, bVIDs   [][]byte
		wantA, wantB   string // the peer_vendor a and b list
		initiatorIsB   bool
		wantNoVIDsSent bool
	}{
		{name: "initiator's VID", aVIDs: [][]byte{vendorid.StrongSwan}, wantB: "strongSwan"},
		{name: "responder's VID", bVIDs: [][]byte{[]byte("OE-Libreswan-4.10")}, wantA: "Libreswan"},
		{name: "both, b initiates", aVIDs: [][]byte{vendorid.StrongSwan}, bVIDs: [][]byte{[]byte("OE-Libreswan-4.10")},
			wantA: "Libreswan", wantB: "strongSwan", initiatorIsB: true},
		{name: "none by default", wantNoVIDsSent: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, []string{"aes128-sha256-modp2048"}, []string{"aes128-sha256"})
			p.a.eng.Cfg.VendorIDs, p.b.eng.Cfg.VendorIDs = tc.aVIDs, tc.bVIDs
			sawVID := false
			p.Filter = func(_ int, d isakmp.Datagram) []isakmp.Datagram {
				if m, err := isakmp.ParseMessage(d.Data); err == nil && m.Header.Exchange == isakmp.ExchangeIKESAInit {
					for _, pl := range m.Payloads {
						if _, ok := pl.(*isakmp.VendorID); ok {
							sawVID = true
						}
					}
				}
				return []isakmp.Datagram{d}
			}
			if tc.initiatorIsB {
				p.initiate(p.b, p.b.conns[0])
			} else {
				p.initiate(p.a, p.a.conns[0])
			}
			p.run(10 * time.Second)
			requireEstablished(t, p.a, p.b)
			check := func(when string) {
				if got := p.a.eng.SAs()[0].PeerVendor; got != tc.wantA {
					t.Errorf("%s: a lists peer_vendor %q, want %q", when, got, tc.wantA)
				}
				if got := p.b.eng.SAs()[0].PeerVendor; got != tc.wantB {
					t.Errorf("%s: b lists peer_vendor %q, want %q", when, got, tc.wantB)
				}
			}
			check("established")
			if sawVID == tc.wantNoVIDsSent {
				t.Errorf("a vendor ID on the wire: %v, want %v", sawVID, !tc.wantNoVIDsSent)
			}
			moveTo(t, p, p.b) // fails on any difference in the listing
			check("restored")
		})
	}
}

// initRequestOf has a start an IKE SA and returns its IKE_SA_INIT request
// as parsed, without delivering it.
func initRequestOf(t *testing.T, p *pair) *isakmp.Message {
	t.Helper()
	p.initiate(p.a, p.a.conns[0])
	if len(p.Queue) != 1 {
		t.Fatalf("queued %d datagrams, want the IKE_SA_INIT request", len(p.Queue))
	}
	m, err := isakmp.ParseMessage(p.Queue[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestPeerVendorFromInitRequest: a responder names the peer of a
// half-open IKE SA from the notifications and vendor IDs of its
// IKE_SA_INIT request (rewritten here to be another implementation's),
// and names the unknown vendor IDs and private notifications, which it
// otherwise ignores, in one debug line; MS_STATUS at info level.
func TestPeerVendorFromInitRequest(t *testing.T) {
	notify := func(t isakmp.NotifyType, data []byte) *isakmp.Notify {
		return &isakmp.Notify{NotifyType: t, Data: data}
	}
	unknownVID := []byte("an unknown vendor ID longer than sixteen bytes")
	for _, tc := range []struct {
		name string
		// rewrite returns the notifications and vendor IDs after SA, KE
		// and Nonce, given ikegate's own NAT detection notifications.
		rewrite func(nats, natd *isakmp.Notify) []isakmp.Payload
		want    string
		// Debug line fields, and whether MS_STATUS is logged at info.
		vids, unknown, private []string
		msStatus               bool
	}{
		{name: "strongSwan order", want: "strongSwan (probably)", rewrite: func(nats, natd *isakmp.Notify) []isakmp.Payload {
			return []isakmp.Payload{nats, natd, notify(nFrag, nil), notify(nSigHash, []byte{0, 2}), notify(nRedirect, nil)}
		}},
		{name: "Libreswan order", want: "Libreswan (probably)", rewrite: func(nats, natd *isakmp.Notify) []isakmp.Payload {
			return []isakmp.Payload{notify(nFrag, nil), nats, natd}
		}},
		{name: "strongSwan VID", want: "strongSwan", vids: []string{"strongSwan"}, rewrite: func(nats, natd *isakmp.Notify) []isakmp.Payload {
			return []isakmp.Payload{notify(nFrag, nil), nats, natd, &isakmp.VendorID{Data: vendorid.StrongSwan}}
		}},
		{name: "ikegate's own", want: "", rewrite: nil},
		{name: "unknown VID and private notifications", want: "",
			unknown: []string{vendorid.Hex(unknownVID, 16)}, private: []string{"NotifyType(40961)", "MS_STATUS"}, msStatus: true,
			rewrite: func(nats, natd *isakmp.Notify) []isakmp.Payload {
				return []isakmp.Payload{nats, natd, notify(40961, []byte("x")), notify(isakmp.NotifyMSStatus, []byte{0, 0, 0x35, 0xe9}),
					&isakmp.VendorID{Data: unknownVID}}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, []string{"aes128-sha256-modp2048"}, []string{"aes128-sha256"})
			core, logs := observer.New(zap.DebugLevel)
			p.b.eng.Log = zap.New(core)
			m := initRequestOf(t, p)
			if tc.rewrite != nil {
				var keep []isakmp.Payload
				var nats, natd *isakmp.Notify
				for _, pl := range m.Payloads {
					switch n := pl.(type) {
					case *isakmp.Notify:
						switch n.NotifyType {
						case nNATS:
							nats = n
						case nNATD:
							natd = n
						}
					default:
						keep = append(keep, pl)
					}
				}
				m.Payloads = append(keep, tc.rewrite(nats, natd)...)
				p.Queue[0].Data = m.Marshal()
			}
			p.Deliver() // to b, which answers and holds a half-open SA
			sas := p.b.eng.SAs()
			if len(sas) != 1 || sas[0].State != "CONNECTING" {
				t.Fatalf("b's SAs: %+v, want one half-open", sas)
			}
			if sas[0].PeerVendor != tc.want {
				t.Errorf("peer_vendor %q, want %q", sas[0].PeerVendor, tc.want)
			}
			lines := logs.FilterMessageSnippet("IKE_SA_INIT: peer's vendor IDs").All()
			if tc.want == "" && tc.vids == nil && tc.unknown == nil && tc.private == nil {
				if len(lines) != 0 {
					t.Errorf("logged %+v for an IKE_SA_INIT with nothing to say", lines)
				}
			} else if len(lines) != 1 || lines[0].Level != zapcore.DebugLevel {
				t.Fatalf("want one debug line, got %+v", lines)
			} else {
				f := lines[0].ContextMap()
				if f["peer_vendor"] != tc.want || !sameStrings(f["vendor_ids"], tc.vids) ||
					!sameStrings(f["unknown_vendor_ids"], tc.unknown) || !sameStrings(f["private_notifies"], tc.private) {
					t.Errorf("debug line fields %v, want peer_vendor %q vendor_ids %q unknown %q private %q",
						f, tc.want, tc.vids, tc.unknown, tc.private)
				}
			}
			ms := logs.FilterMessageSnippet("MS_STATUS").All()
			if tc.msStatus != (len(ms) == 1) || (tc.msStatus && (ms[0].Level != zapcore.InfoLevel || ms[0].ContextMap()["windows_error"] != "13801")) {
				t.Errorf("MS_STATUS lines %+v, want one at info with windows_error 13801: %v", ms, tc.msStatus)
			}
			for _, l := range logs.All() {
				if l.Level >= zapcore.WarnLevel {
					t.Errorf("logged at %v: %s %v", l.Level, l.Message, l.ContextMap())
				}
			}
		})
	}
}

func sameStrings(got any, want []string) bool {
	var g []string
	switch v := got.(type) {
	case nil:
	case []any:
		for _, x := range v {
			s, _ := x.(string)
			g = append(g, s)
		}
	case []string:
		g = v
	default:
		return false
	}
	return strings.Join(g, "\x00") == strings.Join(want, "\x00")
}

// TestAuthNotifies: the error that explains a failed IKE_AUTH response
// is a standard one when there is any, even after Windows' MS_STATUS;
// MS_STATUS is logged at info level with its Windows error code, other
// private notifications at debug level, nothing at warn.
func TestAuthNotifies(t *testing.T) {
	ms := &isakmp.Notify{NotifyType: isakmp.NotifyMSStatus, Data: []byte{0, 0, 0x35, 0xe9}}
	af := &isakmp.Notify{NotifyType: isakmp.NotifyAuthenticationFailed}
	priv := &isakmp.Notify{NotifyType: 50000}
	status := &isakmp.Notify{NotifyType: isakmp.NotifyInitialContact}
	for _, tc := range []struct {
		name      string
		inner     []isakmp.Payload
		want      *isakmp.Notify
		infoLines int
		debug     bool
	}{
		{"MS_STATUS then AUTHENTICATION_FAILED", []isakmp.Payload{ms, af}, af, 1, true},
		{"MS_STATUS alone", []isakmp.Payload{status, ms}, ms, 1, true},
		{"private status only", []isakmp.Payload{priv, status}, nil, 0, true},
		{"nothing", []isakmp.Payload{status}, nil, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zap.DebugLevel)
			e := &Engine{}
			e.Log = zap.New(core)
			sa := &ikeSA{remote: netip.MustParseAddrPort("10.0.0.9:4500")}
			if got := e.authNotifies(sa, tc.inner); got != tc.want {
				t.Errorf("authNotifies = %+v, want %+v", got, tc.want)
			}
			if n := logs.FilterLevelExact(zapcore.InfoLevel).Len(); n != tc.infoLines {
				t.Errorf("%d info lines, want %d: %+v", n, tc.infoLines, logs.All())
			}
			if d := logs.FilterMessageSnippet("private notifications").FilterLevelExact(zapcore.DebugLevel).Len() == 1; d != tc.debug {
				t.Errorf("debug line: %v, want %v (%+v)", d, tc.debug, logs.All())
			}
			if logs.FilterLevelExact(zapcore.WarnLevel).Len() > 0 {
				t.Errorf("warned: %+v", logs.All())
			}
		})
	}
}

// FuzzIdentifyPeer: any notification sequence and vendor ID name a known
// product or nothing, "(probably)" unless a product vendor ID said so.
//
//	go test -run=NONE -fuzz='^FuzzIdentifyPeer$' -fuzztime=1m ./ikev2/
func FuzzIdentifyPeer(f *testing.F) {
	seq := func(ts ...isakmp.NotifyType) []byte {
		var b []byte
		for _, t := range ts {
			b = append(b, byte(t>>8), byte(t))
		}
		return b
	}
	f.Add(seq(nNATS, nNATD, nFrag, nSigHash, nRedirect), []byte(nil))
	f.Add(seq(nFrag, nNATS, nNATD, isakmp.NotifyChildlessIKEv2Supported), []byte("OE-Libreswan-4.10"))
	f.Add(seq(isakmp.NotifyCookie, nNATS, nNATD, 40961), vendorid.StrongSwan)
	f.Fuzz(func(t *testing.T, notifies, vid []byte) {
		var ts []isakmp.NotifyType
		for i := 0; i+1 < len(notifies); i += 2 {
			ts = append(ts, isakmp.NotifyType(notifies[i])<<8|isakmp.NotifyType(notifies[i+1]))
		}
		var vids [][]byte
		if vid != nil {
			vids = append(vids, vid)
		}
		got := identifyPeer(vids, ts)
		if got != identifyPeer(vids, ts) {
			t.Fatal("not deterministic")
		}
		if got == "" {
			return
		}
		p, exact := vendorid.Identify(vids)
		if exact {
			if got != p {
				t.Fatalf("identifyPeer = %q, vendor ID says %q", got, p)
			}
			return
		}
		if !strings.HasSuffix(got, " (probably)") {
			t.Fatalf("identifyPeer = %q without a product vendor ID", got)
		}
	})
}
