package sim

import (
	"errors"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/failover"
)

// execute performs dec against the simulated PostgreSQL and the store. It
// reports whether the state changed so that the agent should decide again
// at once.
func (a *agent) execute(p *proc, obs failover.Observation, dec failover.Decision) bool {
	s := a.s
	n := a.n
	pg := &n.pg
	switch dec.Action {
	case failover.ActionBootstrap:
		err := a.call(p, func(st dcsStore) error {
			_, err := st.Put(s.ctx, dcs.KeyInitialize, nil, 0, dcs.Cond{Absent: true})
			return err
		})
		if err != nil {
			s.logf("%s bootstrap race lost: %v", n.name, err)
			return false
		}
		s.tlSeq++
		pg.dataEmpty, pg.sysID, pg.wasPrimary = false, s.sysID, true
		pg.wal = walPos{tl: &timeline{id: s.tlSeq, num: 1}, lsn: 1 << 24}
		a.bootstrapOwner = true
		s.logf("%s won the bootstrap race: initdb done at %s", n.name, pg.wal)
		return true

	case failover.ActionSetInitialize:
		cond := dcs.Cond{Absent: true}
		if obs.Cluster.Initialize != nil {
			cond = dcs.Cond{ModRevision: obs.Cluster.InitializeRevision}
		}
		err := a.call(p, func(st dcsStore) error {
			_, err := st.Put(s.ctx, dcs.KeyInitialize, []byte(pg.sysID), 0, cond)
			return err
		})
		if err != nil {
			s.logf("%s set initialize failed: %v", n.name, err)
			return false
		}
		a.bootstrapOwner = false
		return true

	case failover.ActionClone:
		src := s.byName(dec.Target)
		if src == nil || !src.pg.running() {
			s.logf("%s clone from %s: source not running", n.name, dec.Target)
			return false
		}
		if pg.running() || pg.state == failover.PGStarting {
			s.pgStop(n, "clone")
		}
		pg.dataEmpty = true // basebackup into an empty directory
		from := src.pg.wal
		p.wait(s.cfg.CloneTime, false)
		if !src.pg.running() || !contains(src.pg.wal, from) {
			s.logf("%s clone from %s failed: source went away", n.name, dec.Target)
			return false
		}
		pg.dataEmpty, pg.sysID, pg.wal, pg.wasPrimary, pg.promoted = false, src.pg.sysID, from, false, false
		a.divergence, a.divergenceLeader, a.rewindFailed = failover.DivergenceUnknown, "", false
		s.logf("%s cloned from %s at %s", n.name, src.name, from)
		return true

	case failover.ActionStart:
		a.lastStartAttempt = s.now
		s.pgStart(n, dec.StartAs, dec.Target)
		p.wait(s.cfg.StartTime+10*time.Millisecond, false)
		return true

	case failover.ActionAcquire:
		return a.acquire(p, dec)

	case failover.ActionPromote:
		if !pg.isReplica() {
			s.logf("%s promote: not a running replica", n.name)
			return false
		}
		if !a.prepareSyncPromotion(p, obs.Cluster) || !a.termValid() || !pg.isReplica() {
			return false
		}
		s.checkPromotion(n)
		if s.failure != nil {
			return false
		}
		old := pg.wal
		s.pgPromote(n)
		s.stats.Promotions++
		s.checkLoss(n, old)
		a.divergence, a.divergenceLeader = failover.DivergenceUnknown, ""
		h := append(dcs.History(nil), obs.Cluster.History...)
		h = append(h, dcs.HistoryEntry{Timeline: old.tl.num, LSN: old.lsn, Reason: "failover", NewLeader: n.name,
			Timestamp: s.now.Format(time.RFC3339Nano)})
		if err := a.guardedPut(p, dcs.KeyHistory, h.Encode()); err != nil {
			s.logf("%s history append failed: %v", n.name, err)
		}
		return true

	case failover.ActionDemote:
		s.pgStop(n, "demote "+string(dec.DemoteMode))
		if dec.ReleaseTerm {
			a.release(p)
		}
		a.lastStartAttempt = s.now
		s.pgStart(n, failover.RoleReplica, dec.Target)
		p.wait(s.cfg.StartTime+10*time.Millisecond, false)
		return true

	case failover.ActionFollow:
		pg.following = dec.Target
		pg.startGen++
		s.connect(n)
		return false

	case failover.ActionCheckDivergence:
		u := s.byName(dec.Target)
		if u == nil || !u.pg.running() {
			s.logf("%s divergence check: %s not reachable", n.name, dec.Target)
			return false
		}
		a.divergenceLeader = dec.Target
		a.divergence = failover.DivergenceNone
		if !contains(u.pg.wal, pg.wal) {
			a.divergence = failover.DivergenceDiverged
		}
		s.logf("%s divergence vs %s: local %s, leader %s, diverged=%v", n.name, u.name, pg.wal, u.pg.wal, a.divergence == failover.DivergenceDiverged)
		return true

	case failover.ActionRewind:
		u := s.byName(dec.Target)
		if u == nil || !u.pg.running() {
			s.logf("%s rewind: %s not running", n.name, dec.Target)
			return false
		}
		if pg.running() || pg.state == failover.PGStarting {
			s.pgStop(n, "rewind")
		}
		p.wait(s.cfg.RewindTime, false)
		if !u.pg.running() {
			s.logf("%s rewind: %s went away", n.name, dec.Target)
			return false
		}
		if s.rng.IntN(100) < s.cfg.RewindFailPercent {
			a.rewindFailed = true
			s.logf("%s pg_rewind from %s failed", n.name, u.name)
			return true
		}
		pg.wal = walPos{tl: u.pg.wal.tl, lsn: common(u.pg.wal, pg.wal)}
		pg.wasPrimary, pg.promoted = false, false
		a.divergence, a.divergenceLeader = failover.DivergenceNone, u.name
		s.logf("%s rewound to %s", n.name, pg.wal)
		a.lastStartAttempt = s.now
		s.pgStart(n, failover.RoleReplica, u.name)
		p.wait(s.cfg.StartTime+10*time.Millisecond, false)
		return true

	case failover.ActionRelease:
		a.release(p)
		return true

	case failover.ActionClearFailover:
		rev := obs.Cluster.FailoverRevision
		_ = a.call(p, func(st dcsStore) error { return st.Delete(s.ctx, dcs.KeyFailover, dcs.Cond{ModRevision: rev}) })
		return true
	}
	return false
}

