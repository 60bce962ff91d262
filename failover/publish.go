package failover

import (
	"context"
	"errors"
	"maps"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/election"
	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/pg"
)

// publish writes the member key and, for the leader running a primary, the
// status key: the optime and the permanent slots' positions (guarded by
// the term), each only when its value changed, it moved to a new lease, or
// the cluster view shows the key gone or different (see upToDate); and the
// config key when it is missing, and the replication slots.
func (c *Controller) publish(ctx context.Context, s Settings) {
	c.publishMember(ctx)
	t := c.lead.held()
	c.mu.Lock()
	st, ok, cl := c.b.pgStatus, c.b.pgStatusOK, c.b.cluster
	last, seen := c.b.status, c.b.seenStatus
	c.mu.Unlock()
	if t == nil || !ok || st.State != pg.StateRunning || st.Role != pg.RolePrimary {
		var key *dcs.SyncState
		if cl != nil {
			key = cl.Sync
		}
		c.sync.record(s, SyncPlan{}, key, false)
		// A term holder's status may predate its promotion in this
		// cycle: its slots are the leader's, not a replica's.
		if (t == nil || c.standbyOf(cl).Active()) && ok && st.State == pg.StateRunning && st.Role == pg.RoleReplica {
			c.ensureSlots(ctx, cl, false)
		}
		return
	}
	if enc := (&dcs.Status{Optime: st.FlushLSN.Int64(), Slots: c.slotPositions()}).Encode(); !upToDate(last, enc, 0, viewRevision(cl), seen) {
		rctx, cancel := context.WithTimeout(ctx, c.eopts().RequestTimeout)
		rev, err := t.Put(rctx, dcs.KeyStatus, enc, dcs.Cond{})
		cancel()
		if err != nil {
			c.countDCSError(err)
			c.log.Warn("failover: writing status failed", "err", err)
		} else {
			c.mu.Lock()
			c.b.status = written{value: enc, rev: rev}
			c.mu.Unlock()
		}
	}
	c.writeConfigIfAbsent(ctx, cl, s)
	c.writeFailsafeKey(ctx, t, cl, s)
	c.ensureSlots(ctx, cl, true)
	fresh, err := c.sync.manage(ctx, s, t, st, cl)
	if err != nil {
		c.countDCSError(err)
	}
	if fresh != nil {
		c.mu.Lock()
		c.b.pgStatus = *fresh
		c.mu.Unlock()
	}
}

// memberValue builds this node's member key from the last status; c.mu
// held.
func (c *Controller) memberValue() *dcs.Member {
	b := &c.b
	st := b.pgStatus
	m := &dcs.Member{
		Name:     c.o.Name,
		ConnURL:  c.o.ConnURL,
		APIURL:   c.o.APIURL,
		ProxyURL: c.o.ProxyURL,
		State:    string(st.State),
		Role:     c.publishedRole(),
		Version:  c.o.Version,
		Tags:     c.o.Tags,
	}
	m.ScheduledRestart = c.scheduledRestartJSON()
	if cl := b.cluster; cl != nil && cl.IsPaused() {
		// As Patroni's members do: patronictl pause --wait waits for it.
		paused := true
		m.Pause = &paused
	}
	if c.sync.noSyncTag() {
		m.Tags = maps.Clone(c.o.Tags)
		if m.Tags == nil {
			m.Tags = dcs.Tags{}
		}
		m.Tags[dcs.TagNoSync] = true
	}
	if b.activity != "" && st.State != pg.StateRunning {
		m.State = b.activity
	}
	if m.State == "" {
		m.State = dcs.StateStopped
	}
	if m.Role == "" {
		m.Role = dcs.RoleUninitialized
	}
	if !b.pgStatusOK || st.State != pg.StateRunning {
		return m
	}
	tl := int64(st.Timeline)
	m.Timeline = &tl
	m.PendingRestart = st.PendingRestart
	m.PendingReason = pendingReason(st.PendingRestartReason)
	if st.Role == pg.RolePrimary {
		x := st.FlushLSN.Int64()
		m.XLogLocation = &x
		return m
	}
	rcv, rep := st.ReceiveLSN.Int64(), st.ReplayLSN.Int64()
	x := max(rcv, rep)
	m.XLogLocation, m.ReceiveLSN, m.ReplayLSN = &x, &rcv, &rep
	m.ReplicationState = string(st.Receiver)
	return m
}

