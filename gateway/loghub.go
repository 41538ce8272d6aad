package gateway

import (
	"strings"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// LogHub hands the daemon's log entries to the control clients that
// asked for them: `ikegate log` (live, at its own level, whatever the
// daemon's level is) and `up`/`down`/`rekey`, which show the lines of
// their connection while they wait. Build the daemon's logger on
// zapcore.NewTee(itsCore, hub.Core()); with nobody subscribed the hub's
// core is disabled at every level and costs one atomic load per entry.
//
// A subscriber that does not keep up loses lines (counted and reported
// to it), never slows the daemon.
type LogHub struct {
	enc zapcore.Encoder

	mu   sync.Mutex
	subs map[*LogSub]struct{}
	// min is the lowest level any subscriber wants (noSubscribers:
	// nobody).
	min atomic.Int32
}

const noSubscribers = int32(zapcore.FatalLevel + 1)

// LogSub is one subscription: its lines arrive on C.
type LogSub struct {
	C       <-chan string
	c       chan string
	level   zapcore.Level
	conn    string
	dropped atomic.Uint64
}

// Dropped is how many lines this subscriber lost because it did not read
// them in time.
func (s *LogSub) Dropped() uint64 { return s.dropped.Load() }

// NewLogHub returns a hub that renders entries as the console log does
// (time, level, message, then the fields as JSON).
func NewLogHub() *LogHub {
	cfg := zap.NewProductionEncoderConfig()
	cfg.EncodeTime = zapcore.ISO8601TimeEncoder
	cfg.EncodeLevel = zapcore.CapitalLevelEncoder
	cfg.EncodeDuration = zapcore.StringDurationEncoder
	cfg.CallerKey, cfg.StacktraceKey = "", ""
	h := &LogHub{enc: zapcore.NewConsoleEncoder(cfg), subs: map[*LogSub]struct{}{}}
	h.min.Store(noSubscribers)
	return h
}

// Subscribe starts a subscription to the entries at level or above; with
// conn, only those of that connection (a "conn" or "child" field equal to
// it). Cancel it with Unsubscribe.
func (h *LogHub) Subscribe(level zapcore.Level, conn string) *LogSub {
	c := make(chan string, 256)
	s := &LogSub{C: c, c: c, level: level, conn: conn}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.updateMin()
	h.mu.Unlock()
	return s
}

// Unsubscribe ends s; its channel is not closed (a Write may be sending).
func (h *LogHub) Unsubscribe(s *LogSub) {
	h.mu.Lock()
	delete(h.subs, s)
	h.updateMin()
	h.mu.Unlock()
}

func (h *LogHub) updateMin() {
	m := noSubscribers
	for s := range h.subs {
		m = min(m, int32(s.level))
	}
	h.min.Store(m)
}

// Core is the zapcore.Core to tee the daemon's logger with.
func (h *LogHub) Core() zapcore.Core { return &hubCore{h: h} }

type hubCore struct {
	h      *LogHub
	fields []zapcore.Field
}

func (c *hubCore) Enabled(l zapcore.Level) bool { return int32(l) >= c.h.min.Load() }

func (c *hubCore) With(fs []zapcore.Field) zapcore.Core {
	return &hubCore{h: c.h, fields: append(c.fields[:len(c.fields):len(c.fields)], fs...)}
}

func (c *hubCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

func (c *hubCore) Write(ent zapcore.Entry, fs []zapcore.Field) error {
	all := append(c.fields[:len(c.fields):len(c.fields)], fs...)
	c.h.publish(ent, all)
	return nil
}

func (c *hubCore) Sync() error { return nil }

// publish renders ent once and offers it to every subscriber that wants it.
func (h *LogHub) publish(ent zapcore.Entry, fs []zapcore.Field) {
	line := ""
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if ent.Level < s.level || (s.conn != "" && !mentions(fs, s.conn)) {
			continue
		}
		if line == "" {
			buf, err := h.enc.Clone().EncodeEntry(ent, fs)
			if err != nil {
				return
			}
			line = strings.TrimRight(buf.String(), "\n")
			buf.Free()
		}
		select {
		case s.c <- line:
		default:
			s.dropped.Add(1)
		}
	}
}

// mentions reports whether the fields name connection conn.
func mentions(fs []zapcore.Field, conn string) bool {
	for _, f := range fs {
		if (f.Key == "conn" || f.Key == "child") && f.Type == zapcore.StringType && f.String == conn {
			return true
		}
	}
	return false
}
