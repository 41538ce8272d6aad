package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// The control protocol: a client connects to the Unix socket and writes
// one JSON Request per line; the daemon answers each with one JSON value
// per line:
//
//	{"cmd":"up","name":"x"}    -> {"ok":true,"message":"..."}
//	{"cmd":"down","name":"x"}  -> {"ok":true,"terminated":true,"message":"..."}
//	{"cmd":"down","user":"u"}  -> the same for a remote-access user
//	{"cmd":"rekey","name":"x","ike":true} -> {"ok":true,"message":"..."}
//	{"cmd":"log","level":"debug"} -> {"log":"..."} per log line, until the client goes
//	{"cmd":"sas"}              -> [IKESAInfo, ...]   ([] when none)
//	{"cmd":"conns"}            -> [ConnInfo, ...]
//	{"cmd":"certs"}            -> [CertInfo, ...]
//	{"cmd":"stats"}            -> Stats
//	{"cmd":"leases"}           -> [access.Lease, ...] ([] when none)
//
// Any failure is answered with {"error":"..."}. With "wait" (seconds),
// up, down and rekey answer once the outcome is known; with "stream" as
// well, the log lines of the connection come first, one {"log":"..."}
// each, at "level" (default info).

// Request is one control request.
type Request struct {
	Cmd  string `json:"cmd"`
	Name string `json:"name,omitempty"`
	User string `json:"user,omitempty"` // down: a remote-access user instead of a connection
	// Wait (up): wait that many seconds for the outcome (0: answer at
	// once, "initiating").
	Wait float64 `json:"wait,omitempty"`
	// Stream (up, down, rekey with Wait): send the connection's log
	// lines while waiting.
	Stream bool `json:"stream,omitempty"`
	// Level (log, Stream): the lowest level of the lines sent.
	Level string `json:"level,omitempty"`
	// IKE, Child (rekey): what to rekey; neither: the CHILD SAs.
	IKE   bool `json:"ike,omitempty"`
	Child bool `json:"child,omitempty"`
}

// LogLine is a log line sent to a client that asked for them.
type LogLine struct {
	Log string `json:"log"`
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
// is created if needed (mode 0750), a stale socket (nobody accepting) is
// removed, and the socket is created with its final mode (controlMode:
// the umask is set around bind, so it never exists with a wider one):
// 0600, only root (our uid) may use it, or with gateway.control_group 0660
// and that group, which then also owns a parent directory created here.
func listenControl(path string, g *Gateway, log *zap.Logger) (*controlServer, error) {
	group := ""
	if g != nil && g.cfg != nil {
		group = g.cfg.Gateway.ControlGroup
	}
	mode, gid, err := controlMode(group)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	var created []string // the directories MkdirAll is about to create
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) || filepath.Dir(d) == d {
			break
		}
		created = append(created, d)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if gid >= 0 {
		// The group must be able to reach the socket: the directories
		// created here are its; one that was there is only checked.
		for _, d := range created {
			if err := os.Chown(d, -1, gid); err != nil {
				return nil, fmt.Errorf("control socket: control_group %q: %w", group, err)
			}
		}
		if len(created) == 0 {
			if fi, err := os.Stat(dir); err == nil && !groupCanEnter(fi, gid) {
				log.Warn("control_group cannot reach the control socket: its directory lets neither that group nor others in",
					zap.String("dir", dir), zap.String("mode", fmt.Sprintf("%04o", fi.Mode().Perm())), zap.String("control_group", group))
			}
		}
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
	ln, err := listenUnixMode(path, mode)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if gid >= 0 {
		if err := os.Chown(path, -1, gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("control socket: control_group %q: %w", group, err)
		}
	}
	return &controlServer{path: path, ln: ln, g: g, log: log.Named("control"), conns: map[net.Conn]struct{}{}}, nil
}

// CheckControlGroup returns an error when group (gateway.control_group:
// a name, or a numeric ID) does not exist on this host.
func CheckControlGroup(group string) error {
	_, _, err := controlMode(group)
	return err
}

// controlMode returns the control socket's mode and group: 0600 and no
// group change (gid -1) without a control group, else 0660 and the
// group's ID. group is a name, or a numeric ID when no group has that
// name.
func controlMode(group string) (os.FileMode, int, error) {
	if group == "" {
		return 0o600, -1, nil
	}
	gr, err := user.LookupGroup(group)
	if err != nil {
		var unknown user.UnknownGroupError
		if !errors.As(err, &unknown) {
			return 0, 0, fmt.Errorf("control_group %q: %w", group, err)
		}
		if _, nerr := strconv.Atoi(group); nerr != nil {
			return 0, 0, fmt.Errorf("control_group %q: no such group", group)
		}
		if gr, err = user.LookupGroupId(group); err != nil {
			return 0, 0, fmt.Errorf("control_group %q: no such group (name or ID)", group)
		}
	}
	gid, err := strconv.Atoi(gr.Gid)
	if err != nil {
		return 0, 0, fmt.Errorf("control_group %q: group ID %q is not a number", group, gr.Gid)
	}
	return 0o660, gid, nil
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
	peer := peerCred(c)
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 0, 4096), maxRequestLine)
	w := bufio.NewWriter(c)
	enc := json.NewEncoder(w) // Encode ends each value with '\n'
	send := func(v any) error {
		if err := enc.Encode(v); err != nil {
			enc.Encode(errorResponse{Error: "encoding response: " + err.Error()})
		}
		return w.Flush()
	}
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var req Request
		if err := json.Unmarshal(line, &req); err != nil {
			if err := send(errorResponse{Error: "bad request: " + err.Error()}); err != nil {
				return
			}
			continue
		}
		if req.Cmd == "log" {
			// The client only reads from now on; its closing ends the follow.
			fctx, cancel := context.WithCancel(ctx)
			go func() {
				io.Copy(io.Discard, c)
				cancel()
			}()
			s.log.Debug("request", append([]zap.Field{zap.String("cmd", req.Cmd)}, peer.fields()...)...)
			send(s.follow(fctx, req, send))
			cancel()
			return
		}
		if err := send(s.handle(ctx, req, peer, send)); err != nil {
			return
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, net.ErrClosed) {
		enc.Encode(errorResponse{Error: err.Error()})
		w.Flush()
	}
}

