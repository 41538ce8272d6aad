package access

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"

	"ikegate/policy"
)

// MinServerInterim is the shortest Acct-Interim-Interval taken from a
// server: RFC 2869 5.16 says it SHOULD NOT be smaller than 60 seconds.
const MinServerInterim = 60 * time.Second

// MaxInFlight is how many RADIUS requests may await their answers at
// once, all servers together; more wait their turn.
const MaxInFlight = 32

// RADIUS errors.
var (
	// ErrRejected: a server answered Access-Reject.
	ErrRejected = errors.New("RADIUS server rejected the user")
	// ErrUnreachable: no server answered (in time).
	ErrUnreachable = errors.New("no RADIUS server answered")
)

// Radius authenticates users with PAP (RFC 2865) or relays their EAP
// conversations (RFC 3579, Radius.EAP), and accounts their
// sessions (RFC 2866) against the configured servers, tried in order: a
// server that does not answer within the timeout is skipped for the next,
// an Access-Reject is final. Requests carry a Message-Authenticator
// (RFC 3579), which current servers demand. It is safe for concurrent use;
// every call blocks for at most the servers' timeouts, so callers run it
// off the shards' goroutines.
type Radius struct {
	cfg    *policy.Radius
	nasID  string
	client radius.Client
	slots  chan struct{} // requests in flight (MaxInFlight)

	// Skipped, if set, hears of each server that did not answer (or
	// answered nonsense) before the next is tried: failover is an event
	// operators want in their logs.
	Skipped func(server string, err error)
}

// skip records a failed server and reports it.
func (r *Radius) skip(server string, err error) error {
	if r.Skipped != nil {
		r.Skipped(server, err)
	}
	return fmt.Errorf("%s: %w", server, err)
}

// NewRadius returns the RADIUS backend of cfg.
func NewRadius(cfg *policy.Radius) *Radius {
	nasID := cfg.NASIdentifier
	if nasID == "" {
		nasID, _ = os.Hostname()
	}
	return &Radius{cfg: cfg, nasID: nasID, client: radius.Client{Retry: time.Second, MaxPacketErrors: 10},
		slots: make(chan struct{}, MaxInFlight)}
}

// RadiusReply is what an Access-Accept says about the session.
type RadiusReply struct {
	Class          []byte        // selects the user's group, echoed in accounting
	FramedIP       netip.Addr    // the address the user must get (zero: from the pool)
	SessionTimeout time.Duration // zero: none
	Interim        time.Duration // Acct-Interim-Interval (at least MinServerInterim); zero: none asked
	Server         string        // which server accepted
}

// Request describes the user and the client for a server's logs and
// policy.
type Request struct {
	User, Password string
	Calling        netip.Addr // Calling-Station-Id: the client's public address
	NASIP          netip.Addr // NAS-IP-Address: the gateway's address the client reached
}

func (r *Radius) timeout() time.Duration {
	if r.cfg.Timeout > 0 {
		return r.cfg.Timeout
	}
	return 3 * time.Second
}

// Authenticate checks req's password with PAP.
func (r *Radius) Authenticate(ctx context.Context, req Request) (RadiusReply, error) {
	var last error
	for _, server := range r.cfg.Servers {
		p, err := r.accessRequest(req)
		if err != nil {
			return RadiusReply{}, err
		}
		if err := rfc2865.UserPassword_SetString(p, req.Password); err != nil {
			return RadiusReply{}, fmt.Errorf("RADIUS request for %q: User-Password: %w", req.User, err)
		}
		if err := signRequest(p); err != nil {
			return RadiusReply{}, err
		}
		resp, err := r.exchange(ctx, p, server)
		if err != nil {
			last = r.skip(server, err)
			continue
		}
		switch resp.Code {
		case radius.CodeAccessAccept:
			return acceptReply(resp, server), nil
		case radius.CodeAccessReject:
			return RadiusReply{}, fmt.Errorf("%w (%s)", ErrRejected, server)
		default:
			last = r.skip(server, fmt.Errorf("unexpected answer %s", resp.Code))
		}
	}
	return RadiusReply{}, fmt.Errorf("%w: %v", ErrUnreachable, last)
}

// accessRequest starts an Access-Request for req.User with what all of
// them carry; the caller adds the credentials, then signs it.
func (r *Radius) accessRequest(req Request) (*radius.Packet, error) {
	p := radius.New(radius.CodeAccessRequest, r.cfg.Secret)
	if err := rfc2865.UserName_SetString(p, req.User); err != nil {
		return nil, fmt.Errorf("RADIUS request for %q: User-Name: %w", req.User, err)
	}
	r.identify(p, req.Calling, req.NASIP)
	rfc2865.ServiceType_Set(p, rfc2865.ServiceType_Value_FramedUser)
	rfc2865.NASPortType_Set(p, rfc2865.NASPortType_Value_Virtual)
	return p, nil
}

// acceptReply is what the Access-Accept resp of server says.
func acceptReply(resp *radius.Packet, server string) RadiusReply {
	rep := RadiusReply{Class: rfc2865.Class_Get(resp), Server: server}
	if ip := rfc2865.FramedIPAddress_Get(resp); ip != nil {
		rep.FramedIP, _ = netip.AddrFromSlice(ip.To4())
	}
	if t := rfc2865.SessionTimeout_Get(resp); t > 0 {
		rep.SessionTimeout = time.Duration(t) * time.Second
	}
	if t := rfc2869.AcctInterimInterval_Get(resp); t > 0 {
		rep.Interim = max(time.Duration(t)*time.Second, MinServerInterim)
	}
	return rep
}

