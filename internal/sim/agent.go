package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/failover"
)

// term is the agent's leadership, as election.Term keeps it.
type term struct {
	rev      int64
	deadline time.Time
	ended    bool
	// eligible is the race check that led to this term (nil: not a race,
	// e.g. the bootstrap).
	race *raceCheck
	// served is set once the node acted as writable primary under this
	// term (a later promotion under it is a re-promotion, not a race).
	served bool
}

// raceCheck is the ground truth recorded when a race decision acquired.
type raceCheck struct {
	code       failover.Code
	eligible   bool
	overridden bool
	reason     string
	// truth holds the WAL of every node that answered the peer query with
	// a running server, at the instant of the query.
	truth map[string]walPos
}

// agent is the node agent: what the Controller does, single-threaded.
type agent struct {
	s *Sim
	n *node

	frozen    bool
	postponed []*proc
	ka, ha    *proc

	lease         dcs.LeaseID
	leaseDeadline time.Time
	term          *term

	vanishedAt       time.Time
	bootstrapOwner   bool
	crashSeenAt      time.Time
	lastStartAttempt time.Time
	divergence       failover.Divergence
	divergenceLeader string
	rewindFailed     bool

	peerTruth map[string]walPos
	syncEpoch failover.SyncEpoch
}

// startAgent boots the agent of n (at start or after a node crash).
func (s *Sim) startAgent(n *node) {
	a := &agent{s: s, n: n}
	n.agent = a
	s.logf("%s agent started", n.name)
	a.ka = s.spawn(a, a.keepaliveLoop)
	a.ha = s.spawn(a, a.haLoop)
}

// up reports whether the agent runs and answers (not crashed, not frozen).
func (a *agent) up() bool { return a != nil && a.n.agent == a && !a.frozen }

// termValid reports whether the agent holds a term at now.
func (a *agent) termValid() bool {
	return a.term != nil && !a.term.ended && a.s.now.Before(a.term.deadline)
}

func (a *agent) endTerm(why string) {
	if a.term != nil && !a.term.ended {
		a.term.ended = true
		a.s.logf("%s term %d ended: %s", a.n.name, a.term.rev, why)
	}
}

// errTimeout is a DCS call that took longer than the request timeout.
var errTimeout = fmt.Errorf("sim: request timeout: %w", dcs.ErrUnavailable)

// call performs one DCS request from p: it waits the node's DCS delay
// first (failing unapplied at the request timeout).
func (a *agent) call(p *proc, op func(st dcsStore) error) error {
	if d := a.n.dcsDelay; d > 0 {
		if d >= a.s.cfg.RequestTimeout {
			p.wait(a.s.cfg.RequestTimeout, false)
			return errTimeout
		}
		p.wait(d, false)
	}
	return op(a.n.store)
}

// dcsStore is the part of dcs.Store the agent uses.
type dcsStore = dcs.Store

// keepaliveLoop renews the lease on its own schedule, independent of the
// HA loop, with election's deadline rule.
func (a *agent) keepaliveLoop(p *proc) {
	s := a.s
	cfg := s.cfg
	for {
		sent := s.now
		if a.lease == 0 {
			var id dcs.LeaseID
			err := a.call(p, func(st dcsStore) error {
				var err error
				id, err = st.Grant(s.ctx, cfg.Settings.TTL)
				return err
			})
			if err == nil {
				a.lease, a.leaseDeadline = id, sent.Add(cfg.Settings.TTL-cfg.Margin+cfg.mutDeadlineSlack)
				s.logf("%s lease %d granted", a.n.name, id)
				a.ha.kick(0)
			}
			p.wait(sent.Add(cfg.KeepAliveInterval).Sub(s.now), false)
			continue
		}
		id := a.lease
		err := a.call(p, func(st dcsStore) error { return st.KeepAlive(s.ctx, id) })
		if a.lease != id {
			continue
		}
		switch {
		case err == nil:
			if dl := sent.Add(cfg.Settings.TTL - cfg.Margin + cfg.mutDeadlineSlack); dl.After(a.leaseDeadline) {
				a.leaseDeadline = dl
			}
			if t := a.term; t != nil && !t.ended {
				if s.now.Before(t.deadline) {
					t.deadline = a.leaseDeadline
				} else {
					a.endTerm("deadline passed before the renewal answered")
				}
			}
		case errors.Is(err, dcs.ErrLeaseLost):
			s.logf("%s lease %d lost", a.n.name, id)
			a.endTerm("lease lost")
			a.lease, a.leaseDeadline = 0, time.Time{}
			continue
		default:
			s.logf("%s keepalive failed: %v", a.n.name, err)
		}
		p.wait(sent.Add(cfg.KeepAliveInterval).Sub(s.now), false)
	}
}

