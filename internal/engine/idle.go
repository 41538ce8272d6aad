package engine

import (
	"time"

	"ikegate/policy"
)

// Idle watches a client's CHILD SAs for inbound traffic, from the
// dataplane's counters, to end sessions that carried none for a while (a
// remote-access idle timeout). The zero value is ready.
type Idle struct {
	packets uint64    // inbound packets of the SAs when last looked at
	since   time.Time // when that count last changed (or watching began)
	next    time.Time // when to look again
}

// Check looks at the inbound packet counters of sas (those the dataplane
// accepted) and reports how long
// they have carried nothing, and whether that reached timeout. It returns
// false when timeout is zero or the installer cannot count.
func (i *Idle) Check(now time.Time, inst policy.Installer, sas []*policy.ChildSA, timeout time.Duration) (time.Duration, bool) {
	if timeout <= 0 || !inst.Capabilities().Counters {
		i.next = time.Time{}
		return 0, false
	}
	var n uint64
	for _, sa := range sas {
		if c, ok := inst.Counters(sa.SPIIn); ok {
			// Packets the dataplane dropped as outside the selectors
			// are no activity (vpnc, for one, sends its TUN's stray
			// packets every few seconds).
			n += c.InPackets - min(c.OutsideTSDrops, c.InPackets)
		}
	}
	if i.since.IsZero() || n != i.packets {
		i.packets, i.since = n, now
	}
	// Look again often enough to end the session within a tenth of the
	// timeout (at least every second, at most every minute).
	i.next = now.Add(min(max(timeout/10, time.Second), time.Minute))
	idle := now.Sub(i.since)
	return idle, idle >= timeout
}

// Next is when Check wants to run again (zero: not watching).
func (i *Idle) Next() time.Time { return i.next }
