package sim

import (
	"time"

	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/pg/pgtest"
)

// Invariant names, as violations report them.
const (
	InvOnePrimary   = "at most one PostgreSQL accepts writes"
	InvNoSyncLoss   = "no acknowledged write is lost in synchronous mode"
	InvLagBound     = "an asynchronous failover loses at most maximum_lag_on_failover of what a surviving node held"
	InvLiveness     = "a primary holds the leader key within the liveness bound after faults heal"
	InvKeyHeldStale = "no leader key is held for long by a node that does not run a primary"
)

// check runs the invariants on the state after a step.
func (s *sim) check(now time.Time) {
	w := s.w
	prims := w.primaries(s.ctx)
	if len(prims) > 1 {
		names := ""
		for _, i := range prims {
			names += " " + w.nodes[i].name
		}
		s.fail(InvOnePrimary, "servers running as primary at once:%s", names)
		return
	}
	// A promotion starts a new timeline: a server seen as primary on
	// another timeline than a step before was promoted in between (a
	// restart of a primary keeps its timeline; the bootstrap starts from
	// none).
	for i, n := range w.nodes {
		tl := n.srv.Timeline()
		if len(prims) == 1 && prims[0] == i && s.lastTL[i] != 0 && tl != s.lastTL[i] {
			s.promoted(now, i)
		}
		s.lastTL[i] = tl
	}

	s.trackUp(now)
	s.prevMembers = w.members(s.ctx)
	holder, err := w.leaderKey(s.ctx)
	if err != nil {
		s.fail("setup", "%v", err)
		return
	}
	if holder != s.lastLeader {
		s.logf("leader key: %q -> %q", s.lastLeader, holder)
		s.lastLeader = holder
	}
	hi := w.nodeByName(holder)
	serving := hi >= 0 && len(prims) == 1 && prims[0] == hi

	// A leader key that names a node whose PostgreSQL does not run as
	// primary stops the cluster from failing over.
	if holder != "" && !serving {
		if s.keyStaleAt.IsZero() {
			s.keyStaleAt = now
		} else if d := now.Sub(s.keyStaleAt); d > s.keyBound() {
			s.fail(InvKeyHeldStale, "the leader key has named %s for %v while its PostgreSQL does not run as primary (bound %v)", holder, d, s.keyBound())
			return
		}
	} else {
		s.keyStaleAt = time.Time{}
	}

	warm := now.Sub(s.start) > s.cfg.Warmup
	if serving {
		s.downSince = time.Time{}
	} else if s.downSince.IsZero() {
		s.downSince = now
	}
	if !warm {
		return
	}
	if !s.downSince.IsZero() {
		d := now.Sub(later(s.downSince, s.start.Add(s.cfg.Warmup)))
		s.stats.LongestUnavailable = max(s.stats.LongestUnavailable, d)
		if calm := now.Sub(later(s.downSince, s.healedAt)); len(s.active) == 0 && calm > s.livenessBound() {
			s.fail(InvLiveness, "no primary holds the leader key %v after the last fault healed (bound %v); key holder %q, primaries %v",
				calm, s.livenessBound(), holder, prims)
		}
	}
}

// keyBound and livenessBound use the longest timings the run had.
func (s *sim) keyBound() time.Duration {
	c := s.cfg
	c.Timing.TTL, c.Timing.LoopWait = s.maxSettings.TTL, s.maxSettings.LoopWait
	return c.KeyBound()
}

func (s *sim) livenessBound() time.Duration {
	c := s.cfg
	c.Timing.TTL, c.Timing.LoopWait = s.maxSettings.TTL, s.maxSettings.LoopWait
	return c.LivenessBound()
}

// trackUp records since when each server runs (as primary or replica),
// as of the end of a step: a server that started in the very step of a
// promotion was not running when the race asked.
func (s *sim) trackUp(now time.Time) {
	for j, n := range s.w.nodes {
		switch {
		case n.srv.Role() == "":
			s.upSince[j] = time.Time{}
		case s.upSince[j].IsZero():
			s.upSince[j] = now
		}
	}
}

// promoted checks what a promotion of server i lost: nothing acknowledged
// in a synchronous run, and in an asynchronous one at most
// maximum_lag_on_failover of what a node that could answer the race's
// peer query held.
func (s *sim) promoted(now time.Time, i int) {
	w := s.w
	p := w.nodes[i].srv
	s.stats.Promotions++
	var fresh []*pgtest.Commit
	var loss int64
	for _, c := range w.net.LostCommits(p) {
		if s.lost[c] {
			continue
		}
		s.lost[c] = true
		if _, ok := s.commits[c]; !ok {
			continue
		}
		fresh = append(fresh, c)
		loss += s.commits[c]
	}
	s.logf("promotion: %s runs as primary on timeline %d at %s (loses %d acknowledged commits, %d bytes)",
		w.nodes[i].name, p.Timeline(), p.WALEnd(), len(fresh), loss)
	if len(fresh) == 0 {
		return
	}
	if s.cfg.SyncMode != "" && s.cfg.SyncMode != failover.SyncOff {
		s.fail(InvNoSyncLoss, "promoting %s lost %d acknowledged commits, the first %v", w.nodes[i].name, len(fresh), fresh[0])
		return
	}
	s.stats.LossyPromotions++
	s.stats.MaxLoss = max(s.stats.MaxLoss, loss)
	// What a surviving node held, that is one whose position the race's
	// peer query could hear: its member key is in the DCS (the race asks
	// the members the DCS lists, as Patroni does), its agent runs, is not
	// frozen and is not cut off from i, and its PostgreSQL runs (a stopped
	// server reports no position, in Patroni as in pgha).
	known := w.members(s.ctx)
	for name := range known {
		// The race ran a few milliseconds before the promotion showed:
		// count the members the DCS listed both then (the step before)
		// and now.
		if !s.prevMembers[name] {
			delete(known, name)
		}
	}
	var worst int64
	worstNode := ""
	for j, n := range w.nodes {
		if j == i || !known[n.name] || !w.running(j) || n.gate.frozen() || w.partitioned(i, j) || s.upSince[j].IsZero() {
			continue
		}
		var held int64
		for _, c := range fresh {
			if n.srv.Has(c) {
				held += s.commits[c]
			}
		}
		if held > worst {
			worst, worstNode = held, n.name
		}
	}
	s.stats.MaxAvoidableLoss = max(s.stats.MaxAvoidableLoss, worst)
	if limit := s.cfg.Settings().MaximumLagOnFailover; worst > limit {
		s.fail(InvLagBound, "promoting %s lost %d bytes of acknowledged commits that %s held, more than maximum_lag_on_failover %d",
			w.nodes[i].name, worst, worstNode, limit)
	}
}

// finalCheck runs at the end: in a synchronous run every acknowledged
// commit is on the final primary.
func (s *sim) finalCheck() {
	prims := s.w.primaries(s.ctx)
	if len(prims) != 1 {
		s.fail(InvLiveness, "%d primaries at the end", len(prims))
		return
	}
	if s.cfg.SyncMode == "" || s.cfg.SyncMode == failover.SyncOff {
		return
	}
	for _, c := range s.w.net.LostCommits(s.w.nodes[prims[0]].srv) {
		if _, ok := s.commits[c]; ok {
			s.fail(InvNoSyncLoss, "%v is not on the final primary %s", c, s.w.nodes[prims[0]].name)
			return
		}
	}
}
