package failover

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/election"
	"github.com/pgha/pgha/internal/mutation"
	"github.com/pgha/pgha/pg"
)

// maxSyncSteps bounds the synchronous-replication steps per cycle (write
// key, set GUC, write key again once caught up is the longest useful run).
const maxSyncSteps = 4

// SyncStatus is the leader's view of synchronous replication, for status
// pages and metrics ([Controller.SyncStatus]).
type SyncStatus struct {
	// Mode is synchronous_mode (off, on, quorum) and Strict
	// synchronous_mode_strict, as in effect.
	Mode   string
	Strict bool
	// Managed is set while this node, as leader, manages the settings.
	Managed bool
	// GUC is synchronous_standby_names as last set or wanted.
	GUC string
	// Standbys are the members the sync key lists as synchronous, Quorum
	// its quorum.
	Standbys []string
	Quorum   int
	// Degraded is set in non-strict mode when no standby is synchronous:
	// commits are acknowledged by the primary alone and no standby may be
	// promoted automatically.
	Degraded bool
	// Blocking is set in strict mode when no listed standby streams:
	// commits wait until one is back.
	Blocking bool
	// Reason explains the latest plan.
	Reason string
}

// SyncStatus returns the latest synchronous-replication state (zero Mode
// "off" on a node that does not manage it).
func (c *Controller) SyncStatus() SyncStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.b.syncStatus
	st.Standbys = slices.Clone(st.Standbys)
	if st.Mode == "" {
		st.Mode = SyncOff
	}
	return st
}

// manageSync runs the leader's synchronous-replication steps (PlanSync)
// for this cycle: at most maxSyncSteps, each written with the term guard
// and, for the sync key, compare-and-swap on the revision seen.
func (c *Controller) manageSync(ctx context.Context, s Settings, t *election.Term, st pg.Status, cl *dcs.Cluster) {
	if cl == nil {
		return
	}
	c.mu.Lock()
	ep := c.b.syncEpoch
	c.mu.Unlock()
	view := *cl
	cur := st.SynchronousStandbyNames
	reps := SyncReplicasFromStatus(st.Replication)
	flush := st.FlushLSN.Int64()
	early := mutation.On(ctx, mutation.SyncBeforeCatchUp)
	var plan SyncPlan
	for range maxSyncSteps {
		if early {
			for i := range reps {
				reps[i].FlushLSN = math.MaxInt64
			}
		}
		plan = PlanSync(SyncInput{Settings: s, Leader: c.o.Name, Cluster: &view, Replicas: reps, CurrentGUC: cur, Epoch: ep,
			Now: c.clk.Now(), FlushLSN: flush})
		ep = plan.Epoch
		if plan.Step == SyncNothing {
			break
		}
		c.log.Info("failover: synchronous replication", "step", plan.Step.String(), "reason", plan.Reason)
		rctx, cancel := context.WithTimeout(ctx, 2*c.eopts().RequestTimeout+time.Second)
		err := c.syncStep(rctx, t, &view, plan, &ep, &cur, &reps, &flush)
		cancel()
		if err != nil {
			c.log.Warn("failover: synchronous replication step failed", "step", plan.Step.String(), "err", err)
			c.countDCSError(err)
			break
		}
	}
	c.recordSync(s, plan, view.Sync, true)
	c.mu.Lock()
	c.b.syncEpoch = ep
	c.mu.Unlock()
}

// syncStep performs one planned step and updates the view.
func (c *Controller) syncStep(ctx context.Context, t *election.Term, view *dcs.Cluster, plan SyncPlan, ep *SyncEpoch, cur *string, reps *[]SyncReplica, flush *int64) error {
	switch plan.Step {
	case SyncWriteKey:
		cond := dcs.Cond{Absent: true}
		if view.Sync != nil {
			cond = dcs.Cond{ModRevision: view.Sync.ModRevision}
		}
		rev, err := t.Put(ctx, dcs.KeySync, plan.Key.Encode(), cond)
		if err != nil {
			return fmt.Errorf("write the sync key: %w", err)
		}
		k := *plan.Key
		k.ModRevision = rev
		view.Sync = &k
	case SyncDeleteKey:
		if err := t.Delete(ctx, dcs.KeySync, dcs.Cond{ModRevision: view.Sync.ModRevision}); err != nil && !errors.Is(err, dcs.ErrNotFound) {
			return fmt.Errorf("delete the sync key: %w", err)
		}
		view.Sync = nil
	case SyncSetGUC:
		if err := c.inst.SetSynchronousStandbyNames(ctx, plan.GUC); err != nil {
			return fmt.Errorf("set synchronous_standby_names: %w", err)
		}
		// The epoch's start position is read a settle time later (see
		// SyncEpoch): commits until then may have been released under the
		// old value, so a standby counts only once it flushed past it.
		*ep = SyncEpoch{Set: true, GUC: plan.GUC, SetAt: c.clk.Now()}
		st, err := c.inst.Status(ctx)
		if err != nil {
			return fmt.Errorf("status after setting synchronous_standby_names: %w", err)
		}
		*cur = st.SynchronousStandbyNames
		*reps = SyncReplicasFromStatus(st.Replication)
		*flush = st.FlushLSN.Int64()
		c.mu.Lock()
		c.b.pgStatus = st
		c.mu.Unlock()
	}
	return nil
}

