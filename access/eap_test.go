package access

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2759"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"
	"layeh.com/radius/rfc3079"
	"layeh.com/radius/vendors/microsoft"

	"ikegate/internal/mschapv2"
	"ikegate/policy"
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// The sample values of RFC 2759 9.2 and RFC 3079 3.5.3.
var (
	vecUser          = []byte("User")
	vecPassword      = []byte("clientPass")
	vecAuthChallenge = unhex("5B5D7C7D7B3F2F3E3C2C602132262628")
	vecPeerChallenge = unhex("21402324255E262A28295F2B3A337C7E")
	vecNTResponse    = unhex("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")
)

func TestMSCHAPv2Vectors(t *testing.T) {
	hash := policy.NTPasswordHash(vecPassword)
	master := rfc3079.GetMasterKey(rfc2759.NTPasswordHash(hash), vecNTResponse)
	msk, err := mschapv2.MSK(hash, vecNTResponse)
	if err != nil {
		t.Fatal(err)
	}
	// The server's receive key from RFC 3079 3.4's definition, written
	// out independently of the library: SHA1(MasterKey, SHSpad1, Magic2,
	// SHSpad2) with Magic2 "On the client side, this is the send key; on
	// the server side, it is the receive key."
	h := sha1.New()
	h.Write(master)
	h.Write(make([]byte, 40))
	h.Write([]byte("On the client side, this is the send key; on the server side, it is the receive key."))
	h.Write(bytes.Repeat([]byte{0xf2}, 40))
	serverRecv := h.Sum(nil)[:16]

	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"RFC 2759 9.2 PasswordHash", hash, "44EBBA8D5312B8D611474411F56989AE"},
		{"RFC 2759 9.2 PasswordHashHash", rfc2759.NTPasswordHash(hash), "41C00C584BD2D91C4017A2A12FA59F3F"},
		{"RFC 2759 9.2 ChallengeHash", rfc2759.ChallengeHash(vecPeerChallenge, vecAuthChallenge, vecUser), "D02E4386BCE91226"},
		{"RFC 2759 9.2 NT-Response", rfc2759.ChallengeResponse(rfc2759.ChallengeHash(vecPeerChallenge, vecAuthChallenge, vecUser), hash),
			"82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF"},
		{"RFC 2759 9.2 AuthenticatorResponse from the NT hash",
			[]byte(mschapv2.AuthenticatorResponse(hash, vecNTResponse, vecPeerChallenge, vecAuthChallenge, vecUser)),
			hex.EncodeToString([]byte("S=407A5589115FD0D6209F510FE9C04566932CDA56"))},
		{"RFC 3079 3.5.3 MasterKey", master, "FDECE3717A8C838CB388E527AE3CDD31"},
		// RFC 3079's sample start key is the server's send key (Magic3).
		{"RFC 3079 3.5.3 SendStartKey128 = MSK[16:32]", msk[16:], "8B7CDC149B993A1BA118CB153F56DCCB"},
		{"MSK[0:16] = the server's receive key", msk[:16], hex.EncodeToString(serverRecv)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Equal(tt.got, unhex(tt.want)) {
				t.Fatalf("got %X, want %s", tt.got, tt.want)
			}
		})
	}
	// The hash-based authenticator response agrees with the library's
	// password-based one.
	lib, err := rfc2759.GenerateAuthenticatorResponse(vecAuthChallenge, vecPeerChallenge, vecNTResponse, vecUser, vecPassword)
	if err != nil || lib != mschapv2.AuthenticatorResponse(hash, vecNTResponse, vecPeerChallenge, vecAuthChallenge, vecUser) {
		t.Fatalf("library says %q (%v)", lib, err)
	}
}

func TestUsersNTHashOf(t *testing.T) {
	hash := policy.NTPasswordHash([]byte("pw"))
	u := NewUsers([]*policy.User{{Name: "plain", Password: []byte("pw")}, {Name: "hashed", NTHash: hash}, {Name: "none"}})
	tests := []struct {
		name string
		ok   bool
	}{{"plain", true}, {"hashed", true}, {"none", false}, {"nobody", false}}
	for _, tt := range tests {
		got, ok := u.ntHashOf(tt.name)
		if ok != tt.ok || (ok && !bytes.Equal(got, hash)) {
			t.Errorf("%s: %X %v", tt.name, got, ok)
		}
	}
}