// haLoop is the Controller's loop: read, decide, act, publish, sleep.
func (a *agent) haLoop(p *proc) {
	s := a.s
	for {
		wake := a.cycle(p)
		d := s.cfg.Settings.LoopWait + time.Duration(s.rng.Int64N(int64(2*s.cfg.LoopJitter)+1)) - s.cfg.LoopJitter
		if !wake.IsZero() {
			d = min(d, max(wake.Sub(s.now), 10*time.Millisecond))
		}
		p.wait(d, true)
	}
}

// read gets and parses a snapshot; nil when the DCS is unreachable.
func (a *agent) read(p *proc) (*dcs.Cluster, time.Time) {
	var snap dcs.Snapshot
	err := a.call(p, func(st dcsStore) error {
		var err error
		snap, err = st.Get(a.s.ctx)
		return err
	})
	if err != nil {
		return nil, a.s.now
	}
	c := a.s.parse(snap)
	if c.Leader == nil {
		if a.vanishedAt.IsZero() {
			a.vanishedAt = a.s.now
		}
	} else {
		a.vanishedAt = time.Time{}
	}
	return c, a.s.now
}

// observe builds the observation from the local server and bookkeeping.
func (a *agent) observe(c *dcs.Cluster, at time.Time) failover.Observation {
	s := a.s
	if a.term != nil && !a.term.ended && !s.now.Before(a.term.deadline) {
		a.endTerm("deadline passed")
	}
	l := s.localStatus(a.n)
	switch {
	case l.State == failover.PGCrashed && a.crashSeenAt.IsZero():
		a.crashSeenAt = s.now
	case l.State == failover.PGRunning:
		a.crashSeenAt = time.Time{}
	}
	l.CrashedAt = a.crashSeenAt
	l.LastStartAttempt = a.lastStartAttempt
	l.Divergence, l.DivergenceLeader, l.RewindFailed = a.divergence, a.divergenceLeader, a.rewindFailed
	obs := failover.Observation{
		Now: s.now, Name: a.n.name, Tags: a.n.tags, Cluster: c, ClusterAt: at, Local: l,
		LeaderVanishedAt: a.vanishedAt, CanBootstrap: true, BootstrapOwner: a.bootstrapOwner,
		Settings: s.cfg.Settings,
	}
	obs.Settings.MaximumLagOnFailover += s.cfg.mutLagSlack
	if s.cfg.mutSyncIgnoreKey {
		obs.Settings.SynchronousMode = failover.SyncOff
	}
	if t := a.term; t != nil && !t.ended {
		obs.Term = failover.Term{Held: true, Revision: t.rev, Deadline: t.deadline}
	}
	return obs
}

// queryPeers asks every other member for its position; a crashed or frozen
// agent does not answer and costs PeerQueryTimeout.
func (a *agent) queryPeers(p *proc, c *dcs.Cluster) []failover.Position {
	s := a.s
	var out []failover.Position
	truth := map[string]walPos{}
	if a.n.pg.running() {
		truth[a.n.name] = a.n.pg.wal
	}
	slow := false
	for _, n := range s.nodes {
		if n == a.n {
			continue
		}
		if c != nil && c.Member(n.name) == nil {
			continue // the Controller queries members with an API URL
		}
		if !n.agent.up() {
			out = append(out, failover.Position{Name: n.name, Unreachable: true, ObservedAt: s.now.Add(s.cfg.Settings.PeerQueryTimeout), Source: failover.SourcePeer})
			slow = true
			continue
		}
		out = append(out, s.position(n))
		if n.pg.running() {
			truth[n.name] = n.pg.wal
		}
	}
	a.peerTruth = truth
	if slow {
		p.wait(s.cfg.Settings.PeerQueryTimeout, false)
	}
	return out
}

