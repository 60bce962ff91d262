package sim

import (
	"fmt"
	"math"
	"strings"

	"github.com/pgha/pgha/dcs"
)

// writable reports whether n acts as writable primary now: its server runs
// as primary and its agent answers that it holds a valid term.
func (s *Sim) writable(n *node) bool {
	a := n.agent
	return a.up() && a.termValid() && n.pg.isPrimary()
}

// checkSafety checks invariant 1 after an event.
func (s *Sim) checkSafety() {
	// Close the intervals that ended, then open new ones: one event cannot
	// hand writes over without the earlier interval having ended.
	var begun []*node
	primaries := 0
	for _, n := range s.nodes {
		w := s.writable(n)
		switch {
		case w && !n.wasWritable:
			begun = append(begun, n)
		case !w && n.wasWritable:
			n.wasWritable = false
			if s.now.Before(n.writableEnd) {
				n.writableEnd = s.now
			}
		}
		if n.pg.isPrimary() {
			primaries++
		}
	}
	for _, n := range begun {
		for _, m := range s.nodes {
			if m != n && m.writableEnd.After(s.now) {
				s.fail("at most one writable primary", "%s became writable while %s may accept writes until +%v", n.name, m.name, m.writableEnd.Sub(s.start))
				return
			}
		}
		n.wasWritable = true
		n.agent.term.served = true
		s.logf("%s acts as writable primary (term %d, deadline +%v)", n.name, n.agent.term.rev, n.agent.term.deadline.Sub(s.start))
	}
	for _, n := range s.nodes {
		if n.wasWritable {
			n.writableEnd = n.agent.term.deadline
		}
	}
	if primaries > 1 {
		s.stats.RawPrimaryOverlap += s.now.Sub(s.lastCheck)
	}
	s.lastCheck = s.now
	// A running agent must not leave a primary without a term for long.
	bound := s.cfg.Settings.TTL + 3*s.cfg.Settings.LoopWait
	for _, n := range s.nodes {
		a := n.agent
		if !a.up() || !n.pg.isPrimary() || a.termValid() {
			n.zombieSince = s.now
			continue
		}
		if s.now.Sub(n.zombieSince) > bound {
			s.fail("primary demoted without a term", "%s has run as primary without a valid term since +%v (bound %v)", n.name, n.zombieSince.Sub(s.start), bound)
			return
		}
	}
}

// mainline is the WAL of the newest acknowledged commit: the lineage whose
// loss counts.
func (s *Sim) mainline() (walPos, bool) {
	if len(s.acked) == 0 {
		return walPos{}, false
	}
	return s.acked[len(s.acked)-1].pos, true
}

// checkPromotion checks invariant 2 just before n promotes.
func (s *Sim) checkPromotion(n *node) {
	a := n.agent
	if !a.termValid() {
		s.fail("no ineligible promotion", "%s promotes without a valid term", n.name)
		return
	}
	snap, err := s.observer.Get(s.ctx)
	if err != nil {
		s.fail("harness", "observer read failed: %v", err)
		return
	}
	var l *dcs.Leader
	for _, kv := range snap.KVs {
		if kv.Key == dcs.KeyLeader {
			l = &dcs.Leader{Name: string(kv.Value), Revision: kv.CreateRevision}
		}
	}
	if l == nil || l.Name != n.name || l.Revision != a.term.rev {
		s.fail("no ineligible promotion", "%s promotes with term %d but the leader key is %+v", n.name, a.term.rev, l)
		return
	}
	rc := a.term.race
	if rc == nil && a.term.served {
		return // re-promotion under the term it already served as primary
	}
	if rc == nil {
		s.fail("no ineligible promotion", "%s promotes under term %d that no race decision won", n.name, a.term.rev)
		return
	}
	if !rc.eligible {
		s.fail("no ineligible promotion", "%s promotes although its race decision did not rank it eligible and best: %s", n.name, rc.reason)
		return
	}
	main, ok := s.mainline()
	cand, known := rc.truth[n.name]
	if !ok || !known || rc.overridden {
		return
	}
	mine := common(cand, main)
	for _, name := range sortedKeys(rc.truth) {
		held := common(rc.truth[name], main)
		s.stats.MaxPromotedLag = max(s.stats.MaxPromotedLag, held-mine)
		if held-mine > s.cfg.Settings.MaximumLagOnFailover {
			s.fail("no ineligible promotion", "%s won the race holding %d bytes of acknowledged WAL less than %s (%s vs %s), beyond maximum_lag_on_failover %d: %s",
				n.name, held-mine, name, cand, rc.truth[name], s.cfg.Settings.MaximumLagOnFailover, rc.reason)
			return
		}
	}
}

