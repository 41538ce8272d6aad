package engine

import (
	"net/netip"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// Log lines caused by unauthenticated input (a first message from anyone,
// an unknown SPI) must not let a flood write a line per packet: per kind,
// the first quietBurst lines of a quietWindow are written, the rest are
// counted and summed up in one line when the window ends.
const (
	quietWindow    = 10 * time.Second
	quietBurst     = 5
	quietMaxSource = 1 << 14 // distinct sources counted per window (then "at least")
)

// quietKind is one kind of line in the current window.
type quietKind struct {
	start      time.Time
	written    int
	suppressed int
	sources    map[netip.Addr]struct{}
}

// Unauthenticated writes the log line of kind (write) that input from
// src caused, unless this window already had quietBurst of them: then it
// only counts it. A summary of what was left out follows at the end of
// the window (at the next such line or timer tick).
func (c *Core[S, C, W]) Unauthenticated(now time.Time, kind string, src netip.Addr, write func()) {
	if c.quiet == nil {
		c.quiet = map[string]*quietKind{}
	}
	q := c.quiet[kind]
	if q != nil && now.Sub(q.start) >= quietWindow {
		c.summarize(kind, q, now)
		q = nil
	}
	if q == nil {
		q = &quietKind{start: now}
		c.quiet[kind] = q
	}
	if q.written < quietBurst {
		q.written++
		write()
		return
	}
	q.suppressed++
	if q.sources == nil {
		q.sources = map[netip.Addr]struct{}{}
	}
	if len(q.sources) < quietMaxSource {
		q.sources[src] = struct{}{}
	}
}

// summarize writes the line that sums up what kind's window left out.
func (c *Core[S, C, W]) summarize(kind string, q *quietKind, now time.Time) {
	delete(c.quiet, kind)
	if q.suppressed == 0 {
		return
	}
	n := len(q.sources)
	sources := zap.Int("sources", n)
	if n >= quietMaxSource {
		sources = zap.String("sources", "at least "+strconv.Itoa(n))
	}
	c.Log.Warn("left out "+strconv.Itoa(q.suppressed)+" more lines \""+kind+"\" caused by unauthenticated input",
		zap.Duration("in", now.Sub(q.start).Round(time.Second)), sources)
}

// flushQuiet sums up the windows that are over (timer ticks).
func (c *Core[S, C, W]) flushQuiet(now time.Time) {
	for kind, q := range c.quiet {
		if now.Sub(q.start) >= quietWindow {
			c.summarize(kind, q, now)
		}
	}
}
