package sim

import (
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/pg"
)

// pgSim is one simulated PostgreSQL: a data directory (WAL position on a
// timeline lineage, system identifier, last role) and a postmaster.
type pgSim struct {
	dataEmpty  bool
	sysID      string
	wal        walPos // flushed (primary) or received (replica); replay == received
	wasPrimary bool

	state     failover.PGState
	role      failover.Role // while running or starting
	following string        // upstream member of a replica, "" for none
	startGen  int           // invalidates a pending start completion

	// unstartableUntil makes start attempts fail (a fault).
	unstartableUntil time.Time
	// lastReceipt is when the WAL receiver last heard from its upstream.
	lastReceipt time.Time
	// checkpointAt is when the checkpoint after promotion completes.
	checkpointAt time.Time
	promoted     bool
	// syncNames is synchronous_standby_names (kept in the data
	// directory's configuration, like pgha.conf).
	syncNames pg.SyncStandbys
	// syncDefinedAt is when a value set while none was defined starts to
	// hold commits: PostgreSQL waits only once its checkpointer reloaded.
	syncDefinedAt time.Time
}

func (p *pgSim) running() bool   { return p.state == failover.PGRunning }
func (p *pgSim) isPrimary() bool { return p.running() && p.role == failover.RolePrimary }
func (p *pgSim) isReplica() bool { return p.running() && p.role == failover.RoleReplica }

// streamOK reports whether replica n receives WAL from its upstream now: the
// upstream runs and its WAL lineage contains everything n has.
func (s *Sim) streamOK(n *node) bool {
	p := &n.pg
	if !p.isReplica() || p.following == "" {
		return false
	}
	u := s.byName(p.following)
	if u == nil || u == n || !u.pg.running() || u.pg.dataEmpty {
		return false
	}
	return contains(u.pg.wal, p.wal)
}

// deliverLater ships upstream u's WAL up to pos to replica r after r's
// replication latency.
func (s *Sim) deliverLater(r *node, u *node, pos walPos) {
	lat := r.replLatency
	if !s.now.Before(r.replSlowUntil) {
		lat = r.baseLatency
	}
	gen := r.pg.startGen
	s.after(lat, func() {
		if r.pg.startGen != gen || r.pg.following != u.name || !s.streamOK(r) {
			return
		}
		if pos.tl == nil {
			pos = u.pg.wal // catch-up: whatever the upstream has on arrival
		}
		if !contains(u.pg.wal, pos) || pos.lsn < r.pg.wal.lsn {
			return
		}
		r.pg.wal = pos
		r.pg.lastReceipt = s.now
		s.debugf("%s receives %s from %s", r.name, pos, u.name)
		s.acked = append(s.acked, s.acks.received(s, r)...)
		// Cascade to replicas of r.
		for _, c := range s.nodes {
			if c.pg.following == r.name && s.streamOK(c) {
				s.deliverLater(c, r, pos)
			}
		}
	})
}

// connect starts streaming for replica n (a start or a follow): a catch-up
// delivery of whatever the upstream has.
func (s *Sim) connect(n *node) {
	if u := s.byName(n.pg.following); u != nil && s.streamOK(n) {
		s.deliverLater(n, u, walPos{})
	}
}

// reconnectReplicasOf re-establishes the streams of u's replicas (u started
// or was promoted).
func (s *Sim) reconnectReplicasOf(u *node) {
	for _, r := range s.nodes {
		if r.pg.following == u.name {
			s.connect(r)
		}
	}
}

