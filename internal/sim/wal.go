package sim

import "fmt"

// timeline is one PostgreSQL timeline as created by one promotion. Two
// promotions may pick the same timeline number on different nodes, so the
// identity of WAL is the *timeline instance*, not its number.
type timeline struct {
	id     int   // unique per simulation
	num    int64 // the PostgreSQL timeline number
	parent *timeline
	branch int64 // LSN at which it forked from parent
}

// walPos is the WAL a node holds: its timeline's lineage up to lsn.
type walPos struct {
	tl  *timeline
	lsn int64
}

func (p walPos) String() string {
	if p.tl == nil {
		return "empty"
	}
	return fmt.Sprintf("tl%d#%d@%d", p.tl.num, p.tl.id, p.lsn)
}

// common returns the largest LSN up to which a and b hold identical WAL.
func common(a, b walPos) int64 {
	if a.tl == nil || b.tl == nil {
		return 0
	}
	// Limits of a's lineage, from a.tl upwards.
	var tls [16]*timeline
	var lims [16]int64
	n := 0
	cur, lim := a.tl, a.lsn
	for cur != nil {
		if n == len(tls) {
			break // deeper lineages are not produced by a short simulation
		}
		tls[n], lims[n] = cur, lim
		n++
		lim = min(lim, cur.branch)
		cur = cur.parent
	}
	cur, lim = b.tl, b.lsn
	for cur != nil {
		for i := range n {
			if tls[i] == cur {
				return min(lims[i], lim)
			}
		}
		lim = min(lim, cur.branch)
		cur = cur.parent
	}
	return 0
}

// contains reports whether a holds all of b's WAL (b is a prefix of a).
func contains(a, b walPos) bool {
	if b.tl == nil {
		return true
	}
	return common(a, b) >= b.lsn
}
