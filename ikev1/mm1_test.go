package ikev1

import "testing"

// TestMM1TableBounded: entries taken by their message 3 leave the queue,
// so the messages 1 of established SAs are not kept; the oldest entry is
// evicted at max; a superseded entry is not taken.
func TestMM1TableBounded(t *testing.T) {
	for _, tc := range []struct {
		name       string
		max, n     int
		take       bool
		wantLive   int
		wantOrder  int // at most
		wantEvicts uint64
	}{
		{"taken at once", 10000, 5000, true, 0, 2*0 + mm1Slack + 1, 0},
		{"never taken, bounded by max", 100, 500, false, 100, 2*100 + mm1Slack + 1, 400},
		{"never taken, below max", 10000, 300, false, 300, 300, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := mm1Table{max: tc.max}
			for i := 1; i <= tc.n; i++ {
				tab.put(&mm1Entry{ckyI: uint64(i), ckyR: 1, msg: make([]byte, 200)})
				if tc.take {
					if en := tab.take(uint64(i)); en == nil || en.msg == nil {
						t.Fatalf("take(%d) = %+v", i, en)
					}
				}
			}
			if len(tab.byCky) != tc.wantLive {
				t.Errorf("%d entries held, want %d", len(tab.byCky), tc.wantLive)
			}
			if len(tab.order) > tc.wantOrder {
				t.Errorf("queue of %d entries, want at most %d", len(tab.order), tc.wantOrder)
			}
			if tab.evicted != tc.wantEvicts {
				t.Errorf("%d evicted, want %d", tab.evicted, tc.wantEvicts)
			}
		})
	}
	// A retransmitted message 1 supersedes the entry of its cookie.
	var tab mm1Table
	tab.max = 10
	old := &mm1Entry{ckyI: 7, msg: []byte{1}}
	tab.put(old)
	tab.put(&mm1Entry{ckyI: 7, msg: []byte{2}})
	if old.msg != nil || tab.take(7).msg[0] != 2 {
		t.Error("the retransmitted message 1 did not replace the first")
	}
}
