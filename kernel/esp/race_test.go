//go:build race

package esp

// raceEnabled: the race detector makes sync.Pool drop items, so the
// allocation test cannot hold.
const raceEnabled = true
