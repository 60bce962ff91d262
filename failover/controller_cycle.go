package failover

import (
	"context"
	"errors"
	"math"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/election"
	"github.com/pgha/pgha/internal/mutation"
	"github.com/pgha/pgha/pg"
)

// book is what the Controller remembers between cycles. Guarded by
// Controller.mu.
type book struct {
	cluster     *dcs.Cluster
	dcsLastSeen time.Time
	pgStatus    pg.Status
	pgStatusOK  bool
	mem         memory // what Decide needs of the past (memory.go)

	bootstrapOwner bool
	// activity, while a bootstrap or a clone runs, is the member key's
	// state (Patroni's "creating replica", ...); "" otherwise.
	activity string

	configWarnings string // the last warnings logged for the config key

	// failsafeLeader is the primary this node last confirmed in failsafe
	// mode (AcceptFailsafe), until failsafeUntil.
	failsafeLeader string
	failsafeUntil  time.Time
	// failsafeWritten is the failsafe key as this node last wrote (or
	// found) it while leading.
	failsafeWritten dcs.Failsafe

	// member and status are this node's last writes of its member key
	// and (as leader) the status key; seenMember and seenStatus are those
	// keys in the cluster view of the last successful read (nil: absent).
	member, status         written
	seenMember, seenStatus *dcs.KV
	// readNext makes the next cycle read the DCS instead of using the
	// view: set after a cycle that acted or whose action failed.
	readNext bool

	lastDecision Decision
	nextRun      time.Time
	failovers    map[string]uint64
	dcsErrors    uint64
	loopHist     hist
}

// cycle runs one turn of the loop and returns when the next one is due at
// the latest.
func (c *Controller) cycle(ctx context.Context) time.Time {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	start := c.clk.Now()
	ctx, span := c.otel.tracer.Start(ctx, "failover.cycle", trace.WithAttributes(attribute.String("pgha.member", c.o.Name)))
	defer span.End()

	obs, ok := c.observe(ctx)
	s := obs.Settings
	if !ok {
		c.mu.Lock()
		s = c.cachedSettings()
		c.mu.Unlock()
	}
	next := start.Add(s.LoopWait)
	var dec Decision
	again, failed := false, false
	if ok && obs.Cluster != nil {
		c.lead.retryResign(ctx, obs.Cluster)
		c.applyPGConfig(ctx, obs.Cluster.Config)
	}
	if ok {
		at, ran := c.runScheduledRestart(ctx, obs.Cluster, s)
		if !at.IsZero() && at.Before(next) {
			next = at
		}
		if ran {
			// The observation predates the restart: decide on a fresh one.
			ok, again = false, true
		}
	}
	if ok {
		if mutation.On(ctx, mutation.IgnoreLag) {
			obs.Settings.MaximumLagOnFailover = math.MaxInt64
		}
		c.failsafeStep(ctx, &obs, s)
		dec = Decide(obs)
		if dec.Action == ActionQueryPeers {
			obs.Peers = c.queryPeers(ctx, obs.Cluster, s.PeerQueryTimeout)
			obs.PeersQueried = true
			dec = Decide(obs)
			if dec.Action == ActionAcquire {
				dec = c.recheckMembers(ctx, obs, dec)
			}
		}
		span.SetAttributes(attribute.String("pgha.action", dec.Action.String()), attribute.String("pgha.code", string(dec.Code)))
		c.otel.decision(ctx, dec)
		err := c.execute(ctx, obs, dec)
		failed = err != nil
		switch {
		case err != nil:
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
			c.log.Warn("failover: action failed", "action", dec.Action.String(), "code", dec.Code, "reason", dec.Reason, "err", err)
			c.countDCSError(err)
		case dec.Action != ActionNoop && dec.Action != ActionWait:
			again = true
		}
		if dec.Code == CodeSnapshotBehindTerm {
			again = true
		}
		if !dec.WaitUntil.IsZero() && dec.WaitUntil.Before(next) {
			next = dec.WaitUntil
		}
		if soon := c.clk.Now().Add(handOverRefresh); handOverPending(obs, c.o.Name) && soon.Before(next) {
			next = soon
		}
	}
	c.publish(ctx, s)

	c.mu.Lock()
	if t := c.lead.current(); t != nil {
		if fence := c.lead.fenceAt(t); fence.Before(next) {
			next = fence
		}
	}
	// Run again at once after an action (loop bounds the burst).
	if again {
		next = c.clk.Now()
	}
	c.b.lastDecision = dec
	c.b.nextRun = next
	c.b.readNext = again || failed
	dur := c.clk.Now().Sub(start)
	c.b.loopHist.observe(dur.Seconds())
	c.mu.Unlock()
	c.otel.cycleDuration(ctx, dur)
	c.publishState()
	return next
}

// recheckMembers returns dec, or a wait when a member joined the cluster
// while the peers were asked: the query can take up to PeerQueryTimeout
// (a peer that does not answer), and a member that came back meanwhile
// (a former primary whose agent restarted, with WAL nobody else has) was
// not asked. Racing then could promote a node that lags it by more than
// maximum_lag_on_failover; the next cycle, at once, asks everyone.
func (c *Controller) recheckMembers(ctx context.Context, obs Observation, dec Decision) Decision {
	now := c.clk.Now()
	snap, err := c.cycleSnapshot(ctx, now)
	if err != nil || obs.Cluster == nil {
		return dec
	}
	for _, m := range dcs.Parse(snap).Members {
		if m.Name != c.o.Name && obs.Cluster.Member(m.Name) == nil {
			w := decision(ActionWait, CodeNeedPeers, "%s joined while the peers were asked: asking again before racing", m.Name)
			w.WaitUntil = now
			return w
		}
	}
	return dec
}

