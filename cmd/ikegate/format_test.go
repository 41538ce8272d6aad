package main

import (
	"testing"
	"time"
)

// TestValidity: how `ikegate certs` words a certificate's validity.
func TestValidity(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	f := func(t time.Time) string { return t.Format(time.RFC3339) }
	for _, tc := range []struct {
		nb, na time.Time
		want   string
	}{
		{now.Add(-day), now.Add(203 * day), "expires in 203 days"},
		{now.Add(-day), now.Add(12*day + time.Hour), "expires in 12 days (SOON)"},
		{now.Add(-10 * day), now.Add(-3*day - time.Hour), "EXPIRED 3 days ago"},
		{now.Add(day), now.Add(400 * day), "NOT YET VALID"},
	} {
		if got := validity(f(tc.nb), f(tc.na), now); got != tc.want {
			t.Errorf("validity(%v, %v) = %q, want %q", tc.nb, tc.na, got, tc.want)
		}
	}
	if got := validity("x", f(now), now); got != "unknown" {
		t.Errorf("validity of a bad time = %q", got)
	}
	if got := expiry(f(now.Add(90*time.Second)), now); got != ", expires in 1m30s" {
		t.Errorf("expiry = %q", got)
	}
}
