package failover

import (
	"encoding/json"
	"slices"
	"strconv"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/pg"
)

// RestartOrder orders the members to restart for their pending settings
// so that no replica runs with less than the primary of a setting every
// member must share (pg.SharedParameters): a replica whose value is below
// the primary's cannot replay its WAL. When such a setting is raised the
// replicas restart first, when it is lowered the leader does. mixed is
// set when the pending changes raise one and lower another: no order is
// safe, and the operator should apply them in two steps. Members that
// are not in the cluster keep their place at the end.
func RestartOrder(cl *dcs.Cluster, names []string) (ordered []string, mixed bool) {
	leader := ""
	if cl != nil && cl.Leader != nil {
		leader = cl.Leader.Name
	}
	raise, lower := false, false
	if cl != nil {
		for _, name := range names {
			m := cl.Member(name)
			if m == nil || !m.PendingRestart || len(m.PendingReason) == 0 {
				continue
			}
			var reason map[string]pg.PendingChange
			if json.Unmarshal(m.PendingReason, &reason) != nil {
				continue
			}
			for _, p := range pg.SharedParameters {
				c, ok := reason[p]
				if !ok {
					continue
				}
				switch sharedCompare(p, c.NewValue, c.OldValue) {
				case 1:
					raise = true
				case -1:
					lower = true
				}
			}
		}
	}
	leaderFirst := lower && !raise
	ordered = slices.Clone(names)
	rank := func(n string) int {
		if n == leader {
			if leaderFirst {
				return 0
			}
			return 2
		}
		return 1
	}
	slices.SortStableFunc(ordered, func(a, b string) int { return rank(a) - rank(b) })
	return ordered, raise && lower
}

// sharedCompare compares two values of a shared parameter: integers by
// value, wal_level by its order, booleans off < on; 0 when unknown.
func sharedCompare(name, a, b string) int {
	rank := func(v string) (int, bool) {
		if name == "wal_level" {
			i := slices.Index([]string{"minimal", "replica", "logical"}, v)
			return i, i >= 0
		}
		switch v {
		case "on", "true", "yes", "1":
			if name == "track_commit_timestamp" {
				return 1, true
			}
		case "off", "false", "no", "0":
			if name == "track_commit_timestamp" {
				return 0, true
			}
		}
		n, err := strconv.Atoi(v)
		return n, err == nil
	}
	x, ok1 := rank(a)
	y, ok2 := rank(b)
	switch {
	case !ok1 || !ok2 || x == y:
		return 0
	case x > y:
		return 1
	}
	return -1
}
