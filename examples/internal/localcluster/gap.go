package localcluster

import "time"

// Gap is an interval without acknowledged writes.
type Gap struct {
	LastBefore, FirstAfter time.Time
}

// Duration is the length of the gap.
func (g Gap) Duration() time.Duration { return g.FirstAfter.Sub(g.LastBefore) }

// LongestGap returns the longest gap between consecutive acknowledged
// writes (acks in the order the [Writer] recorded them) that ends after
// from and starts before until; false when there is none. For a crash the
// gap that contains the fault is the outage; for a switchover the writes
// pause some time after the request, so the whole window is searched.
func LongestGap(acks []Ack, from, until time.Time) (Gap, bool) {
	var best Gap
	found := false
	for i := 1; i < len(acks); i++ {
		prev, next := acks[i-1].At, acks[i].At
		if !next.After(from) || !prev.Before(until) {
			continue
		}
		if g := (Gap{prev, next}); !found || g.Duration() > best.Duration() {
			best, found = g, true
		}
	}
	return best, found
}
