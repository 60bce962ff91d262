package failover

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/election"
	"github.com/pgha/pgha/pg"
)

// execute performs dec. Noop and Wait do nothing; every other action is
// logged with its reason and traced in its own span.
func (c *Controller) execute(ctx context.Context, obs Observation, dec Decision) error {
	if dec.Action == ActionNoop || dec.Action == ActionWait {
		c.mu.Lock()
		prev := c.b.lastDecision
		c.mu.Unlock()
		if prev.Code != dec.Code {
			c.log.Info("failover: "+dec.Action.String(), "code", dec.Code, "reason", dec.Reason)
		}
		return nil
	}
	c.log.Info("failover: acting", "action", dec.Action.String(), "mode", string(dec.DemoteMode), "target", dec.Target,
		"code", dec.Code, "reason", dec.Reason)
	ctx, span := c.otel.tracer.Start(ctx, "failover."+dec.Action.String(), trace.WithAttributes(
		attribute.String("pgha.member", c.o.Name), attribute.String("pgha.code", string(dec.Code)),
		attribute.String("pgha.target", dec.Target), attribute.String("pgha.reason", dec.Reason)))
	defer span.End()
	err := c.do(ctx, obs, dec)
	if err != nil {
		span.RecordError(err)
	}
	return err
}

func (c *Controller) do(ctx context.Context, obs Observation, dec Decision) error {
	cl := obs.Cluster
	slow := func(f time.Duration) (context.Context, context.CancelFunc) {
		return context.WithTimeout(ctx, time.Duration(f)*c.o.StartTimeout)
	}
	switch dec.Action {
	case ActionBootstrap:
		return c.bootstrap(ctx)
	case ActionSetInitialize:
		return c.setInitialize(ctx, obs)
	case ActionAcquire:
		return c.acquire(ctx, obs, dec)
	case ActionPromote:
		return c.promote(ctx, obs)
	case ActionDemote:
		if dec.DemoteMode == DemoteGraceful {
			return c.switchover(ctx, obs, dec)
		}
		return c.demote(ctx, obs, dec)
	case ActionRelease:
		return c.lead.release(ctx, string(dec.Code))
	case ActionClearFailover:
		return c.clearFailover(ctx, cl)
	case ActionStart:
		sctx, cancel := slow(1)
		defer cancel()
		c.mu.Lock()
		c.b.mem = c.b.mem.started(c.clk.Now())
		c.mu.Unlock()
		if dec.StartAs == RolePrimary {
			if err := c.inst.Start(sctx); err != nil {
				return err
			}
			// The fence is armed per postmaster: arm the new one now, not
			// at the guard's next round, or an agent killed meanwhile
			// would leave it running past the term.
			if t := c.lead.held(); t != nil {
				c.lead.armFence(t)
			}
			c.emitStarted(RolePrimary, ", in place ("+string(dec.Code)+")")
			return nil
		}
		if err := c.follow(sctx, cl, dec.Target); err != nil {
			return err
		}
		if t := c.lead.held(); t != nil {
			c.lead.armFence(t)
		}
		c.emitStarted(RoleReplica, upstreamNote(dec.Target)+" ("+string(dec.Code)+")")
		return nil
	case ActionFollow:
		sctx, cancel := slow(1)
		defer cancel()
		if err := c.follow(sctx, cl, dec.Target); err != nil {
			return err
		}
		c.emit(EventFollowing, "replica"+upstreamNote(dec.Target))
		return nil
	case ActionCheckDivergence:
		up, err := upstreamOf(cl, dec.Target)
		if err != nil {
			return err
		}
		sctx, cancel := slow(1)
		defer cancel()
		d, err := c.inst.CheckDivergence(sctx, up)
		if err != nil {
			return fmt.Errorf("failover: check divergence from %s: %w", dec.Target, err)
		}
		c.log.Info("failover: divergence checked", "leader", dec.Target, "diverged", d.Diverged, "why", d.Reason)
		c.mu.Lock()
		c.b.mem = c.b.mem.judged(dec.Target, memberTimeline(cl, dec.Target), d.Diverged)
		c.mu.Unlock()
		return nil
	case ActionRewind:
		up, err := upstreamOf(cl, dec.Target)
		if err != nil {
			return err
		}
		sctx, cancel := slow(10)
		defer cancel()
		if err := c.inst.Rewind(sctx, up); err != nil {
			c.mu.Lock()
			c.b.mem = c.b.mem.rewindFailedNow()
			c.mu.Unlock()
			return fmt.Errorf("failover: rewind from %s: %w", dec.Target, err)
		}
		c.mu.Lock()
		c.b.mem = c.b.mem.judged(dec.Target, memberTimeline(cl, dec.Target), false)
		c.mu.Unlock()
		c.emit(EventRewound, "from "+dec.Target)
		return nil
	case ActionClone:
		return c.clone(ctx, cl, dec)
	}
	return fmt.Errorf("failover: action %v not supported", dec.Action)
}