// identify adds what tells the server who asks and for whom.
func (r *Radius) identify(p *radius.Packet, calling, nasIP netip.Addr) {
	if r.nasID != "" {
		rfc2865.NASIdentifier_SetString(p, r.nasID)
	}
	if nasIP.Is4() {
		rfc2865.NASIPAddress_Set(p, net.IP(nasIP.AsSlice()))
	}
	if calling.IsValid() {
		rfc2865.CallingStationID_SetString(p, calling.String())
	}
}

// exchange sends p to server and waits for the answer within the timeout.
// A request waits for a slot before it goes out: a burst of clients (a
// gateway restart brings every road warrior back at once) queues here
// instead of overrunning the servers, whose answers would then come too
// late for all. The server's timeout runs once the request is sent.
func (r *Radius) exchange(ctx context.Context, p *radius.Packet, server string) (*radius.Packet, error) {
	select {
	case r.slots <- struct{}{}:
		defer func() { <-r.slots }()
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a free RADIUS request slot (%d in flight): %w", cap(r.slots), ctx.Err())
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	return r.client.Exchange(ctx, p, server)
}

// signRequest adds the Message-Authenticator (RFC 3579 3.2): HMAC-MD5 over
// the packet with the attribute zeroed, keyed with the shared secret.
func signRequest(p *radius.Packet) error {
	zero := make([]byte, md5.Size)
	if err := rfc2869.MessageAuthenticator_Set(p, zero); err != nil {
		return err
	}
	b, err := p.MarshalBinary()
	if err != nil {
		return fmt.Errorf("RADIUS request: %w", err)
	}
	mac := hmac.New(md5.New, p.Secret)
	mac.Write(b)
	return rfc2869.MessageAuthenticator_Set(p, mac.Sum(nil))
}

// AcctStatus is the kind of an accounting record.
type AcctStatus int

// Accounting records (RFC 2866 5.1).
const (
	AcctStart   AcctStatus = AcctStatus(rfc2866.AcctStatusType_Value_Start)
	AcctInterim AcctStatus = AcctStatus(rfc2866.AcctStatusType_Value_InterimUpdate)
	AcctStop    AcctStatus = AcctStatus(rfc2866.AcctStatusType_Value_Stop)
)

// Session is one user session as accounting reports it.
type Session struct {
	ID       string // Acct-Session-Id
	User     string
	Calling  netip.Addr // the client's public address
	NASIP    netip.Addr
	FramedIP netip.Addr // the client's virtual IP
	Class    []byte     // from the Access-Accept
	Start    time.Time

	// Traffic so far (Interim, Stop), from the dataplane's counters.
	InBytes, OutBytes, InPackets, OutPackets uint64
}

// Account sends an accounting record of s to port+1 of each server in
// order until one answers.
func (r *Radius) Account(ctx context.Context, status AcctStatus, s Session, now time.Time) error {
	var last error
	for _, server := range r.cfg.Servers {
		acct, err := accountingAddr(server)
		if err != nil {
			return err
		}
		p := radius.New(radius.CodeAccountingRequest, r.cfg.Secret)
		rfc2866.AcctStatusType_Set(p, rfc2866.AcctStatusType(status))
		rfc2866.AcctSessionID_SetString(p, s.ID)
		rfc2865.UserName_SetString(p, s.User)
		r.identify(p, s.Calling, s.NASIP)
		if s.FramedIP.Is4() {
			rfc2865.FramedIPAddress_Set(p, net.IP(s.FramedIP.AsSlice()))
		}
		if len(s.Class) > 0 {
			rfc2865.Class_Add(p, s.Class)
		}
		if status != AcctStart {
			rfc2866.AcctSessionTime_Set(p, rfc2866.AcctSessionTime(now.Sub(s.Start)/time.Second))
			rfc2866.AcctInputOctets_Set(p, rfc2866.AcctInputOctets(uint32(s.InBytes)))
			rfc2866.AcctOutputOctets_Set(p, rfc2866.AcctOutputOctets(uint32(s.OutBytes)))
			rfc2869.AcctInputGigawords_Set(p, rfc2869.AcctInputGigawords(uint32(s.InBytes>>32)))
			rfc2869.AcctOutputGigawords_Set(p, rfc2869.AcctOutputGigawords(uint32(s.OutBytes>>32)))
			rfc2866.AcctInputPackets_Set(p, rfc2866.AcctInputPackets(uint32(s.InPackets)))
			rfc2866.AcctOutputPackets_Set(p, rfc2866.AcctOutputPackets(uint32(s.OutPackets)))
		}
		resp, err := r.exchange(ctx, p, acct)
		if err != nil {
			last = r.skip(acct, err)
			continue
		}
		if resp.Code == radius.CodeAccountingResponse {
			return nil
		}
		last = r.skip(acct, fmt.Errorf("unexpected answer %s", resp.Code))
	}
	return fmt.Errorf("accounting: %w: %v", ErrUnreachable, last)
}

// accountingAddr is the accounting service of an authentication server:
// the next port.
func accountingAddr(server string) (string, error) {
	host, port, err := net.SplitHostPort(server)
	if err != nil {
		return "", fmt.Errorf("RADIUS server %q: %w", server, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n <= 0 || n >= 65535 {
		return "", fmt.Errorf("RADIUS server %q: bad port", server)
	}
	return net.JoinHostPort(host, strconv.Itoa(n+1)), nil
}
