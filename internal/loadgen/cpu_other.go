//go:build !unix

package loadgen

import "time"

// cpuTime is 0: the process's CPU time is not read on this platform.
func cpuTime() time.Duration { return 0 }

// peakRSS is 0: not read on this platform.
func peakRSS() int64 { return 0 }
