package sim

import (
	"errors"
	"slices"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/pg"
)

// syncAck is synchronous replication as PostgreSQL does it: a commit on
// primary p is acknowledged once, under p's synchronous_standby_names
// (FIRST k or ANY k over names G), at least k standbys named in G that
// stream from p have flushed it; with an empty value at once. Commits
// wait in pending and are re-evaluated whenever a standby receives WAL
// or the value changes; a commit whose server stopped, crashed or was
// demoted before that is never acknowledged (the client got an error).
type syncAck struct {
	pending []*commit
}

func (a *syncAck) flushed(s *Sim, c *commit) bool {
	p := s.byName(c.node)
	if p != nil && a.satisfied(s, p, c) {
		return true
	}
	a.pending = append(a.pending, c)
	return false
}

func (a *syncAck) received(s *Sim, _ *node) []*commit { return a.release(s) }

// release acknowledges the pending commits that are satisfied now and
// drops those whose primary is gone.
func (a *syncAck) release(s *Sim) []*commit {
	var done []*commit
	keep := a.pending[:0]
	for _, c := range a.pending {
		p := s.byName(c.node)
		switch {
		case p == nil || !p.pg.isPrimary() || p.pg.startGen != c.gen:
			s.stats.WritesFailed++
		case a.satisfied(s, p, c):
			done = append(done, c)
			s.stats.WritesAcked++
		default:
			keep = append(keep, c)
		}
	}
	clear(a.pending[len(keep):])
	a.pending = keep
	return done
}

// satisfied applies p's synchronous_standby_names to c.
func (a *syncAck) satisfied(s *Sim, p *node, c *commit) bool {
	g := p.pg.syncNames
	if len(g.Names) == 0 || s.now.Before(p.pg.syncDefinedAt) {
		return true
	}
	got := 0
	for _, name := range g.Names {
		r := s.byName(name)
		if r == nil || r.pg.following != p.name || !s.streamOK(r) {
			continue
		}
		if contains(r.pg.wal, c.pos) {
			got++
		}
	}
	return got >= g.Num
}

// setSyncNames changes a server's synchronous_standby_names; waiting
// commits are re-evaluated under the new value, as PostgreSQL does.
func (s *Sim) setSyncNames(n *node, g pg.SyncStandbys) {
	if len(n.pg.syncNames.Names) == 0 && len(g.Names) > 0 {
		// The server reports the value at once, but commits wait only
		// once the checkpointer reloaded.
		n.pg.syncDefinedAt = s.now.Add(between(s.rng, 0, maxSyncReloadLag))
	}
	n.pg.syncNames = g
	s.logf("%s synchronous_standby_names = %q", n.name, g.String())
	if sa, ok := s.acks.(*syncAck); ok {
		s.acked = append(s.acked, sa.release(s)...)
	}
}

// maxSyncReloadLag bounds how long after synchronous_standby_names was
// set (from empty) commits are still acknowledged without waiting.
const maxSyncReloadLag = 400 * time.Millisecond

// syncReplicas is the primary's pg_stat_replication: the standbys that
// stream from n, with the position they flushed on n's lineage.
func (s *Sim) syncReplicas(n *node) []failover.SyncReplica {
	var out []failover.SyncReplica
	for _, r := range s.nodes {
		if r == n || r.pg.following != n.name || !s.streamOK(r) {
			continue
		}
		out = append(out, failover.SyncReplica{Name: r.name, State: "streaming", FlushLSN: common(r.pg.wal, n.pg.wal)})
	}
	return out
}