// cycle runs one HA loop iteration: up to a few decide-act rounds while
// actions change the state. It returns the earliest instant to run again
// (zero: loop_wait).
func (a *agent) cycle(p *proc) time.Time {
	s := a.s
	for range 6 {
		c, at := a.read(p)
		a.publish(p, c)
		obs := a.observe(c, at)
		dec := failover.Decide(obs)
		if dec.Action == failover.ActionQueryPeers {
			obs.Peers = a.queryPeers(p, c)
			obs.PeersQueried = true
			obs = a.refresh(obs)
			dec = failover.Decide(obs)
		}
		s.stats.Decisions++
		if dec.Action != failover.ActionNoop || dec.Code != failover.CodeFollowing && dec.Code != failover.CodeLeaderHealthy {
			s.logf("%s decide: %s", a.n.name, dec)
		}
		if !a.execute(p, obs, dec) {
			return dec.WaitUntil
		}
	}
	return time.Time{}
}

// refresh re-reads the local part of an observation after time passed.
func (a *agent) refresh(obs failover.Observation) failover.Observation {
	fresh := a.observe(obs.Cluster, obs.ClusterAt)
	fresh.Peers, fresh.PeersQueried = obs.Peers, obs.PeersQueried
	return fresh
}

// publish writes the member key (bound to the lease) and, for the leader,
// the status optime, as the Controller does every cycle.
func (a *agent) publish(p *proc, c *dcs.Cluster) {
	s := a.s
	if c == nil || a.lease == 0 {
		return
	}
	m := a.member()
	lease := a.lease
	err := a.call(p, func(st dcsStore) error {
		_, err := st.Put(s.ctx, dcs.MemberKey(a.n.name), m.Encode(), lease, dcs.Cond{})
		return err
	})
	if errors.Is(err, dcs.ErrLeaseLost) && a.lease == lease {
		a.endTerm("lease lost (member key)")
		a.lease, a.leaseDeadline = 0, time.Time{}
		a.ka.kick(0)
	}
	if a.termValid() && a.n.pg.isPrimary() {
		st := dcs.Status{Optime: a.n.pg.wal.lsn}
		a.guardedPut(p, dcs.KeyStatus, st.Encode())
		a.manageSync(p, c)
	}
}

// guardedPut writes on behalf of the leader, fenced by the term; a
// conflict ends the term (election's Term.Lost).
func (a *agent) guardedPut(p *proc, key string, val []byte) error {
	t := a.term
	if t == nil || t.ended {
		return errors.New("no term")
	}
	cond := dcs.Cond{Leader: &dcs.Leader{Name: a.n.name, Revision: t.rev}}
	err := a.call(p, func(st dcsStore) error {
		_, err := st.Put(a.s.ctx, key, val, 0, cond)
		return err
	})
	if errors.Is(err, dcs.ErrConflict) && a.term == t {
		a.endTerm("guarded write of " + key + " failed: " + err.Error())
	}
	return err
}

// member is the member key value.
func (a *agent) member() *dcs.Member {
	pg := &a.n.pg
	m := &dcs.Member{
		Name:    a.n.name,
		Tags:    a.n.tags,
		ConnURL: "postgres://" + a.n.name + ":5432/postgres",
		APIURL:  "http://" + a.n.name + ":8008/patroni",
		State:   string(pg.state),
		Role:    dcs.RoleReplica,
	}
	if pg.dataEmpty {
		m.Role = dcs.RoleUninitialized
	} else {
		tl := pg.wal.tl.num
		m.Timeline = &tl
	}
	lsn := pg.wal.lsn
	if pg.isPrimary() {
		m.Role = dcs.RolePrimary
		m.XLogLocation = &lsn
		if pg.promoted {
			done := !a.s.now.Before(pg.checkpointAt)
			m.CheckpointAfter = &done
		}
	} else if !pg.dataEmpty {
		m.ReceiveLSN, m.ReplayLSN = &lsn, &lsn
		if a.s.streamOK(a.n) {
			m.ReplicationState = dcs.ReplicationStreaming
		}
	}
	return m
}