// msClient is the client side of EAP-MSCHAPv2, for tests.
type msClient struct {
	identity, name, password string
	nak                      bool // answer the Challenge with a Nak
	rejectServer             bool // answer the Success with a Failure (the server did not prove itself)

	ntResponse    []byte
	authChallenge []byte
	userName      []byte // hashed: the name without a domain
	msk           []byte
	failure       string // the Failure request's message
}

// answer is the client's answer to the request msg and its stage: 1 for
// the identity, 2 for the MSCHAPv2 Response, 3 for the acknowledgement.
func (c *msClient) answer(msg []byte) ([]byte, int, error) {
	if len(msg) < 5 || msg[0] != EAPCodeRequest || int(binary.BigEndian.Uint16(msg[2:4])) != len(msg) {
		return nil, 0, fmt.Errorf("not an EAP request: %X", msg)
	}
	id, typ, d := msg[1], msg[4], msg[5:]
	response := func(typ byte, data ...byte) []byte {
		b := append([]byte{EAPCodeResponse, id, 0, 0, typ}, data...)
		binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
		return b
	}
	if typ == EAPTypeIdentity {
		return response(EAPTypeIdentity, []byte(c.identity)...), 1, nil
	}
	if typ != EAPTypeMSCHAPv2 || len(d) < 4 || int(binary.BigEndian.Uint16(d[2:4])) != len(msg)-5 {
		return nil, 0, fmt.Errorf("not an MSCHAPv2 request: %X", msg)
	}
	msID := d[1]
	switch d[0] {
	case mschapv2.OpChallenge:
		if c.nak {
			return response(EAPTypeNak, 13, 25), 2, nil
		}
		if len(d) != 4+1+16+len("ikegate") || d[4] != 16 || string(d[21:]) != "ikegate" {
			return nil, 0, fmt.Errorf("bad challenge %X", d)
		}
		authChallenge := d[5:21]
		peerChallenge := bytes.Repeat([]byte{0x5a}, 16)
		name := c.name
		if name == "" {
			name = c.identity
		}
		var err error
		c.authChallenge, c.userName = append([]byte(nil), authChallenge...), []byte(mschapv2.StripDomain(name))
		c.ntResponse, err = rfc2759.GenerateNTResponse(authChallenge, peerChallenge, c.userName, []byte(c.password))
		if err != nil {
			return nil, 0, err
		}
		value := append(append(append(append([]byte{}, peerChallenge...), make([]byte, 8)...), c.ntResponse...), 0)
		data := append([]byte{mschapv2.OpResponse, msID, 0, 0, mschapv2.ResponseSize}, value...)
		data = append(data, []byte(name)...)
		binary.BigEndian.PutUint16(data[2:4], uint16(len(data)))
		return response(EAPTypeMSCHAPv2, data...), 2, nil
	case mschapv2.OpSuccess:
		want, err := rfc2759.GenerateAuthenticatorResponse(c.authChallenge, bytes.Repeat([]byte{0x5a}, 16), c.ntResponse,
			c.userName, []byte(c.password))
		if err != nil || !strings.HasPrefix(string(d[4:]), want+" M=") {
			return nil, 0, fmt.Errorf("success %q, want %q", d[4:], want)
		}
		if c.rejectServer {
			return response(EAPTypeMSCHAPv2, mschapv2.OpFailure), 3, nil
		}
		recv, _ := rfc3079.MakeKey(c.ntResponse, []byte(c.password), false) // the server's receive key = the client's send key
		send, _ := rfc3079.MakeKey(c.ntResponse, []byte(c.password), true)
		c.msk = append(recv, send...)
		return response(EAPTypeMSCHAPv2, mschapv2.OpSuccess), 3, nil
	case mschapv2.OpFailure:
		c.failure = string(d[4:])
		return response(EAPTypeMSCHAPv2, mschapv2.OpFailure), 3, nil
	}
	return nil, 0, fmt.Errorf("unexpected OpCode %d", d[0])
}

var failureRE = regexp.MustCompile(`^E=691 R=0 C=[0-9A-F]{32} V=3 M=\S`)