// memberTimeline is the timeline member name publishes, 0 when unknown.
func memberTimeline(cl *dcs.Cluster, name string) int64 {
	if cl == nil {
		return 0
	}
	if m := cl.Member(name); m != nil && m.Timeline != nil {
		return *m.Timeline
	}
	return 0
}

// noStream reports whether this member is tagged nostream.
func (c *Controller) noStream() bool { return c.o.Tags.Bool(dcs.TagNoStream) }

// upstreamNote names the upstream a replica follows, for an event.
func upstreamNote(target string) string {
	if target == "" {
		return " without upstream"
	}
	return " of " + target
}

// upstreamOf returns how to reach member name's PostgreSQL (its conn_url).
func upstreamOf(cl *dcs.Cluster, name string) (pg.Upstream, error) {
	if cl == nil || name == "" {
		return pg.Upstream{}, fmt.Errorf("failover: no member to connect to")
	}
	m := cl.Member(name)
	if m == nil {
		return pg.Upstream{}, fmt.Errorf("failover: member %s has no member key", name)
	}
	host, port := m.Host()
	if host == "" {
		return pg.Upstream{}, fmt.Errorf("failover: member %s: unusable conn_url %q", name, m.ConnURL)
	}
	return pg.Upstream{Host: host, Port: port, Member: name}, nil
}

// followConfig is how this node replicates from target ("" for none).
// A member tagged nostream gets neither upstream nor slot: as Patroni
// documents, it replicates only through restore_command (archive
// recovery) or WAL placed in its pg_wal, and is still a failover candidate
// unless nofailover (its position is its replay LSN; it has no receive
// LSN).
func (c *Controller) followConfig(cl *dcs.Cluster, target string) pg.FollowConfig {
	if isRemoteTarget(target) {
		// The standby leader streams from the remote (nostream does not
		// apply: it is the standby cluster's only way in besides the
		// archive).
		if sc := c.standbyOf(cl); sc.Active() {
			return sc.followConfig()
		}
		return pg.FollowConfig{}
	}
	if c.noStream() {
		return pg.FollowConfig{}
	}
	up, err := upstreamOf(cl, target)
	if err != nil {
		return pg.FollowConfig{}
	}
	cfg := pg.FollowConfig{Upstream: up, SlotName: pg.SlotName(c.o.Name)}
	if p, _ := slotPolicyOf(cl.Config); !p.useSlots {
		cfg.SlotName = ""
	}
	return cfg
}

// standbyOf is the standby_cluster section in force for cl: the config
// key's, or the bootstrap configuration's while there is no config key.
func (c *Controller) standbyOf(cl *dcs.Cluster) *StandbyCluster {
	if cl == nil || cl.Config == nil {
		return c.o.Settings.StandbyCluster
	}
	sc, _ := StandbyClusterOf(cl.Config)
	return sc
}

func (c *Controller) follow(ctx context.Context, cl *dcs.Cluster, target string) error {
	cfg := c.followConfig(cl, target)
	if target != "" && cfg.Upstream.IsZero() && !c.noStream() && !isRemoteTarget(target) {
		return fmt.Errorf("failover: follow %s: no usable conn_url", target)
	}
	if err := c.inst.Follow(ctx, cfg); err != nil {
		return fmt.Errorf("failover: follow %q: %w", target, err)
	}
	c.mu.Lock()
	c.b.mem = c.b.mem.followed(target)
	c.mu.Unlock()
	return nil
}

