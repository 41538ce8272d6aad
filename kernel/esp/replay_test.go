package esp

import "testing"

func TestReplayWindow(t *testing.T) {
	type step struct {
		seq    uint64
		accept bool
	}
	W := uint64(ReplayWindow)
	tests := []struct {
		name  string
		steps []step
	}{
		{"zero rejected", []step{{0, false}, {1, true}, {0, false}}},
		{"in order", []step{{1, true}, {2, true}, {3, true}, {4, true}}},
		{"duplicate", []step{{1, true}, {2, true}, {2, false}, {1, false}, {3, true}}},
		{"reorder within window", []step{{5, true}, {3, true}, {4, true}, {1, true}, {2, true}, {3, false}, {6, true}}},
		{"reorder across blocks", []step{{200, true}, {63, true}, {64, true}, {65, true}, {128, true}, {64, false}, {199, true}, {201, true}}},
		{"first packet large", []step{{100000, true}, {100000 - W + 1, true}, {100000 - W, false}, {99999, true}, {99999, false}}},
		{"edge of window", []step{{W + 10, true}, {11, true}, {10, false}, {11, false}, {12, true}}},
		{"too old", []step{{1, true}, {W + 1, true}, {1, false}, {2, true}, {W + 2, true}, {2, false}}},
		{"large jump clears ring", []step{
			{1, true}, {2, true}, {3, true},
			{1 + 64*replayBlocks, true}, // jumps more than a whole ring
			// 1+64*32-W = 1+64 ... the old bits must be cleared, and old
			// numbers beyond the window rejected.
			{2 + 64, true}, {2 + 64, false}, {3, false},
		}},
		{"jump of exactly one ring", []step{
			{64, true}, {64 + 64*replayBlocks, true}, {64, false},
			{64 + 64*replayBlocks - 1, true}, {65 + 64, true},
		}},
		{"ring wraps repeatedly", func() []step {
			var s []step
			for i := uint64(1); i <= 10*64*replayBlocks; i += 7 {
				s = append(s, step{i, true})
				if i > 14 {
					s = append(s, step{i - 7, false}, step{i - 3, true})
				}
			}
			return s
		}()},
		{"max 32-bit", []step{{0xffffffff, true}, {0xfffffffe, true}, {0xffffffff, false}, {0xffffffff - W, false}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var w replayWindow
			for i, st := range tc.steps {
				if got := w.check(st.seq); got != st.accept {
					t.Fatalf("step %d: check(%d) = %v, want %v (last %d)", i, st.seq, got, st.accept, w.last)
				}
				if got := w.update(st.seq); got != st.accept {
					t.Fatalf("step %d: update(%d) = %v, want %v", i, st.seq, got, st.accept)
				}
			}
		})
	}
}

// TestReplayWindowModel compares the ring against a naive set model over
// a pseudo-random stream of sequence numbers with reordering, duplicates
// and jumps.
func TestReplayWindowModel(t *testing.T) {
	var w replayWindow
	seen := map[uint64]bool{}
	var last uint64
	x := uint64(0x9e3779b97f4a7c15)
	next := uint64(1)
	for i := 0; i < 200000; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		var seq uint64
		switch r := x % 100; {
		case r < 60:
			seq = next
			next++
		case r < 85: // late
			back := (x >> 8) % (ReplayWindow + 200)
			if back >= next {
				back = next - 1
			}
			seq = next - back
		case r < 95: // duplicate of a recent one
			seq = last
		default: // jump
			next += (x >> 8) % 5000
			seq = next
		}
		want := seq != 0 && !seen[seq] && (seq > last || last-seq < ReplayWindow)
		if got := w.check(seq); got != want {
			t.Fatalf("i=%d check(%d) = %v, want %v (last %d)", i, seq, got, want, last)
		}
		if got := w.update(seq); got != want {
			t.Fatalf("i=%d update(%d) = %v, want %v", i, seq, got, want)
		}
		if want {
			seen[seq] = true
			last = max(last, seq)
		}
	}
}

func TestResume(t *testing.T) {
	for _, seq := range []uint32{0, 1, 63, 64, 100, 4000} {
		var s SA
		s.inbound, s.replay = true, new(replayWindow)
		s.Resume(seq)
		for _, c := range []struct {
			seq  uint64
			want bool
		}{
			{uint64(seq), false}, {uint64(seq) + 1, true}, {uint64(seq) + 2, true}, {uint64(seq) + 64, true},
		} {
			if c.seq == 0 {
				continue
			}
			if got := s.replay.check(c.seq); got != c.want {
				t.Errorf("Resume(%d): check(%d) = %v, want %v", seq, c.seq, got, c.want)
			}
		}
		// Reordering above seq still works: take seq+5, then seq+3.
		if !s.replay.update(uint64(seq)+5) || !s.replay.update(uint64(seq)+3) || s.replay.update(uint64(seq)+3) {
			t.Errorf("Resume(%d): reordered packets above the resume point mishandled", seq)
		}
		if seq > 0 && s.replay.check(uint64(seq)-1) {
			t.Errorf("Resume(%d): %d accepted", seq, seq-1)
		}
		if s.Highest() != seq+5 {
			t.Errorf("Resume(%d): Highest %d", seq, s.Highest())
		}
		var o SA
		o.Resume(seq)
		if o.Seq() != seq {
			t.Errorf("outbound Resume(%d): Seq %d", seq, o.Seq())
		}
	}
}