// observe gathers the observation: the DCS snapshot, the local server and
// the term. ok is false when the local status could not be read. The
// snapshot is the watch-fed view when it can stand in for a full read
// (view.go), else a full read.
func (c *Controller) observe(ctx context.Context) (Observation, bool) {
	now := c.clk.Now()
	snap, err := c.cycleSnapshot(ctx, now)
	var cl *dcs.Cluster
	if err != nil {
		c.countDCSError(err)
		c.log.Warn("failover: reading the DCS failed", "err", err)
	} else {
		cl = dcs.Parse(snap)
		for _, p := range cl.Problems {
			c.log.Warn("failover: DCS value ignored", "problem", p)
		}
	}

	sctx, scancel := context.WithTimeout(ctx, 2*c.eopts().RequestTimeout+time.Second)
	st, serr := c.inst.Status(sctx)
	scancel()
	after := c.clk.Now()

	known := serr == nil || st.State != pg.StateRunning
	see := sighting{Cluster: cl, ClusterAt: now, Status: st, StatusKnown: known, At: after}
	if known && st.State != pg.StateRunning {
		var err error
		see.DataEmpty, see.DataWasPrimary, err = c.ddir.Inspect()
		if err != nil {
			c.log.Warn("failover: inspecting the data directory failed", "err", err)
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	b := &c.b
	b.mem = b.mem.next(see)
	if cl != nil {
		b.cluster, b.dcsLastSeen = cl, after
		b.seenMember, b.seenStatus = lookup(snap, dcs.MemberKey(c.o.Name)), lookup(snap, dcs.KeyStatus)
	}
	// The last snapshot's config key stands while the DCS cannot be read
	// (failsafe_mode set through the config key must hold exactly then).
	s := c.cachedSettings()
	if !known {
		c.log.Warn("failover: PostgreSQL status failed", "err", serr)
		b.pgStatusOK = false
		return Observation{}, false
	}
	b.pgStatus, b.pgStatusOK = st, true
	var t Term
	if tm := c.lead.current(); tm != nil && tm.Valid(after) {
		t = termOf(tm)
	}
	return Observation{
		Now:              after,
		Name:             c.o.Name,
		Tags:             c.o.Tags,
		Cluster:          cl,
		ClusterAt:        now,
		Local:            b.mem.local(see),
		Term:             t,
		LeaderVanishedAt: b.mem.leaderVanishedAt,
		CanBootstrap:     c.o.Bootstrap != nil,
		BootstrapOwner:   b.bootstrapOwner,
		FailsafeLeader:   b.failsafeLeader,
		FailsafeUntil:    b.failsafeUntil,
		WatchdogFailed:   c.lead.watchdogFailed(after),
		PromoteVetoed:    c.promoteVetoed(after),
		Settings:         s,
	}, true
}

// cycleSnapshot returns the cluster view if it can stand in for a full read
// at now, else reads the DCS.
func (c *Controller) cycleSnapshot(ctx context.Context, now time.Time) (dcs.Snapshot, error) {
	c.mu.Lock()
	force := c.b.readNext
	c.mu.Unlock()
	eo := c.eopts()
	if !force {
		// Bounds of the view: a full read at least once a ttl, and a
		// store call (a keepalive at least) succeeded within two
		// keepalive intervals and a request timeout.
		if snap, ok := c.view.current(now, eo.TTL, 2*eo.KeepAliveInterval+eo.RequestTimeout); ok {
			return snap, nil
		}
	}
	epoch := c.view.begin()
	rctx, cancel := context.WithTimeout(ctx, eo.RequestTimeout)
	defer cancel()
	snap, err := c.store.Get(rctx)
	if err != nil {
		return dcs.Snapshot{}, err
	}
	return c.view.read(snap, now, epoch), nil
}

// termOf is what Decide sees of a held election term.
func termOf(tm *election.Term) Term {
	return Term{Held: true, Revision: tm.Token(), Deadline: tm.Deadline(), Acquired: tm.Acquired(), Failsafe: tm.Extended()}
}

// cachedSettings are the Controller's settings with the config key of the
// last snapshot read applied; c.mu held.
func (c *Controller) cachedSettings() Settings {
	if c.b.cluster == nil {
		return c.o.Settings
	}
	return c.effectiveSettings(c.o.Settings, c.b.cluster.Config)
}

// settingsOf are the Controller's settings with cl's config key applied,
// clamped as each cycle applies them, for requests that read the cluster
// themselves; unlike cachedSettings it changes nothing (no ttl switch).
func (c *Controller) settingsOf(cl *dcs.Cluster) Settings {
	s, _ := c.o.Settings.ApplyConfig(cl.Config)
	return s
}

// handOverRefresh is how often a switchover candidate refreshes the position
// its GET /patroni reports while the old primary waits for it.
const handOverRefresh = 100 * time.Millisecond

// handOverPending reports whether name is a running replica that a due
// switchover may hand over to. The old primary, once stopped, waits until
// the candidate's GET /patroni shows the shutdown checkpoint received; that
// page is refreshed once per cycle, so at the LoopWait cadence the hand-over
// would often be a LoopWait late.
func handOverPending(obs Observation, name string) bool {
	cl := obs.Cluster
	if cl == nil || cl.Failover.IsZero() || cl.Leader == nil || cl.Leader.Name == name {
		return false
	}
	f := cl.Failover
	if f.ScheduledAt != nil && f.ScheduledAt.After(obs.Now) {
		return false
	}
	return (f.Member == "" || f.Member == name) && obs.Local.State == PGRunning && obs.Local.Role == RoleReplica
}

// countDCSError counts errors that came from the store.
func (c *Controller) countDCSError(err error) {
	if errors.Is(err, dcs.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		c.mu.Lock()
		c.b.dcsErrors++
		c.mu.Unlock()
	}
}