func TestMSCHAPv2Server(t *testing.T) {
	users := NewUsers([]*policy.User{
		{Name: "alice", Password: []byte("alice-secret")},
		{Name: "bob", NTHash: policy.NTPasswordHash([]byte("bob-secret"))},
	})
	truncate := func(n int) func([]byte) []byte { return func(b []byte) []byte { return b[:min(n, len(b))] } }
	tests := []struct {
		name    string
		client  msClient
		stage   int                 // tamper with the client's message of this stage
		tamper  func([]byte) []byte // how
		wantErr error               // nil: accepted (unless wantMsg)
		wantMsg string              // in the error
	}{
		{name: "password", client: msClient{identity: "alice", password: "alice-secret"}},
		{name: "NT hash", client: msClient{identity: "bob", password: "bob-secret"}},
		{name: "Windows domain", client: msClient{identity: `CORP\bob`, password: "bob-secret"}},
		{name: "domain only in the MSCHAPv2 name", client: msClient{identity: "alice", name: `CORP\alice`, password: "alice-secret"}},
		{name: "wrong password", client: msClient{identity: "alice", password: "Tr0ub4dor&3"}, wantErr: ErrBadPassword, wantMsg: `"alice"`},
		{name: "wrong password, NT hash", client: msClient{identity: "bob", password: "alice-secret"}, wantErr: ErrBadPassword, wantMsg: `"bob"`},
		{name: "unknown user", client: msClient{identity: "mallory", password: "alice-secret"}, wantErr: ErrUnknownUser, wantMsg: `"mallory"`},
		{name: "Nak", client: msClient{identity: "alice", nak: true}, wantErr: ErrEAPRefused, wantMsg: "EAP-TLS (13), PEAP (25)"},
		{name: "client refuses the server", client: msClient{identity: "alice", password: "alice-secret", rejectServer: true},
			wantMsg: "did not accept the gateway's MSCHAPv2 authenticator response"},
		{name: "bad identifier, identity", client: msClient{identity: "alice"}, stage: 1,
			tamper: func(b []byte) []byte { b[1]++; return b }, wantMsg: "EAP identifier"},
		{name: "bad identifier, response", client: msClient{identity: "alice", password: "alice-secret"}, stage: 2,
			tamper: func(b []byte) []byte { b[1]--; return b }, wantMsg: "EAP identifier"},
		{name: "bad MS-CHAPv2-ID", client: msClient{identity: "alice", password: "alice-secret"}, stage: 2,
			tamper: func(b []byte) []byte { b[6]++; return b }, wantMsg: "MS-CHAPv2-ID"},
		{name: "bad identifier after a wrong password", client: msClient{identity: "alice", password: "x"}, stage: 3,
			tamper: func(b []byte) []byte { b[1]++; return b }, wantErr: ErrBadPassword, wantMsg: "EAP identifier"},
		{name: "empty identity", client: msClient{identity: ""}, wantMsg: "empty EAP identity"},
		{name: "truncated header", client: msClient{identity: "alice"}, stage: 1, tamper: truncate(3), wantMsg: "truncated EAP packet"},
		{name: "Length beyond the packet", client: msClient{identity: "alice"}, stage: 1, tamper: truncate(6), wantMsg: "EAP Length"},
		{name: "truncated response", client: msClient{identity: "alice", password: "alice-secret"}, stage: 2,
			tamper: func(b []byte) []byte { b = b[:40]; binary.BigEndian.PutUint16(b[2:], 40); return b }, wantMsg: "truncated MSCHAPv2 Response"},
		{name: "bad Value-Size", client: msClient{identity: "alice", password: "alice-secret"}, stage: 2,
			tamper: func(b []byte) []byte { b[9] = 48; return b }, wantMsg: "Value-Size"},
		{name: "no type", client: msClient{identity: "alice"}, stage: 1, tamper: func([]byte) []byte { return []byte{2, 0, 0, 4} },
			wantMsg: "EAP"},
		{name: "a Request from the client", client: msClient{identity: "alice", password: "alice-secret"}, stage: 3,
			tamper: func(b []byte) []byte { b[0] = EAPCodeRequest; return b }, wantMsg: "want a Response"},
		{name: "Nak to the identity", client: msClient{identity: "alice"}, stage: 1,
			tamper: func(b []byte) []byte { b[4] = EAPTypeNak; return b }, wantMsg: "EAP type 3"},
		{name: "padding ignored", client: msClient{identity: "alice", password: "alice-secret"}, stage: 2,
			tamper: func(b []byte) []byte { return append(b, 0, 0, 0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			c := tt.client
			s := NewMSCHAPv2Server(users, rand.Reader)
			if s.Blocks() {
				t.Fatal("Blocks")
			}
			st := s.Step(ctx, nil)
			lastID := st.Message[1]
			for i := 0; !st.Done; i++ {
				if i > 0 && st.Message[1] != lastID+1 {
					t.Fatalf("request identifier %d after %d", st.Message[1], lastID)
				}
				lastID = st.Message[1]
				if i > 5 {
					t.Fatal("no end")
				}
				msg, stage, err := c.answer(st.Message)
				if err != nil {
					t.Fatal(err)
				}
				if stage == tt.stage {
					msg = tt.tamper(msg)
				}
				st = s.Step(ctx, msg)
			}
			if st.Message[1] != lastID {
				t.Errorf("final identifier %d, want %d", st.Message[1], lastID)
			}
			if tt.stage != 1 && st.Identity != c.identity {
				t.Errorf("Identity %q", st.Identity)
			}
			if tt.wantErr == nil && tt.wantMsg == "" {
				if st.Err != nil || !bytes.Equal(st.Message, []byte{EAPCodeSuccess, lastID, 0, 4}) {
					t.Fatalf("%v, %X", st.Err, st.Message)
				}
				if len(st.MSK) != 32 || !bytes.Equal(st.MSK, c.msk) {
					t.Fatalf("MSK %X, client's %X", st.MSK, c.msk)
				}
			} else {
				if st.Err == nil || !bytes.Equal(st.Message, []byte{EAPCodeFailure, lastID, 0, 4}) || st.MSK != nil {
					t.Fatalf("%v, %X, MSK %v", st.Err, st.Message, st.MSK != nil)
				}
				if tt.wantErr != nil && !errors.Is(st.Err, tt.wantErr) {
					t.Errorf("error %v, want %v", st.Err, tt.wantErr)
				}
				if !strings.Contains(st.Err.Error(), tt.wantMsg) {
					t.Errorf("error %q lacks %q", st.Err, tt.wantMsg)
				}
				if c.password != "" && strings.Contains(st.Err.Error(), c.password) {
					t.Errorf("error %q has the password", st.Err)
				}
				if errors.Is(tt.wantErr, ErrBadPassword) || errors.Is(tt.wantErr, ErrUnknownUser) {
					if tt.stage == 0 && !failureRE.MatchString(c.failure) {
						t.Errorf("Failure request %q", c.failure)
					}
				}
			}
			if again := s.Step(ctx, []byte{EAPCodeResponse, lastID, 0, 6, EAPTypeMSCHAPv2, mschapv2.OpSuccess}); !again.Done || again.Err == nil {
				t.Errorf("a message after the end: %+v", again)
			}
		})
	}
}

// eapFake is an in-process RADIUS server doing a pretend EAP method: it
// challenges the identity once with a large Request, accepts the client
// whose answer is fakeProof, and rejects others.
type eapFake struct {
	secret []byte
	addr   string

	badMA, noMA bool // sign answers wrongly, or not at all
	silentAfter int  // answer only this many requests (0: all)
	bareAccept  bool // Access-Accept without EAP-Message and keys
	// custom, if set, answers requests with a State.
	custom func(r *radius.Request) *radius.Packet

	mu       sync.Mutex
	requests []*radius.Packet
}

var (
	fakeChallenge = bytes.Repeat([]byte("challenge-"), 60) // 600 bytes: 3 EAP-Message attributes
	fakeProof     = bytes.Repeat([]byte("proof-"), 100)
	fakeRecvKey   = bytes.Repeat([]byte{0x11}, 32)
	fakeSendKey   = bytes.Repeat([]byte{0x22}, 32)
)

func eapPacketOf(code, id, typ byte, data []byte) []byte {
	b := append([]byte{code, id, 0, 0, typ}, data...)
	if code == EAPCodeSuccess || code == EAPCodeFailure {
		b = b[:4]
	}
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
	return b
}

func startEAPRadius(tb testing.TB, f *eapFake) string {
	tb.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	f.addr = c.LocalAddr().String()
	srv := &radius.PacketServer{SecretSource: radius.StaticSecretSource(f.secret), Handler: radius.HandlerFunc(f.serve)}
	go srv.Serve(c)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return f.addr
}

func (f *eapFake) serve(w radius.ResponseWriter, r *radius.Request) {
	cp := *r.Packet // the tests change their copy
	cp.Attributes = append(radius.Attributes(nil), r.Packet.Attributes...)
	f.mu.Lock()
	f.requests = append(f.requests, &cp)
	n := len(f.requests)
	f.mu.Unlock()
	if f.silentAfter > 0 && n > f.silentAfter {
		return
	}
	eap := rfc2869.EAPMessage_Get(r.Packet)
	state := rfc2865.State_Get(r.Packet)
	var resp *radius.Packet
	switch {
	case state == nil && len(eap) >= 5 && eap[0] == EAPCodeResponse && eap[4] == EAPTypeIdentity:
		resp = r.Response(radius.CodeAccessChallenge)
		rfc2865.State_Set(resp, []byte("state-"+string(eap[5:])))
		rfc2869.EAPMessage_Set(resp, eapPacketOf(EAPCodeRequest, eap[1]+1, 13, fakeChallenge))
	case state != nil && f.custom != nil:
		resp = f.custom(r)
	case state != nil && len(eap) >= 5 && bytes.Equal(eap[5:], fakeProof):
		resp = r.Response(radius.CodeAccessAccept)
		if !f.bareAccept {
			rfc2869.EAPMessage_Set(resp, eapPacketOf(EAPCodeSuccess, eap[1], 0, nil))
			microsoft.MSMPPERecvKey_Add(resp, fakeRecvKey)
			microsoft.MSMPPESendKey_Add(resp, fakeSendKey)
		}
		rfc2865.Class_Add(resp, []byte("group-eap"))
		rfc2865.FramedIPAddress_Set(resp, net.ParseIP("10.9.0.88"))
		rfc2865.SessionTimeout_Set(resp, 3600)
		rfc2869.AcctInterimInterval_Set(resp, 30)
	default:
		resp = r.Response(radius.CodeAccessReject)
		id := byte(0)
		if len(eap) > 1 {
			id = eap[1]
		}
		rfc2869.EAPMessage_Set(resp, eapPacketOf(EAPCodeFailure, id, 0, nil))
	}
	if !f.noMA {
		// RFC 3579 3.2: over the answer with the request's Authenticator,
		// which Response copies, before the Response Authenticator.
		rfc2869.MessageAuthenticator_Set(resp, make([]byte, 16))
		b, _ := resp.MarshalBinary()
		mac := hmac.New(md5.New, f.secret)
		mac.Write(b)
		sum := mac.Sum(nil)
		if f.badMA {
			sum[0] ^= 1
		}
		rfc2869.MessageAuthenticator_Set(resp, sum)
	}
	w.Write(resp)
}

func (f *eapFake) got() []*radius.Packet {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*radius.Packet(nil), f.requests...)
}