// recordSync stores the status and logs changes of the degraded and
// blocking conditions.
func (c *Controller) recordSync(s Settings, plan SyncPlan, key *dcs.SyncState, managed bool) {
	ns := SyncStatus{Mode: s.SynchronousMode, Strict: s.SynchronousModeStrict, Managed: managed, GUC: plan.GUC.String(),
		Degraded: managed && plan.Degraded && syncModeOn(s), Blocking: managed && plan.Blocking && syncModeOn(s), Reason: plan.Reason}
	if ns.Mode == "" {
		ns.Mode = SyncOff
	}
	if key != nil {
		ns.Standbys, ns.Quorum = slices.Clone(key.SyncStandby), key.Quorum
	}
	c.mu.Lock()
	prev := c.b.syncStatus
	c.b.syncStatus = ns
	c.mu.Unlock()
	switch {
	case ns.Degraded && !prev.Degraded:
		c.log.Warn("failover: synchronous replication DEGRADED to asynchronous: commits are acknowledged by the primary alone and no standby may be promoted automatically",
			"reason", ns.Reason)
	case !ns.Degraded && prev.Degraded:
		c.log.Info("failover: synchronous replication restored", "standbys", ns.Standbys, "synchronous_standby_names", ns.GUC)
	}
	switch {
	case ns.Blocking && !prev.Blocking:
		c.log.Warn("failover: strict synchronous mode: no synchronous standby streams, commits WAIT until one is back", "reason", ns.Reason)
	case !ns.Blocking && prev.Blocking:
		c.log.Info("failover: strict synchronous mode: a synchronous standby streams again, commits proceed", "synchronous_standby_names", ns.GUC)
	}
}

func syncModeOn(s Settings) bool {
	return s.SynchronousMode == SyncOn || s.SynchronousMode == SyncQuorum
}

// prepareSyncPromotion runs before a promotion in synchronous mode: the
// sync key is rewritten to name this node with no standby (so that no
// other member counts as synchronous for commits it never saw), and the
// GUC is set so that the first commits wait (strict: the placeholder) or
// run asynchronously (non-strict). The leader loop then chooses standbys.
// An error means: do not promote now.
func (c *Controller) prepareSyncPromotion(ctx context.Context, t *election.Term, s Settings, cl *dcs.Cluster) error {
	c.mu.Lock()
	c.b.syncEpoch = SyncEpoch{}
	c.mu.Unlock()
	if !syncModeOn(s) || cl == nil {
		c.mu.Lock()
		stale := c.b.pgStatus.SynchronousStandbyNames
		c.mu.Unlock()
		if stale == "" {
			return nil
		}
		// A value left from an earlier term would make the first commits
		// wait for standbys nobody manages.
		gctx, gcancel := context.WithTimeout(ctx, c.o.StartTimeout)
		defer gcancel()
		if err := c.inst.SetSynchronousStandbyNames(gctx, pg.SyncStandbys{}); err != nil {
			return fmt.Errorf("failover: clearing synchronous_standby_names before promotion: %w", err)
		}
		return nil
	}
	want := &dcs.SyncState{Leader: c.o.Name}
	cond := dcs.Cond{Absent: true}
	if cl.Sync != nil {
		cond = dcs.Cond{ModRevision: cl.Sync.ModRevision}
	}
	rctx, cancel := context.WithTimeout(ctx, c.eopts().RequestTimeout)
	_, err := t.Put(rctx, dcs.KeySync, want.Encode(), cond)
	cancel()
	if err != nil {
		return fmt.Errorf("failover: sync key before promotion: %w", err)
	}
	g := pg.SyncStandbys{}
	if s.SynchronousModeStrict {
		g = pg.SyncStandbys{Method: pg.SyncFirst, Num: 1, Names: []string{SyncPlaceholder}}
	}
	gctx, gcancel := context.WithTimeout(ctx, c.o.StartTimeout)
	defer gcancel()
	if err := c.inst.SetSynchronousStandbyNames(gctx, g); err != nil {
		return fmt.Errorf("failover: synchronous_standby_names before promotion: %w", err)
	}
	return nil
}

// leaveSync asks the leader to drop this replica from synchronous duty
// before its server stops (restart, reinitialize): it publishes the
// nosync tag in its member key and waits up to 2 × loop_wait until the
// sync key no longer lists it, so commits on the primary do not hang on
// a standby that is going away. The tag stays until resumeSync.
func (c *Controller) leaveSync(ctx context.Context) {
	c.mu.Lock()
	cl := c.b.cluster
	s := c.o.Settings.WithConfig(nil)
	if cl != nil {
		s = c.o.Settings.WithConfig(cl.Config)
	}
	c.mu.Unlock()
	if !syncModeOn(s) || cl == nil || cl.Leader == nil || cl.Leader.Name == c.o.Name {
		return
	}
	c.mu.Lock()
	c.b.forceNoSync = true
	c.mu.Unlock()
	c.publishMember(ctx, s)
	start := c.clk.Now()
	deadline := start.Add(2 * s.LoopWait)
	wasListed := cl.Sync.IsSync(c.o.Name)
	for {
		cur, err := c.readCluster(ctx)
		// A standby not yet in the key may still be in the GUC (catching
		// up): the leader drops it within one of its cycles.
		if err == nil && !cur.Sync.IsSync(c.o.Name) && (wasListed || !c.clk.Now().Before(start.Add(s.LoopWait))) {
			c.log.Info("failover: dropped from synchronous duty before stopping")
			return
		}
		if !c.clk.Now().Before(deadline) || ctx.Err() != nil {
			c.log.Warn("failover: the leader did not drop this node from synchronous duty within 2 × loop_wait: stopping anyway", "wait", 2*s.LoopWait)
			return
		}
		tm := c.clk.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			tm.Stop()
		case <-tm.C():
		}
	}
}

// resumeSync removes the nosync tag leaveSync added.
func (c *Controller) resumeSync() {
	c.mu.Lock()
	c.b.forceNoSync = false
	c.mu.Unlock()
	c.poke()
}
