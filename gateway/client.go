package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"time"

	"ikegate/access"
	"ikegate/cluster"
	"ikegate/policy"
)

// DefaultControl is the default path of the control socket.
const DefaultControl = "/run/ikegate/ikegate.sock"

// UnreachableError is returned by the Client when nothing answers on the
// control socket.
type UnreachableError struct {
	Path string
	Err  error
}

func (e *UnreachableError) Error() string {
	if errors.Is(e.Err, fs.ErrPermission) {
		return fmt.Sprintf("cannot reach ikegate at %s: permission denied: the control socket is for root "+
			"(or the control_group of [gateway]); run as root or as a member of that group (%v)", e.Path, e.Err)
	}
	return fmt.Sprintf("cannot reach ikegate at %s: is `ikegate run` running? (%v)", e.Path, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// RemoteError is an {"error": ...} answer from the daemon.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return e.Msg }

// Client talks to a running daemon over its control socket. Each call is
// one connection with one request.
type Client struct {
	Path    string        // control socket; DefaultControl if empty
	Timeout time.Duration // whole call; 35 s (or the wait plus 10 s) if zero
	// OnLog, if set, receives the connection's log lines while up, down
	// and rekey wait for their outcome (at StreamLevel; "" is info).
	OnLog       func(line string)
	StreamLevel string
}

func (c *Client) path() string {
	if c.Path == "" {
		return DefaultControl
	}
	return c.Path
}

// Call sends req and returns the raw JSON answer (without the trailing
// newline). An {"error": ...} answer is returned as a *RemoteError.
func (c *Client) Call(ctx context.Context, req Request) (json.RawMessage, error) {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = max(requestTimeout, time.Duration(req.Wait*float64(time.Second))) + 10*time.Second
	}
	if c.OnLog != nil && req.Wait > 0 {
		req.Stream, req.Level = true, c.StreamLevel
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.path())
	if err != nil {
		return nil, &UnreachableError{Path: c.path(), Err: err}
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("control %s: %w", c.path(), err)
	}
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return nil, fmt.Errorf("control %s: reading answer: %w", c.path(), err)
		}
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] == '{' {
			var e struct {
				Error *string `json:"error"`
				Log   *string `json:"log"`
			}
			if json.Unmarshal(line, &e) == nil {
				if e.Error != nil {
					return nil, &RemoteError{Msg: *e.Error}
				}
				if e.Log != nil {
					if c.OnLog != nil {
						c.OnLog(*e.Log)
					}
					continue
				}
			}
		}
		return json.RawMessage(line), nil
	}
}

// Follow calls fn with each log line of the daemon at level ("": info)
// or above, of connection conn only if it is not empty, until ctx ends or
// the daemon goes away.
func (c *Client) Follow(ctx context.Context, level, conn string, fn func(line string)) error {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", c.path())
	if err != nil {
		return &UnreachableError{Path: c.path(), Err: err}
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	b, err := json.Marshal(Request{Cmd: "log", Level: level, Name: conn})
	if err != nil {
		return err
	}
	if _, err := nc.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("control %s: %w", c.path(), err)
	}
	r := bufio.NewReader(nc)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("control %s: the daemon ended the log: %w", c.path(), err)
		}
		var m struct {
			Error *string `json:"error"`
			Log   *string `json:"log"`
		}
		if json.Unmarshal(line, &m) != nil {
			continue
		}
		switch {
		case m.Error != nil:
			return &RemoteError{Msg: *m.Error}
		case m.Log != nil:
			fn(*m.Log)
		default:
			return nil // the closing answer: the daemon stops
		}
	}
}

// RekeyWait asks the daemon to rekey connection name (its IKE SA with
// ike, else its CHILD SAs) and answer with the outcome, waiting at most
// timeout.
func (c *Client) RekeyWait(ctx context.Context, name string, ike bool, timeout time.Duration) (Result, error) {
	var r Result
	err := c.call(ctx, Request{Cmd: "rekey", Name: name, IKE: ike, Child: !ike, Wait: timeout.Seconds()}, &r)
	return r, err
}