// manageSync is the Controller's synchronous-replication management for a
// leader running a primary: PlanSync steps, the sync key written with the
// term guard and compare-and-swap.
func (a *agent) manageSync(p *proc, c *dcs.Cluster) {
	s := a.s
	if c == nil {
		return
	}
	view := *c
	for range 4 {
		if !a.termValid() || !a.n.pg.isPrimary() {
			return
		}
		plan := failover.PlanSync(failover.SyncInput{Settings: s.cfg.Settings, Leader: a.n.name, Cluster: &view,
			Replicas: s.syncReplicas(a.n), CurrentGUC: a.n.pg.syncNames.String(), Epoch: a.syncEpoch,
			Now: s.now, FlushLSN: a.n.pg.wal.lsn})
		a.syncEpoch = plan.Epoch
		switch plan.Step {
		case failover.SyncNothing:
			return
		case failover.SyncWriteKey:
			cond := dcs.Cond{Absent: true}
			if view.Sync != nil {
				cond = dcs.Cond{ModRevision: view.Sync.ModRevision}
			}
			rev, err := a.guardedPutCond(p, dcs.KeySync, plan.Key.Encode(), cond)
			if err != nil {
				s.logf("%s sync key write failed: %v", a.n.name, err)
				return
			}
			k := *plan.Key
			k.ModRevision = rev
			view.Sync = &k
			s.logf("%s sync key: leader %s, standbys %v, quorum %d", a.n.name, k.Leader, k.SyncStandby, k.Quorum)
		case failover.SyncDeleteKey:
			view.Sync = nil
			return
		case failover.SyncSetGUC:
			s.setSyncNames(a.n, plan.GUC)
			a.syncEpoch = failover.SyncEpoch{Set: true, GUC: plan.GUC, SetAt: s.now}
		}
	}
}

// prepareSyncPromotion mirrors the Controller: before promoting in
// synchronous mode the sync key names this node with no standby
// (compare-and-swap, guarded), and the value makes the first commits
// wait (strict) or run asynchronously. false: do not promote now.
func (a *agent) prepareSyncPromotion(p *proc, c *dcs.Cluster) bool {
	s := a.s
	a.syncEpoch = failover.SyncEpoch{}
	mode := s.cfg.Settings.SynchronousMode
	if mode != failover.SyncOn && mode != failover.SyncQuorum || c == nil {
		return true
	}
	cond := dcs.Cond{Absent: true}
	if c.Sync != nil {
		cond = dcs.Cond{ModRevision: c.Sync.ModRevision}
	}
	if _, err := a.guardedPutCond(p, dcs.KeySync, (&dcs.SyncState{Leader: a.n.name}).Encode(), cond); err != nil {
		s.logf("%s sync key before promotion failed: %v", a.n.name, err)
		return false
	}
	g := pg.SyncStandbys{}
	if s.cfg.Settings.SynchronousModeStrict {
		g = pg.SyncStandbys{Method: pg.SyncFirst, Num: 1, Names: []string{failover.SyncPlaceholder}}
	}
	s.setSyncNames(a.n, g)
	return true
}

// guardedPutCond is guardedPut with an extra condition; it returns the
// new revision.
func (a *agent) guardedPutCond(p *proc, key string, val []byte, cond dcs.Cond) (int64, error) {
	t := a.term
	if t == nil || t.ended {
		return 0, errors.New("no term")
	}
	cond.Leader = &dcs.Leader{Name: a.n.name, Revision: t.rev}
	var rev int64
	err := a.call(p, func(st dcsStore) error {
		var err error
		rev, err = st.Put(a.s.ctx, key, val, 0, cond)
		return err
	})
	return rev, err
}

// ackRuleFor returns the commit acknowledgement rule of cfg.
func ackRuleFor(cfg Config) ackRule {
	if cfg.syncModeOn() {
		return &syncAck{}
	}
	return asyncAck{}
}

// syncModeOn reports whether cfg runs synchronous replication.
func (c Config) syncModeOn() bool {
	m := c.Settings.SynchronousMode
	return m == failover.SyncOn || m == failover.SyncQuorum
}

// SyncConfigForSeed is ConfigForSeed with synchronous replication: mode
// (failover.SyncOn or SyncQuorum), strict or not, synchronous_node_count
// 1 or 2 drawn from the seed, and sometimes a nosync member.
func SyncConfigForSeed(seed uint64, mode string, strict bool) Config {
	c := ConfigForSeed(seed)
	c.Settings.SynchronousMode, c.Settings.SynchronousModeStrict = mode, strict
	c.Settings.SynchronousNodeCount = 1 + int(seed%2)
	c.SyncMode = mode
	if seed%5 == 0 && c.Nodes > 3 {
		k := c.Nodes - 1
		c.Tags = slices.Clone(c.Tags)
		c.Tags[k] = dcs.Tags{dcs.TagNoSync: true}
	}
	return c
}
