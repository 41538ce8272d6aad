package access

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"

	"ikegate/policy"
)

// fakeRadius is an in-process RADIUS server on consecutive UDP ports
// (authentication, accounting+1) for unit tests; interop tests use
// FreeRADIUS.
type fakeRadius struct {
	addr     string
	mu       sync.Mutex
	requests []*radius.Packet
	acct     []*radius.Packet
}

func startFakeRadius(t *testing.T, secret []byte) *fakeRadius {
	t.Helper()
	f := &fakeRadius{}
	var authConn, acctConn net.PacketConn
	for tries := 0; ; tries++ {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		a, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port+1))
		if err == nil {
			authConn, acctConn = c, a
			break
		}
		c.Close()
		if tries > 20 {
			t.Fatal("no two consecutive free UDP ports")
		}
	}
	f.addr = authConn.LocalAddr().String()
	auth := &radius.PacketServer{SecretSource: radius.StaticSecretSource(secret), Handler: radius.HandlerFunc(
		func(w radius.ResponseWriter, r *radius.Request) {
			f.mu.Lock()
			f.requests = append(f.requests, r.Packet)
			f.mu.Unlock()
			if rfc2865.UserName_GetString(r.Packet) != "alice" || rfc2865.UserPassword_GetString(r.Packet) != "alice-secret" {
				w.Write(r.Response(radius.CodeAccessReject))
				return
			}
			resp := r.Response(radius.CodeAccessAccept)
			rfc2865.FramedIPAddress_Set(resp, net.ParseIP("10.9.0.77"))
			rfc2865.Class_Add(resp, []byte("group-a"))
			w.Write(resp)
		})}
	acct := &radius.PacketServer{SecretSource: radius.StaticSecretSource(secret), Handler: radius.HandlerFunc(
		func(w radius.ResponseWriter, r *radius.Request) {
			f.mu.Lock()
			f.acct = append(f.acct, r.Packet)
			f.mu.Unlock()
			w.Write(r.Response(radius.CodeAccountingResponse))
		})}
	go auth.Serve(authConn)
	go acct.Serve(acctConn)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		auth.Shutdown(ctx)
		acct.Shutdown(ctx)
	})
	return f
}

// silentServer is an address where nothing answers.
func silentServer(t *testing.T) string {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.LocalAddr().String()
}

func TestRadiusPAP(t *testing.T) {
	secret := []byte("radius-secret")
	f := startFakeRadius(t, secret)
	r := NewRadius(&policy.Radius{Servers: []string{silentServer(t), f.addr}, Secret: secret, Timeout: 300 * time.Millisecond,
		NASIdentifier: "ikegate-test"})
	ctx := context.Background()
	req := Request{User: "alice", Password: "alice-secret", Calling: netip.MustParseAddr("192.0.2.7"), NASIP: netip.MustParseAddr("192.0.2.1")}

	rep, err := r.Authenticate(ctx, req)
	if err != nil {
		t.Fatalf("accept after failover: %v", err)
	}
	if rep.FramedIP != netip.MustParseAddr("10.9.0.77") || string(rep.Class) != "group-a" || rep.Server != f.addr {
		t.Fatalf("reply %+v", rep)
	}
	f.mu.Lock()
	p := f.requests[0]
	f.mu.Unlock()
	if rfc2865.NASIdentifier_GetString(p) != "ikegate-test" || rfc2865.CallingStationID_GetString(p) != "192.0.2.7" {
		t.Fatalf("request lacks NAS-Identifier or Calling-Station-Id: %v", p.Attributes)
	}
	// The Message-Authenticator verifies: HMAC-MD5 over the packet with
	// the attribute zeroed.
	ma := rfc2869.MessageAuthenticator_Get(p)
	rfc2869.MessageAuthenticator_Set(p, make([]byte, 16))
	b, _ := p.MarshalBinary()
	mac := hmac.New(md5.New, secret)
	mac.Write(b)
	if !hmac.Equal(ma, mac.Sum(nil)) {
		t.Fatal("Message-Authenticator does not verify")
	}

	req.Password = "Tr0ub4dor&3"
	if _, err := r.Authenticate(ctx, req); !errors.Is(err, ErrRejected) {
		t.Fatalf("wrong password: %v, want ErrRejected", err)
	}
	dead := NewRadius(&policy.Radius{Servers: []string{silentServer(t)}, Secret: secret, Timeout: 200 * time.Millisecond})
	if _, err := dead.Authenticate(ctx, req); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("no server: %v, want ErrUnreachable", err)
	}

	s := Session{ID: "s1", User: "alice", FramedIP: rep.FramedIP, Class: rep.Class, Start: time.Now().Add(-time.Minute),
		InBytes: 5 << 32, OutBytes: 2000, InPackets: 10, OutPackets: 20}
	if err := r.Account(ctx, AcctStart, s, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := r.Account(ctx, AcctStop, s, time.Now()); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	acct := f.acct
	f.mu.Unlock()
	if len(acct) != 2 {
		t.Fatalf("%d accounting records, want 2", len(acct))
	}
	stop := acct[1]
	if rfc2866.AcctStatusType_Get(stop) != rfc2866.AcctStatusType_Value_Stop || rfc2866.AcctSessionID_GetString(stop) != "s1" ||
		rfc2869.AcctInputGigawords_Get(stop) != 5 || rfc2866.AcctOutputOctets_Get(stop) != 2000 ||
		string(rfc2865.Class_Get(stop)) != "group-a" || rfc2866.AcctSessionTime_Get(stop) < 59 {
		t.Fatalf("stop record: %v", stop.Attributes)
	}
}
