package esp

// Anti-replay window (RFC 4303 3.4.3) in the style of RFC 6479: a ring of
// uint64 blocks indexed by seq>>6. Advancing the window clears whole
// blocks instead of shifting a bitmap, so a packet costs O(1) whatever the
// jump, and the common case (the next sequence number, or a late packet
// within the window) touches one word.

const (
	replayBlocks    = 32                      // ring size; a power of two
	replayBlockMask = replayBlocks - 1        // ring index mask
	replayBitsLog   = 6                       // 64 bits per block
	replayBitMask   = 1<<replayBitsLog - 1    // bit-in-block mask
	ReplayWindow    = (replayBlocks - 1) * 64 // packets accepted behind the highest seen: 1984
)

// replayWindow is not safe for concurrent use; the SA guards it.
type replayWindow struct {
	last   uint64 // highest sequence number accepted so far (0: none yet)
	bitmap [replayBlocks]uint64
}

// check reports whether seq may be accepted: it is neither zero, nor too
// old, nor already seen. It changes nothing. A nil window (no packet
// accepted yet) takes any number but zero.
func (w *replayWindow) check(seq uint64) bool {
	if seq == 0 {
		return false // never sent (RFC 4303 3.3.3: the first packet is 1)
	}
	if w == nil {
		return true
	}
	if seq > w.last {
		return true // fast path: ahead of the window
	}
	if w.last-seq >= ReplayWindow {
		return false // too old: left the window
	}
	return w.bitmap[(seq>>replayBitsLog)&replayBlockMask]&(1<<(seq&replayBitMask)) == 0
}

// update records seq as received after its integrity was verified, and
// reports false if it turned out to be a replay (it was checked, but a
// concurrent copy of the packet got there first).
func (w *replayWindow) update(seq uint64) bool {
	if !w.check(seq) {
		return false
	}
	block := seq >> replayBitsLog
	if seq > w.last {
		cur := w.last >> replayBitsLog
		if diff := block - cur; diff > 0 {
			// Clear the blocks the window slides over (all of them on a
			// jump of a whole ring or more).
			if diff > replayBlocks {
				diff = replayBlocks
			}
			for i := uint64(1); i <= diff; i++ {
				w.bitmap[(cur+i)&replayBlockMask] = 0
			}
		}
		w.last = seq
	}
	w.bitmap[block&replayBlockMask] |= 1 << (seq & replayBitMask)
	return true
}