// bootstrap wins the initialize race (create-if-absent of the "" value)
// and initializes a new cluster; losing the race is not an error. A
// failed bootstrap gives the race up (deletes the key) and, unless the
// Instance refused before changing anything, sets the data directory
// aside; unless the loop is stopping, it then stops the loop with
// ErrBootstrapFailed, as Patroni exits: what failed once (a restore
// command, post_bootstrap) needs an operator, and another member may try
// meanwhile.
func (c *Controller) bootstrap(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, c.eopts().RequestTimeout)
	rev, err := c.store.Put(rctx, dcs.KeyInitialize, []byte(""), 0, dcs.Cond{Absent: true})
	cancel()
	if errors.Is(err, dcs.ErrConflict) {
		c.log.Info("failover: another member won the initialize race")
		return nil
	}
	if err != nil {
		return fmt.Errorf("failover: initialize race: %w", err)
	}
	opts := *c.o.Bootstrap
	sc := c.o.Settings.StandbyCluster
	bctx, bcancel := ctx, context.CancelFunc(func() {})
	if sc.Active() && len(sc.CreateReplicaMethods) == 0 || !sc.Active() && opts.Method == nil {
		// initdb is quick, and a standby cluster's clone from the remote
		// is bounded as any clone is; a restore from a backup (a custom
		// bootstrap method, or the standby cluster's
		// create_replica_methods) may take hours.
		bctx, bcancel = context.WithTimeout(ctx, 10*c.o.StartTimeout)
	}
	switch {
	case sc.Active():
		err = c.during(ctx, dcs.StateCreatingReplica, func() error { return c.bootstrapStandby(bctx, sc) })
	case opts.Method != nil:
		err = c.during(ctx, dcs.StateCustomBootstrap, func() error { return c.inst.Bootstrap(bctx, opts) })
	default:
		err = c.during(ctx, dcs.StateInitializing, func() error { return c.inst.Bootstrap(bctx, opts) })
	}
	bcancel()
	if err == nil {
		c.mu.Lock()
		c.b.bootstrapOwner = true
		c.mu.Unlock()
		c.emit(EventBootstrapped, "initialized a new cluster")
		return nil
	}
	// Let another member (or a later attempt) bootstrap.
	dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), c.eopts().RequestTimeout)
	if derr := c.store.Delete(dctx, dcs.KeyInitialize, dcs.Cond{ModRevision: rev}); derr != nil {
		c.log.Warn("failover: removing the initialize key after a failed bootstrap", "err", derr)
	}
	dcancel()
	err = fmt.Errorf("failover: bootstrap: %w", err)
	if errors.Is(err, pg.ErrDataDirNotEmpty) || errors.Is(err, pg.ErrAlreadyRunning) {
		// Refused before anything was changed: the directory is not ours.
		return err
	}
	// Also when the loop is stopping: a restore cut short must not be
	// found at the next start and taken for a cluster.
	if mv, ok := c.inst.(pg.DataDirMover); ok {
		mctx, mcancel := context.WithTimeout(context.WithoutCancel(ctx), c.o.StartTimeout)
		to, merr := mv.MoveDataDirAside(mctx)
		mcancel()
		switch {
		case merr != nil:
			c.log.Error("failover: setting the failed bootstrap's data directory aside", "err", merr)
			err = fmt.Errorf("%w (and setting its data directory aside failed: %w)", err, merr)
		case to != "":
			c.log.Warn("failover: moved the failed bootstrap's data directory aside", "to", to)
			err = fmt.Errorf("%w (its data directory was moved to %s)", err, to)
		}
	}
	if ctx.Err() != nil {
		return err
	}
	c.log.Error("failover: bootstrap failed; the initialize key is released for another member and the loop stops", "err", err)
	c.mu.Lock()
	c.fatal = fmt.Errorf("%w: %w", ErrBootstrapFailed, err)
	c.mu.Unlock()
	return err
}