// DownWait terminates connection name and waits, at most timeout, until
// its SAs are gone.
func (c *Client) DownWait(ctx context.Context, name string, timeout time.Duration) (Result, error) {
	var r Result
	err := c.call(ctx, Request{Cmd: "down", Name: name, Wait: timeout.Seconds()}, &r)
	return r, err
}

func (c *Client) call(ctx context.Context, req Request, v any) error {
	raw, err := c.Call(ctx, req)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("control %s: bad %s answer: %w", c.path(), req.Cmd, err)
	}
	return nil
}

// UpWait asks the daemon to initiate connection name and answer with the
// outcome, waiting at most timeout.
func (c *Client) UpWait(ctx context.Context, name string, timeout time.Duration) (Result, error) {
	var r Result
	err := c.call(ctx, Request{Cmd: "up", Name: name, Wait: timeout.Seconds()}, &r)
	return r, err
}

// Up asks the daemon to initiate connection name.
func (c *Client) Up(ctx context.Context, name string) (Result, error) {
	var r Result
	err := c.call(ctx, Request{Cmd: "up", Name: name}, &r)
	return r, err
}

// LogLevel sets the daemon's log level ("": only ask it) and returns the
// answer naming the level in force.
func (c *Client) LogLevel(ctx context.Context, level string) (Result, error) {
	var r Result
	err := c.call(ctx, Request{Cmd: "loglevel", Name: level}, &r)
	return r, err
}

// Reload asks the daemon to read its configuration file again and apply
// it; an error means nothing changed.
func (c *Client) Reload(ctx context.Context) (Result, error) {
	var r Result
	err := c.call(ctx, Request{Cmd: "reload"}, &r)
	return r, err
}

// Down asks the daemon to terminate the IKE SAs of connection name.
// DownUser disconnects a remote-access user.
func (c *Client) DownUser(ctx context.Context, user string) (Result, error) {
	var r Result
	err := c.call(ctx, Request{Cmd: "down", User: user}, &r)
	return r, err
}

// Down terminates the IKE SAs of connection name.
func (c *Client) Down(ctx context.Context, name string) (Result, error) {
	var r Result
	err := c.call(ctx, Request{Cmd: "down", Name: name}, &r)
	return r, err
}

// SAs returns the daemon's IKE SAs; never nil on success.
func (c *Client) SAs(ctx context.Context) ([]policy.IKESAInfo, error) {
	sas := []policy.IKESAInfo{}
	if err := c.call(ctx, Request{Cmd: "sas"}, &sas); err != nil {
		return nil, err
	}
	if sas == nil {
		sas = []policy.IKESAInfo{}
	}
	return sas, nil
}

// Conns returns the daemon's configured connections.
func (c *Client) Conns(ctx context.Context) ([]ConnInfo, error) {
	conns := []ConnInfo{}
	if err := c.call(ctx, Request{Cmd: "conns"}, &conns); err != nil {
		return nil, err
	}
	if conns == nil {
		conns = []ConnInfo{}
	}
	return conns, nil
}

// Certs returns the certificates of the daemon's configuration.
func (c *Client) Certs(ctx context.Context) ([]CertInfo, error) {
	certs := []CertInfo{}
	err := c.call(ctx, Request{Cmd: "certs"}, &certs)
	return certs, err
}

// Stats returns the daemon's packet counters.
// Leases returns the addresses handed out to remote-access clients.
func (c *Client) Leases(ctx context.Context) ([]access.Lease, error) {
	var l []access.Lease
	err := c.call(ctx, Request{Cmd: "leases"}, &l)
	return l, err
}

// Cluster lists the nodes of the daemon's cluster.
func (c *Client) Cluster(ctx context.Context) ([]cluster.NodeStatus, error) {
	var n []cluster.NodeStatus
	err := c.call(ctx, Request{Cmd: "cluster"}, &n)
	return n, err
}

// Stats returns the daemon's counters.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	err := c.call(ctx, Request{Cmd: "stats"}, &s)
	return s, err
}