// publishMember writes the member key, bound to the candidate's lease,
// unless it is up to date (upToDate).
func (c *Controller) publishMember(ctx context.Context) {
	c.mu.Lock()
	enc := c.memberValue().Encode()
	cand := c.cand
	last, seen, viewRev := c.b.member, c.b.seenMember, viewRevision(c.b.cluster)
	c.mu.Unlock()
	lctx, cancel := context.WithTimeout(ctx, c.eopts().RequestTimeout)
	defer cancel()
	lease, err := cand.Lease(lctx)
	if err != nil {
		if !errors.Is(err, election.ErrClosed) && ctx.Err() == nil {
			c.log.Warn("failover: no lease for the member key yet", "err", err)
		}
		return
	}
	if upToDate(last, enc, lease, viewRev, seen) {
		return
	}
	rev, err := c.store.Put(lctx, dcs.MemberKey(c.o.Name), enc, lease, dcs.Cond{})
	if err != nil {
		c.countDCSError(err)
		c.log.Warn("failover: writing the member key failed", "err", err)
		return
	}
	c.mu.Lock()
	c.b.member = written{value: enc, lease: lease, rev: rev}
	c.mu.Unlock()
}

// viewRevision is the revision of the cluster view cl, -1 when there is
// none yet.
func viewRevision(cl *dcs.Cluster) int64 {
	if cl == nil {
		return -1
	}
	return cl.Revision
}

// initialConfig is the config key written by the first leader when no
// BootstrapConfig is set: the dynamic settings in Patroni's names.
func initialConfig(s Settings) *dcs.ClusterConfig {
	f := func(v float64) *float64 { return &v }
	lag := s.MaximumLagOnFailover
	mode := s.SynchronousMode
	if mode == "" {
		mode = SyncOff
	}
	check, rewind, strict, failsafe := s.CheckTimeline, s.UsePgRewind, s.SynchronousModeStrict, s.FailsafeMode
	count := int64(max(1, s.SynchronousNodeCount))
	return &dcs.ClusterConfig{
		TTL:                   f(s.TTL.Seconds()),
		LoopWait:              f(s.LoopWait.Seconds()),
		PrimaryStartTimeout:   f(s.PrimaryStartTimeout.Seconds()),
		MaximumLagOnFailover:  &lag,
		SynchronousMode:       &mode,
		SynchronousModeStrict: &strict,
		SynchronousNodeCount:  &count,
		CheckTimeline:         &check,
		FailsafeMode:          &failsafe,
		Postgresql:            &dcs.PostgresqlConfig{UsePgRewind: &rewind},
	}
}

// writeConfigIfAbsent writes the config key when the snapshot has none
// (create-if-absent, guarded by the term): ControllerOptions.BootstrapConfig
// if set, else the dynamic values of s.
func (c *Controller) writeConfigIfAbsent(ctx context.Context, cl *dcs.Cluster, s Settings) {
	t := c.lead.held()
	if t == nil || cl == nil || cl.Config != nil {
		return
	}
	data := c.bootstrapConfig
	if data == nil {
		data = initialConfig(s).Encode()
	}
	rctx, cancel := context.WithTimeout(ctx, c.eopts().RequestTimeout)
	defer cancel()
	if _, err := t.Put(rctx, dcs.KeyConfig, data, dcs.Cond{Absent: true}); err != nil && !errors.Is(err, dcs.ErrConflict) {
		c.log.Warn("failover: writing the initial config failed", "err", err)
	}
}