// stateChanging are the control commands that change state; each is
// logged (Info) with the caller's uid and pid.
var stateChanging = map[string]bool{"up": true, "down": true, "rekey": true, "reload": true, "loglevel": true}

// handle answers one request; send writes an intermediate line (the log
// lines of "log" and of a streaming wait) to the client.
func (s *controlServer) handle(ctx context.Context, req Request, peer peer, send func(any) error) any {
	wait := time.Duration(req.Wait * float64(time.Second))
	ctx, cancel := context.WithTimeout(ctx, max(requestTimeout, wait+5*time.Second))
	defer cancel()
	g := s.g
	fields := []zap.Field{zap.String("cmd", req.Cmd)}
	if req.Name != "" {
		fields = append(fields, zap.String("conn", req.Name))
	}
	if req.User != "" {
		fields = append(fields, zap.String("user", req.User))
	}
	fields = append(fields, peer.fields()...)
	if stateChanging[req.Cmd] {
		s.log.Info("state-changing request", fields...)
	} else {
		s.log.Debug("request", fields...)
	}
	if req.Stream && wait > 0 && (req.Cmd == "up" || req.Cmd == "down" || req.Cmd == "rekey") {
		stop, err := s.stream(req.Level, req.Name, send)
		if err != nil {
			return errorResponse{Error: err.Error()}
		}
		defer stop()
	}
	switch req.Cmd {
	case "rekey":
		if req.Name == "" {
			return errorResponse{Error: "rekey: missing connection name"}
		}
		msg, err := g.RekeyWait(ctx, req.Name, req.IKE, req.Child || !req.IKE, wait)
		if err != nil {
			return errorResponse{Error: err.Error()}
		}
		return Result{OK: true, Message: msg}
	case "up":
		if req.Name == "" {
			return errorResponse{Error: "up: missing connection name"}
		}
		if wait > 0 {
			msg, err := g.UpWait(ctx, req.Name, wait)
			if err != nil {
				return errorResponse{Error: err.Error()}
			}
			return Result{OK: true, Message: msg}
		}
		if err := g.Up(ctx, req.Name); errors.Is(err, ErrAlreadyUp) {
			return Result{OK: true, Message: err.Error()} // said so; not a failure
		} else if err != nil {
			return errorResponse{Error: err.Error()}
		}
		return Result{OK: true, Message: fmt.Sprintf("initiating %q", req.Name)}
	case "loglevel":
		if g.level == nil {
			return errorResponse{Error: "loglevel: this gateway's log level cannot be changed at run time"}
		}
		if req.Name != "" {
			l, ok := parseLevel(req.Name)
			if !ok {
				return errorResponse{Error: fmt.Sprintf("loglevel: %q is not one of debug, info, warn, error", req.Name)}
			}
			g.level.SetLevel(l)
			g.log.Info("log level changed", zap.Stringer("level", l))
		}
		return Result{OK: true, Message: "log level " + g.level.Level().String()}
	case "reload":
		res, err := g.ReloadFile(ctx)
		if err != nil {
			return errorResponse{Error: err.Error()}
		}
		return Result{OK: true, Message: res.String()}
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
		} else if wait > 0 {
			if msg, err = g.DownWait(ctx, req.Name, wait); err != nil {
				return errorResponse{Error: err.Error()}
			}
		}
		return Result{OK: true, Terminated: &found, Message: msg}
	case "sas":
		sas, err := g.SAs(ctx)
		if err != nil {
			return errorResponse{Error: err.Error()}
		}
		return sas
	case "conns":
		return g.Conns(ctx)
	case "certs":
		return g.Certs()
	case "stats":
		return g.Stats(ctx)
	case "leases":
		return g.Leases(ctx)
	case "cluster":
		nodes, err := g.Cluster(ctx)
		if err != nil {
			return errorResponse{Error: err.Error()}
		}
		return nodes
	case "":
		return errorResponse{Error: "bad request: missing \"cmd\""}
	}
	return errorResponse{Error: fmt.Sprintf("unknown command %q (want up, down, rekey, reload, loglevel, log, sas, conns, certs, stats, leases or cluster)", req.Cmd)}
}