// setInitialize publishes the system identifier, then the initial config
// when the key is missing.
func (c *Controller) setInitialize(ctx context.Context, obs Observation) error {
	id := obs.Local.SystemID
	if id == "" {
		return fmt.Errorf("failover: set initialize: system identifier unknown")
	}
	cond := dcs.Cond{Absent: true}
	if obs.Cluster.Initialize != nil {
		cond = dcs.Cond{ModRevision: obs.Cluster.InitializeRevision}
	}
	rctx, cancel := context.WithTimeout(ctx, c.eopts().RequestTimeout)
	defer cancel()
	var err error
	if t := c.lead.held(); t != nil {
		_, err = t.Put(rctx, dcs.KeyInitialize, []byte(id), cond)
	} else {
		_, err = c.store.Put(rctx, dcs.KeyInitialize, []byte(id), 0, cond)
	}
	if err != nil {
		return fmt.Errorf("failover: set initialize: %w", err)
	}
	c.mu.Lock()
	c.b.bootstrapOwner = false
	c.mu.Unlock()
	c.writeConfigIfAbsent(ctx, obs.Cluster, obs.Settings)
	return nil
}

// acquire makes one attempt at the leader key; losing is not an error.
func (c *Controller) acquire(ctx context.Context, obs Observation, dec Decision) error {
	c.mu.Lock()
	cand := c.cand
	c.mu.Unlock()
	won, err := c.lead.acquire(ctx, cand, dec)
	if won && dec.ClearFailover {
		c.clearFailover(ctx, obs.Cluster)
	}
	if won && obs.Local.Running() && obs.Local.Role == RoleReplica && c.standbyOf(obs.Cluster).Active() {
		// A replica winning the term of a standby cluster is its standby
		// leader from now on: it follows the remote next, never promotes.
		c.emit(EventStandbyLeader, "won the leader key of a standby cluster ("+string(dec.Code)+")")
	}
	return err
}

// clearFailover removes the failover key (compare-and-swap on the
// revision seen, guarded by the term when held).
func (c *Controller) clearFailover(ctx context.Context, cl *dcs.Cluster) error {
	if cl == nil || cl.FailoverRevision == 0 {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, c.eopts().RequestTimeout)
	defer cancel()
	cond := dcs.Cond{ModRevision: cl.FailoverRevision}
	var err error
	if t := c.lead.held(); t != nil {
		err = t.Delete(rctx, dcs.KeyFailover, cond)
	} else {
		err = c.store.Delete(rctx, dcs.KeyFailover, cond)
	}
	if err != nil && !errors.Is(err, dcs.ErrConflict) {
		return fmt.Errorf("failover: clear the failover key: %w", err)
	}
	return nil
}

// promote promotes the local replica under the term, then records the
// new timeline in history and the position in status.
func (c *Controller) promote(ctx context.Context, obs Observation) error {
	t := c.lead.held()
	if t == nil {
		return errNoTerm
	}
	pctx, cancel := t.Context(ctx)
	defer cancel()
	pctx, cancel2 := context.WithTimeout(pctx, c.o.StartTimeout)
	defer cancel2()
	switchLSN := max(obs.Local.ReceiveLSN, obs.Local.ReplayLSN)
	if err := c.lead.armWatchdog(); err != nil {
		return c.lead.refuseWithoutWatchdog(ctx, err)
	}
	if err := c.syncHook(pctx, c.o.Hooks.PrePromote, HookPrePromote, "primary"); err != nil {
		return c.vetoPromotion(ctx, err)
	}
	c.mu.Lock()
	guc := c.b.pgStatus.SynchronousStandbyNames
	c.mu.Unlock()
	if err := c.sync.preparePromotion(pctx, t, obs.Settings, obs.Cluster, guc); err != nil {
		return err
	}
	tli, err := c.inst.Promote(pctx)
	if err != nil {
		return fmt.Errorf("failover: promote: %w", err)
	}
	reason := c.lead.reason()
	c.mu.Lock()
	c.b.mem = c.b.mem.followed("")
	c.b.failovers[reason]++
	c.mu.Unlock()
	c.emit(EventPromoted, fmt.Sprintf("promoted to timeline %d (%s)", tli, reason))

	cl := obs.Cluster
	c.ensureSlots(ctx, cl, true)
	if tli > 1 {
		h := slices.DeleteFunc(slices.Clone(cl.History), func(e dcs.HistoryEntry) bool { return e.Timeline >= int64(tli)-1 })
		h = append(h, dcs.HistoryEntry{Timeline: int64(tli) - 1, LSN: switchLSN, Reason: "promoted by pgha: " + reason,
			Timestamp: c.clk.Now().Format("2006-01-02T15:04:05.999999-07:00"), NewLeader: c.o.Name})
		rctx, rcancel := context.WithTimeout(ctx, c.eopts().RequestTimeout)
		_, herr := t.Put(rctx, dcs.KeyHistory, h.Encode(), dcs.Cond{})
		rcancel()
		if herr != nil {
			c.log.Warn("failover: writing history failed", "err", herr)
		}
	}
	return nil
}