// acquire creates the leader key (atomic), adopting a key this agent left
// on its current lease, as election.TryAcquire does.
func (a *agent) acquire(p *proc, dec failover.Decision) bool {
	s := a.s
	n := a.n
	lease := a.lease
	if lease == 0 || !s.now.Before(a.leaseDeadline) {
		s.logf("%s acquire: no usable lease", n.name)
		return false
	}
	var rev int64
	err := a.call(p, func(st dcsStore) error {
		var err error
		rev, err = st.Put(s.ctx, dcs.KeyLeader, []byte(n.name), lease, dcs.Cond{Absent: true})
		return err
	})
	s.leaderDirty = true
	if err != nil {
		if errors.Is(err, dcs.ErrLeaseLost) {
			a.lease, a.leaseDeadline = 0, time.Time{}
			a.ka.kick(0)
			return false
		}
		c, _ := a.read(p)
		if c == nil || c.Leader == nil || c.Leader.Name != n.name || c.Leader.Lease != lease || a.lease != lease {
			s.logf("%s acquire failed: %v", n.name, err)
			return false
		}
		rev = c.Leader.Revision
		s.logf("%s adopts the leader key on its own lease (revision %d)", n.name, rev)
	}
	if a.lease != lease || !s.now.Before(a.leaseDeadline) {
		s.logf("%s acquired revision %d but cannot vouch for lease %d", n.name, rev, lease)
		return false
	}
	t := &term{rev: rev, deadline: a.leaseDeadline}
	if old := a.term; old != nil && old.rev == rev {
		t.race, t.served = old.race, old.served
	}
	switch dec.Code {
	case failover.CodeRaceAcquire, failover.CodeManualFailover:
		rc := &raceCheck{code: dec.Code, overridden: dec.Overridden, reason: dec.Reason, truth: a.peerTruth}
		if dec.Candidates != nil {
			if v, ok := dec.Candidates.Verdict(n.name); ok {
				rc.eligible = v.IsEligible() && (v.TiedBest || dec.Candidates.Chosen == n.name)
			}
		}
		t.race = rc
	}
	a.term = t
	s.logf("%s acquired the leader key (revision %d, deadline +%v)", n.name, rev, t.deadline.Sub(s.now))
	return true
}

// release deletes the leader key, guarded by the term, and ends the term.
func (a *agent) release(p *proc) {
	s := a.s
	t := a.term
	if t == nil || t.ended {
		return
	}
	cond := dcs.Cond{Leader: &dcs.Leader{Name: a.n.name, Revision: t.rev}}
	err := a.call(p, func(st dcsStore) error { return st.Delete(s.ctx, dcs.KeyLeader, cond) })
	s.leaderDirty = true
	a.endTerm("released")
	if err != nil {
		s.logf("%s release failed: %v", a.n.name, err)
	}
}