// logLevel parses a client's log level ("": info).
func logLevel(s string) (zapcore.Level, error) {
	if s == "" {
		return zapcore.InfoLevel, nil
	}
	l, ok := parseLevel(s)
	if !ok {
		return 0, fmt.Errorf("log level %q is not one of debug, info, warn, error", s)
	}
	return l, nil
}

// parseLevel parses one of the levels a client may name: debug, info,
// warn, error.
func parseLevel(s string) (zapcore.Level, bool) {
	l, err := zapcore.ParseLevel(s)
	return l, err == nil && l >= zapcore.DebugLevel && l <= zapcore.ErrorLevel
}

// stream sends the log lines of connection conn at level or above to the
// client until stop is called.
func (s *controlServer) stream(level, conn string, send func(any) error) (stop func(), err error) {
	hub := s.g.hub
	if hub == nil {
		return func() {}, nil // nothing to stream; the outcome still comes
	}
	l, err := logLevel(level)
	if err != nil {
		return nil, err
	}
	sub := hub.Subscribe(l, conn)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case line := <-sub.C:
				send(LogLine{Log: line})
			case <-done:
				for {
					select {
					case line := <-sub.C:
						send(LogLine{Log: line})
					default:
						return
					}
				}
			}
		}
	}()
	return func() {
		hub.Unsubscribe(sub)
		close(done)
		<-exited
	}, nil
}

// follow sends the daemon's log lines (of connection req.Name, if given)
// at req.Level or above until the client goes away or the daemon stops.
func (s *controlServer) follow(ctx context.Context, req Request, send func(any) error) any {
	hub := s.g.hub
	if hub == nil {
		return errorResponse{Error: "log: this gateway's log cannot be followed"}
	}
	l, err := logLevel(req.Level)
	if err != nil {
		return errorResponse{Error: "log: " + err.Error()}
	}
	sub := hub.Subscribe(l, req.Name)
	defer hub.Unsubscribe(sub)
	if err := send(LogLine{Log: fmt.Sprintf("following the log at level %s%s (Ctrl-C ends)", l, forConn(req.Name))}); err != nil {
		return nil
	}
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	var lost uint64
	for {
		select {
		case <-ctx.Done():
			return Result{OK: true, Message: "log: end (the daemon is stopping, or the client went)"}
		case line := <-sub.C:
			if err := send(LogLine{Log: line}); err != nil {
				return nil
			}
		case <-tick.C:
			if n := sub.Dropped(); n > lost {
				if err := send(LogLine{Log: fmt.Sprintf("(%d log lines lost: this client read too slowly)", n-lost)}); err != nil {
					return nil
				}
				lost = n
			}
		}
	}
}

func forConn(name string) string {
	if name == "" {
		return ""
	}
	return fmt.Sprintf(" for connection %q", name)
}

// peer is the process at the other end of a control connection, as the
// kernel reports it (SO_PEERCRED, taken at connect time); ok is false
// where that is unknown (not a Unix socket, not Linux).
type peer struct {
	uid, pid int
	ok       bool
}

func (p peer) fields() []zap.Field {
	if !p.ok {
		return []zap.Field{zap.String("peer", "unknown")}
	}
	return []zap.Field{zap.Int("uid", p.uid), zap.Int("pid", p.pid)}
}