// publishState stores a fresh snapshot for the health API.
func (c *Controller) publishState() {
	now := c.clk.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	b := &c.b
	st := b.pgStatus
	sync := c.sync.snapshot()
	ns := &healthapi.NodeState{
		Name:             c.o.Name,
		Scope:            c.o.Scope,
		Role:             c.publishedRole(),
		PGState:          string(st.State),
		SystemIdentifier: b.mem.sysID,
		Tags:             c.o.Tags,
		Cluster:          b.cluster,
		DCSLastSeen:      b.dcsLastSeen,
		TTL:              c.eopts().TTL,
		NextRun:          b.nextRun,
		DCSErrorsTotal:   b.dcsErrors,
		FailoversTotal:   maps.Clone(b.failovers),
		LoopDuration:     b.loopHist.snapshot(),
		SyncDegraded:     sync.Degraded,
		SyncBlocking:     sync.Blocking,
		WatchdogFailed:   c.lead.watchdogFailed(now),
		PromoteVetoed:    c.promoteVetoed(now),
		ScheduledRestart: c.scheduledRestartJSON(),
	}
	if ns.Role == "" {
		ns.Role = dcs.RoleUninitialized
	}
	if b.cluster != nil {
		ns.Paused = b.cluster.IsPaused()
	}
	ns.StandbyCluster = c.standbyOf(b.cluster).Active()
	if t := c.lead.current(); t != nil && t.Valid(now) && now.Before(c.lead.fenceAt(t)) {
		ns.IsLeader, ns.Term = true, t.Token()
		ns.FailsafeActive = t.Extended()
	}
	if b.pgStatusOK && st.State == pg.StateRunning {
		ns.ServerVersion = st.ServerVersion
		ns.PostmasterStartTime = st.PostmasterStart
		ns.Timeline = int64(st.Timeline)
		ns.XLogLocation = st.FlushLSN.Int64()
		ns.ReceivedLSN, ns.ReplayedLSN = st.ReceiveLSN.Int64(), st.ReplayLSN.Int64()
		ns.ReplayedTimestamp = st.ReplayTimestamp
		ns.ReplicationState = string(st.Receiver)
		ns.PendingRestart = st.PendingRestart
		ns.PendingRestartReason = pendingReason(st.PendingRestartReason)
		for _, r := range st.Replication {
			ns.Replication = append(ns.Replication, healthapi.Replication{Usename: r.User, ApplicationName: r.ApplicationName,
				ClientAddr: r.ClientAddr, State: r.State, SyncState: r.SyncState, SyncPriority: r.SyncPriority})
		}
	}
	if b.activity != "" && st.State != pg.StateRunning {
		ns.PGState = b.activity
	}
	if ns.PGState == "" {
		ns.PGState = dcs.StateStopped
	}
	c.cache.Store(ns)
}

// hist is a cumulative histogram of loop durations in seconds.
type hist struct {
	count   uint64
	sum     float64
	buckets map[float64]uint64
}

var histBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

func (h *hist) observe(v float64) {
	if h.buckets == nil {
		h.buckets = map[float64]uint64{}
	}
	h.count++
	h.sum += v
	for _, b := range histBounds {
		if v <= b {
			h.buckets[b]++
		}
	}
}

func (h *hist) snapshot() healthapi.Histogram {
	out := healthapi.Histogram{Count: h.count, Sum: h.sum, Buckets: map[float64]uint64{}}
	for _, k := range histBounds {
		out.Buckets[k] = h.buckets[k]
	}
	return out
}

// during runs fn, a bootstrap or a clone, with state as the member key's
// state meanwhile, as Patroni's members show "creating replica" or
// "running custom bootstrap script": such a step can take hours (a
// restore from a backup), and the loop publishes nothing until it ends.
func (c *Controller) during(ctx context.Context, state string, fn func() error) error {
	c.mu.Lock()
	c.b.activity = state
	c.mu.Unlock()
	c.publishState()
	c.publishMember(ctx)
	defer func() {
		c.mu.Lock()
		c.b.activity = ""
		c.mu.Unlock()
		c.publishState()
	}()
	return fn()
}
