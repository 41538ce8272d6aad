package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"
)

// The control protocol: a client connects to the Unix socket and writes
// one JSON Request per line; the daemon answers each with one JSON value
// per line:
//
//	{"cmd":"up","name":"x"}    -> {"ok":true,"message":"..."}
//	{"cmd":"down","name":"x"}  -> {"ok":true,"terminated":true,"message":"..."}
//	{"cmd":"down","user":"u"}  -> the same for a remote-access user
//	{"cmd":"sas"}              -> [IKESAInfo, ...]   ([] when none)
//	{"cmd":"conns"}            -> [ConnInfo, ...]
//	{"cmd":"stats"}            -> Stats
//	{"cmd":"leases"}           -> [access.Lease, ...] ([] when none)
//
// Any failure is answered with {"error":"..."}.

// Request is one control request.
type Request struct {
	Cmd  string `json:"cmd"`
	Name string `json:"name,omitempty"`
	User string `json:"user,omitempty"` // down: a remote-access user instead of a connection
}

// Result answers "up" and "down".
type Result struct {
	OK         bool   `json:"ok"`
	Terminated *bool  `json:"terminated,omitempty"` // down: whether there was an SA
	Message    string `json:"message,omitempty"`
}

type errorResponse struct {
	Error string `json:"error"`
}

const (
	maxRequestLine = 64 << 10
	requestTimeout = 30 * time.Second
)

type controlServer struct {
	path string
	ln   *net.UnixListener
	g    *Gateway
	log  *zap.Logger

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// listenControl creates the control socket at path: the parent directory
// is created if needed, a stale socket (nobody accepting) is removed, and
// the socket is made mode 0600.
func listenControl(path string, g *Gateway, log *zap.Logger) (*controlServer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("control socket %s: exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another ikegate is listening there", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control socket: removing stale %s: %w", path, err)
		}
		log.Info("removed stale control socket", zap.String("path", path))
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return &controlServer{path: path, ln: ln, g: g, log: log.Named("control"), conns: map[net.Conn]struct{}{}}, nil
}

func (s *controlServer) serve(ctx context.Context) {
	defer s.wg.Wait()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("accept failed", zap.Error(err))
			time.Sleep(10 * time.Millisecond)
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.handleConn(ctx, c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

func (s *controlServer) close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.ln.Close() // also unlinks the socket file
}

func (s *controlServer) handleConn(ctx context.Context, c net.Conn) {
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 0, 4096), maxRequestLine)
	w := bufio.NewWriter(c)
	enc := json.NewEncoder(w) // Encode ends each value with '\n'
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		resp := s.handle(ctx, line)
		if err := enc.Encode(resp); err != nil {
			enc.Encode(errorResponse{Error: "encoding response: " + err.Error()})
		}
		if err := w.Flush(); err != nil {
			return
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, net.ErrClosed) {
		enc.Encode(errorResponse{Error: err.Error()})
		w.Flush()
	}
}

func (s *controlServer) handle(ctx context.Context, line []byte) any {
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		return errorResponse{Error: "bad request: " + err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	g := s.g
	s.log.Debug("request", zap.String("cmd", req.Cmd), zap.String("conn", req.Name))
	switch req.Cmd {
	case "up":
		if req.Name == "" {
			return errorResponse{Error: "up: missing connection name"}
		}
		if err := g.Up(ctx, req.Name); err != nil {
			return errorResponse{Error: err.Error()}
		}
		return Result{OK: true, Message: fmt.Sprintf("initiating %q", req.Name)}
	case "down":
		if req.User != "" {
			found, err := g.DownUser(ctx, req.User)
			if err != nil {
				return errorResponse{Error: err.Error()}
			}
			msg := fmt.Sprintf("disconnected user %q", req.User)
			if !found {
				msg = fmt.Sprintf("user %q has no IKE SA", req.User)
			}
			return Result{OK: true, Terminated: &found, Message: msg}
		}
		if req.Name == "" {
			return errorResponse{Error: "down: missing connection name (or user)"}
		}
		found, err := g.Down(ctx, req.Name)
		if err != nil {
			return errorResponse{Error: err.Error()}
		}
		msg := fmt.Sprintf("terminated %q", req.Name)
		if !found {
			msg = fmt.Sprintf("no IKE SA of %q to terminate", req.Name)
		}
		return Result{OK: true, Terminated: &found, Message: msg}
	case "sas":
		sas, err := g.SAs(ctx)
		if err != nil {
			return errorResponse{Error: err.Error()}
		}
		return sas
	case "conns":
		return g.Conns()
	case "stats":
		return g.Stats(ctx)
	case "leases":
		return g.Leases(ctx)
	case "":
		return errorResponse{Error: "bad request: missing \"cmd\""}
	}
	return errorResponse{Error: fmt.Sprintf("unknown command %q (want up, down, sas, conns, stats or leases)", req.Cmd)}
}