// checkLoss checks invariant 4 after n promoted from old: acknowledged
// commits its new timeline lacks are lost; what a surviving node held of
// them must be within maximum_lag_on_failover.
func (s *Sim) checkLoss(n *node, old walPos) {
	future := walPos{tl: n.pg.wal.tl, lsn: math.MaxInt64}
	var loss, avoidable int64
	lost := 0
	var truth map[string]walPos
	if rc := n.agent.term.race; rc != nil && !rc.overridden {
		truth = rc.truth
	}
	for _, c := range s.acked {
		if c.lost {
			continue
		}
		kept := common(future, c.pos)
		if kept >= c.pos.lsn {
			continue
		}
		c.lost = true
		lost++
		loss = max(loss, c.pos.lsn-kept)
		for _, w := range truth {
			avoidable = max(avoidable, min(common(w, c.pos), c.pos.lsn)-kept)
		}
	}
	if lost == 0 {
		return
	}
	s.stats.LossyPromotions++
	s.stats.MaxLoss = max(s.stats.MaxLoss, loss)
	s.stats.MaxAvoidableLoss = max(s.stats.MaxAvoidableLoss, avoidable)
	s.logf("%s promotion from %s lost %d acknowledged commits, up to %d bytes (%d of them held by a surviving node)", n.name, old, lost, loss, avoidable)
	if s.cfg.syncModeOn() {
		s.fail("no acknowledged commit lost in synchronous mode", "%s promotion from %s lost %d acknowledged commits (up to %d bytes)", n.name, old, lost, loss)
		return
	}
	if avoidable > s.cfg.Settings.MaximumLagOnFailover {
		s.fail("acknowledged loss within maximum_lag_on_failover", "%s promotion lost %d bytes of acknowledged WAL that a surviving node held, beyond %d",
			n.name, avoidable, s.cfg.Settings.MaximumLagOnFailover)
	}
}

// checkLiveness checks invariant 3 at the end of the run, Settle after the
// faults stopped.
func (s *Sim) checkLiveness() {
	var leaders []*node
	for _, n := range s.nodes {
		if s.writable(n) {
			leaders = append(leaders, n)
		}
	}
	if len(leaders) != 1 {
		s.fail("liveness", "%v after the faults stopped: %d writable primaries; %s", s.cfg.Settle, len(leaders), s.describe())
		return
	}
	l := leaders[0]
	if s.cfg.syncModeOn() {
		for _, c := range s.acked {
			if !contains(l.pg.wal, c.pos) {
				s.fail("no acknowledged commit lost in synchronous mode", "commit %d acknowledged by %s at +%v (%s) is not in the final primary %s (%s)",
					c.id, c.node, c.at.Sub(s.start), c.pos, l.name, l.pg.wal)
				return
			}
		}
	}
	var bad []string
	for _, n := range s.nodes {
		if n == l {
			continue
		}
		if !n.agent.up() || !n.pg.isReplica() || n.pg.following != l.name || !s.streamOK(n) || n.pg.wal.tl != l.pg.wal.tl {
			bad = append(bad, n.name)
		}
	}
	if len(bad) > 0 {
		s.fail("liveness", "%v after the faults stopped, %s do not follow %s: %s", s.cfg.Settle, strings.Join(bad, ","), l.name, s.describe())
	}
}

// describe is the state of every node, for failure messages.
func (s *Sim) describe() string {
	var b strings.Builder
	for _, n := range s.nodes {
		a := n.agent
		fmt.Fprintf(&b, "\n  %s: agent up=%v term=%v pg=%s role=%q following=%q wal=%s stream=%v", n.name, a.up(), a != nil && a.termValid(),
			n.pg.state, n.pg.role, n.pg.following, n.pg.wal, s.streamOK(n))
	}
	return b.String()
}

// sortedKeys returns the keys of m in order (map order would break
// determinism of messages).
func sortedKeys(m map[string]walPos) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}