// pgStart starts the postmaster; it is running after StartTime unless it
// cannot start or something stopped it meanwhile.
func (s *Sim) pgStart(n *node, as failover.Role, target string) {
	p := &n.pg
	p.startGen++
	gen := p.startGen
	p.state, p.role = failover.PGStarting, as
	p.following = ""
	if as == failover.RoleReplica {
		p.following = target
	}
	s.logf("%s pg starting as %s (upstream %q) at %s", n.name, as, p.following, p.wal)
	s.after(s.cfg.StartTime, func() {
		if p.startGen != gen || p.state != failover.PGStarting {
			return
		}
		if s.now.Before(p.unstartableUntil) || p.dataEmpty {
			p.state = failover.PGStartFailed
			s.logf("%s pg start failed", n.name)
			return
		}
		p.state = failover.PGRunning
		if as == failover.RoleReplica {
			p.wasPrimary = false // standby.signal written
			s.connect(n)
		} else {
			p.wasPrimary = true
			s.reconnectReplicasOf(n)
		}
		s.logf("%s pg running as %s", n.name, as)
	})
}

// pgStop stops the postmaster (any mode: the simulation has no shutdown
// checkpoint to ship).
func (s *Sim) pgStop(n *node, why string) {
	p := &n.pg
	p.startGen++
	if p.running() && p.role == failover.RolePrimary {
		p.wasPrimary = true
	}
	p.state, p.role = failover.PGStopped, failover.RoleUnknown
	s.logf("%s pg stopped (%s) at %s", n.name, why, p.wal)
}

// pgCrash kills the postmaster without the agent knowing.
func (s *Sim) pgCrash(n *node) {
	p := &n.pg
	switch p.state {
	case failover.PGRunning, failover.PGStarting, failover.PGStopping:
	default:
		return // nothing runs that could crash
	}
	p.startGen++
	if p.running() && p.role == failover.RolePrimary {
		p.wasPrimary = true
	}
	p.state, p.role = failover.PGCrashed, failover.RoleUnknown
	s.logf("%s pg crashed at %s", n.name, p.wal)
}

// pgPromote ends recovery: a new timeline forks at the received position.
func (s *Sim) pgPromote(n *node) {
	p := &n.pg
	s.tlSeq++
	tl := &timeline{id: s.tlSeq, num: p.wal.tl.num + 1, parent: p.wal.tl, branch: p.wal.lsn}
	old := p.wal
	p.wal = walPos{tl: tl, lsn: p.wal.lsn}
	p.role, p.following, p.wasPrimary, p.promoted = failover.RolePrimary, "", true, true
	p.checkpointAt = s.now.Add(time.Second)
	s.logf("%s pg promoted: %s -> %s", n.name, old, p.wal)
	s.reconnectReplicasOf(n)
}

// localStatus is what the agent reads from its PostgreSQL.
func (s *Sim) localStatus(n *node) failover.LocalStatus {
	p := &n.pg
	l := failover.LocalStatus{
		DataEmpty:  p.dataEmpty,
		State:      p.state,
		WasPrimary: p.wasPrimary,
		SystemID:   p.sysID,
		Following:  p.following,
	}
	if p.state == failover.PGRunning || p.state == failover.PGStarting {
		l.Role = p.role
	}
	if p.wal.tl != nil {
		l.Timeline = p.wal.tl.num
	}
	if l.Role == failover.RolePrimary {
		l.FlushLSN = p.wal.lsn
	} else {
		l.ReceiveLSN, l.ReplayLSN = p.wal.lsn, p.wal.lsn
	}
	if s.streamOK(n) {
		l.ReplicationState = dcs.ReplicationStreaming
	}
	if p.isReplica() {
		l.LastWALReceiptAt = p.lastReceipt
	}
	return l
}

// position is the answer to a peer query about n.
func (s *Sim) position(n *node) failover.Position {
	l := s.localStatus(n)
	pos := failover.Position{
		Name: n.name, State: string(l.State), Role: string(l.Role), Timeline: l.Timeline,
		ReceiveLSN: l.ReceiveLSN, ReplayLSN: l.ReplayLSN, ReplicationState: l.ReplicationState,
		ObservedAt: s.now, Source: failover.SourcePeer,
	}
	if l.Role == failover.RolePrimary {
		pos.ReceiveLSN, pos.ReplayLSN = l.FlushLSN, l.FlushLSN
	}
	return pos
}