// eapRadiusClient answers the fake's pretend method.
func eapRadiusClient(t *testing.T, s EAPSession, identity string, proof []byte) EAPStep {
	t.Helper()
	ctx := context.Background()
	st := s.Step(ctx, nil)
	if st.Done || len(st.Message) != 5 || st.Message[0] != EAPCodeRequest || st.Message[4] != EAPTypeIdentity {
		t.Fatalf("start: %+v", st)
	}
	st = s.Step(ctx, eapPacketOf(EAPCodeResponse, st.Message[1], EAPTypeIdentity, []byte(identity)))
	if st.Done {
		return st
	}
	if st.Identity != identity || !bytes.Equal(st.Message, eapPacketOf(EAPCodeRequest, st.Message[1], 13, fakeChallenge)) {
		t.Fatalf("challenge: %+v", st)
	}
	return s.Step(ctx, eapPacketOf(EAPCodeResponse, st.Message[1], 13, proof))
}

func TestRadiusEAP(t *testing.T) {
	secret := []byte("radius-secret")
	req := Request{Calling: netip.MustParseAddr("192.0.2.7"), NASIP: netip.MustParseAddr("192.0.2.1")}
	tests := []struct {
		name      string
		servers   func(t *testing.T) ([]string, []*eapFake)
		proof     []byte
		wantErr   error
		wantCode  byte
		wantMSK   []byte
		wantSkips int
	}{
		{"accept", func(t *testing.T) ([]string, []*eapFake) {
			f := &eapFake{secret: secret}
			return []string{startEAPRadius(t, f)}, []*eapFake{f}
		}, fakeProof, nil, EAPCodeSuccess, append(append([]byte{}, fakeRecvKey...), fakeSendKey...), 0},
		{"accept without EAP-Message or keys", func(t *testing.T) ([]string, []*eapFake) {
			f := &eapFake{secret: secret, bareAccept: true}
			return []string{startEAPRadius(t, f)}, []*eapFake{f}
		}, fakeProof, nil, EAPCodeSuccess, nil, 0},
		{"reject", func(t *testing.T) ([]string, []*eapFake) {
			f := &eapFake{secret: secret}
			return []string{startEAPRadius(t, f)}, []*eapFake{f}
		}, []byte("wrong"), ErrRejected, EAPCodeFailure, nil, 0},
		{"timeout, then failover", func(t *testing.T) ([]string, []*eapFake) {
			f := &eapFake{secret: secret}
			return []string{silentServer(t), startEAPRadius(t, f)}, []*eapFake{nil, f}
		}, fakeProof, nil, EAPCodeSuccess, append(append([]byte{}, fakeRecvKey...), fakeSendKey...), 1},
		{"bad Message-Authenticator, then failover", func(t *testing.T) ([]string, []*eapFake) {
			bad, good := &eapFake{secret: secret, badMA: true}, &eapFake{secret: secret}
			return []string{startEAPRadius(t, bad), startEAPRadius(t, good)}, []*eapFake{bad, good}
		}, fakeProof, nil, EAPCodeSuccess, append(append([]byte{}, fakeRecvKey...), fakeSendKey...), 1},
		{"bad Message-Authenticator", func(t *testing.T) ([]string, []*eapFake) {
			f := &eapFake{secret: secret, badMA: true}
			return []string{startEAPRadius(t, f)}, []*eapFake{f}
		}, fakeProof, ErrUnreachable, EAPCodeFailure, nil, 1},
		{"no Message-Authenticator", func(t *testing.T) ([]string, []*eapFake) {
			f := &eapFake{secret: secret, noMA: true}
			return []string{startEAPRadius(t, f)}, []*eapFake{f}
		}, fakeProof, ErrUnreachable, EAPCodeFailure, nil, 1},
		{"the challenging server stops answering: no failover", func(t *testing.T) ([]string, []*eapFake) {
			first, second := &eapFake{secret: secret, silentAfter: 1}, &eapFake{secret: secret}
			return []string{startEAPRadius(t, first), startEAPRadius(t, second)}, []*eapFake{first, second}
		}, fakeProof, ErrUnreachable, EAPCodeFailure, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			servers, fakes := tt.servers(t)
			r := NewRadius(&policy.Radius{Servers: servers, Secret: secret, Timeout: 300 * time.Millisecond, NASIdentifier: "ikegate-test"})
			skips := 0
			r.Skipped = func(string, error) { skips++ }
			s := r.EAP(req)
			if !s.Blocks() {
				t.Fatal("Blocks")
			}
			st := eapRadiusClient(t, s, "alice", tt.proof)
			if !st.Done || st.Identity != "alice" || len(st.Message) != 4 || st.Message[0] != tt.wantCode {
				t.Fatalf("end: %+v", st)
			}
			if skips != tt.wantSkips {
				t.Errorf("%d servers skipped, want %d", skips, tt.wantSkips)
			}
			if tt.wantErr != nil {
				if !errors.Is(st.Err, tt.wantErr) || !strings.Contains(st.Err.Error(), `"alice"`) || st.MSK != nil || st.FromRadius {
					t.Fatalf("error %v, want %v naming alice", st.Err, tt.wantErr)
				}
				if strings.Contains(st.Err.Error(), string(secret)) {
					t.Fatalf("error %q has the secret", st.Err)
				}
				if tt.name == "the challenging server stops answering: no failover" && len(fakes[1].got()) != 0 {
					t.Fatal("failover in the middle of a conversation")
				}
				return
			}
			last := fakes[len(fakes)-1]
			if st.Err != nil || !st.FromRadius || !bytes.Equal(st.MSK, tt.wantMSK) {
				t.Fatalf("accept: %v, MSK %X", st.Err, st.MSK)
			}
			want := RadiusReply{Class: []byte("group-eap"), FramedIP: netip.MustParseAddr("10.9.0.88"), SessionTimeout: time.Hour,
				Interim: MinServerInterim, Server: last.addr}
			if fmt.Sprint(st.Reply) != fmt.Sprint(want) {
				t.Errorf("reply %+v, want %+v", st.Reply, want)
			}
			reqs := last.got()
			if len(reqs) != 2 {
				t.Fatalf("%d requests", len(reqs))
			}
			for i, p := range reqs {
				if rfc2865.UserName_GetString(p) != "alice" || rfc2865.CallingStationID_GetString(p) != "192.0.2.7" ||
					rfc2865.ServiceType_Get(p) != rfc2865.ServiceType_Value_FramedUser ||
					rfc2865.NASPortType_Get(p) != rfc2865.NASPortType_Value_Virtual || rfc2865.NASIdentifier_GetString(p) != "ikegate-test" {
					t.Errorf("request %d: %v", i, p.Attributes)
				}
				ma := rfc2869.MessageAuthenticator_Get(p)
				rfc2869.MessageAuthenticator_Set(p, make([]byte, 16))
				b, _ := p.MarshalBinary()
				mac := hmac.New(md5.New, secret)
				mac.Write(b)
				if !hmac.Equal(ma, mac.Sum(nil)) {
					t.Errorf("request %d: Message-Authenticator does not verify", i)
				}
			}
			if rfc2865.State_Get(reqs[0]) != nil || string(rfc2865.State_Get(reqs[1])) != "state-alice" {
				t.Errorf("State %q, %q", rfc2865.State_Get(reqs[0]), rfc2865.State_Get(reqs[1]))
			}
			chunks := 0
			for _, a := range reqs[1].Attributes {
				if a.Type == rfc2869.EAPMessage_Type {
					chunks++
					if len(a.Attribute) > 253 {
						t.Errorf("EAP-Message of %d bytes", len(a.Attribute))
					}
				}
			}
			if chunks != 3 {
				t.Errorf("%d EAP-Message attributes for %d bytes", chunks, len(fakeProof)+5)
			}
		})
	}
}