// demote stops accepting writes (immediate, fast or offline) and restarts
// as a replica of dec.Target ("" for none), releasing the term after the
// stop when asked.
func (c *Controller) demote(ctx context.Context, obs Observation, dec Decision) error {
	mode := pg.StopFast
	target := dec.Target
	switch dec.DemoteMode {
	case DemoteImmediate:
		mode = pg.StopImmediate
	case DemoteOffline:
		target = ""
	case DemoteCluster:
		return c.demoteCluster(ctx, obs, dec)
	}
	var dropped *election.Term
	if !dec.ReleaseTerm {
		dropped = c.lead.drop() // stop claiming leadership in health answers first
	}
	sctx, cancel := context.WithTimeout(ctx, c.o.StartTimeout)
	defer cancel()
	var err error
	if obs.Local.Running() {
		err = c.inst.Demote(sctx, mode, c.followConfig(obs.Cluster, target))
		if err == nil {
			c.mu.Lock()
			c.b.mem = c.b.mem.followed(target)
			c.mu.Unlock()
		}
	} else {
		err = c.inst.Stop(sctx, mode)
	}
	c.emit(EventDemoted, fmt.Sprintf("%s demote: %s", dec.DemoteMode, dec.Reason))
	if err == nil {
		c.lead.giveUpKey(ctx, dropped, fmt.Sprintf("%s demote: %s", dec.DemoteMode, dec.Code))
	}
	if dec.ReleaseTerm && err == nil {
		// Only once the stop is confirmed: a primary that may still run
		// keeps its key, or a replica could be promoted beside it.
		err = c.lead.release(ctx, string(dec.Code))
	}
	if err != nil {
		return fmt.Errorf("failover: demote: %w", err)
	}
	return nil
}

func (c *Controller) clone(ctx context.Context, cl *dcs.Cluster, dec Decision) error {
	up, err := upstreamOf(cl, dec.Target)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, 10*c.o.StartTimeout)
	defer cancel()
	if st := c.inst.State(); st == pg.StateRunning || st == pg.StateStarting {
		if err := c.inst.Stop(sctx, pg.StopFast); err != nil {
			return fmt.Errorf("failover: stop before clone: %w", err)
		}
	}
	if err := c.during(ctx, dcs.StateCreatingReplica, func() error {
		return c.inst.Clone(sctx, pg.CloneRequest{Upstream: up, Replace: dec.WipeData})
	}); err != nil {
		return fmt.Errorf("failover: clone from %s: %w", dec.Target, err)
	}
	c.mu.Lock()
	c.b.mem = c.b.mem.cloned(leaderName(cl), memberTimeline(cl, leaderName(cl)))
	c.mu.Unlock()
	c.emit(EventCloned, "from "+dec.Target)
	return nil
}

func leaderName(cl *dcs.Cluster) string {
	if cl == nil || cl.Leader == nil {
		return ""
	}
	return cl.Leader.Name
}