func TestRadiusEAPClientErrors(t *testing.T) {
	secret := []byte("radius-secret")
	f := &eapFake{secret: secret}
	r := NewRadius(&policy.Radius{Servers: []string{startEAPRadius(t, f)}, Secret: secret, Timeout: 300 * time.Millisecond})
	ctx := context.Background()
	tests := []struct {
		name    string
		msg     func(id byte) []byte
		wantMsg string
	}{
		{"bad identifier", func(id byte) []byte { return eapPacketOf(EAPCodeResponse, id+1, EAPTypeIdentity, []byte("alice")) }, "EAP identifier"},
		{"truncated", func(id byte) []byte { return []byte{EAPCodeResponse, id, 0} }, "truncated EAP packet"},
		{"Length beyond the packet", func(id byte) []byte { return []byte{EAPCodeResponse, id, 0, 9, 1} }, "EAP Length"},
		{"not an identity", func(id byte) []byte { return eapPacketOf(EAPCodeResponse, id, EAPTypeNak, []byte{26}) }, "EAP type 3"},
		{"empty identity", func(id byte) []byte { return eapPacketOf(EAPCodeResponse, id, EAPTypeIdentity, nil) }, "empty EAP identity"},
		{"a Request", func(id byte) []byte { return eapPacketOf(EAPCodeRequest, id, EAPTypeIdentity, []byte("x")) }, "want a Response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := r.EAP(Request{})
			st := s.Step(ctx, nil)
			st = s.Step(ctx, tt.msg(st.Message[1]))
			if !st.Done || st.Err == nil || !strings.Contains(st.Err.Error(), tt.wantMsg) || len(st.Message) != 4 || st.Message[0] != EAPCodeFailure {
				t.Fatalf("%+v, want an error with %q", st, tt.wantMsg)
			}
		})
	}
	if len(f.got()) != 0 {
		t.Fatal("malformed client messages reached the server")
	}
}
