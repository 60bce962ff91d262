package failover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgha/pgha/clock"
	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/election"
	"github.com/pgha/pgha/internal/mutation"
	"github.com/pgha/pgha/pg"
)

// syncRep is this node's part in synchronous replication, everything that
// carries out what PlanSync (sync.go) decides: as leader it performs the
// planned steps and remembers the epoch between cycles, prepares a
// promotion, and reports the state (degraded, blocking); as a replica
// about to stop it leaves synchronous duty first; and it refuses manual
// requests that would promote a member lacking acknowledged commits. It
// holds its own lock, never taken while calling out.
type syncRep struct {
	name  string
	inst  pg.Instance
	store dcs.Store
	clk   clock.Clock
	log   *slog.Logger
	// eo are the election timings in effect (the Controller's): DCS calls
	// are bounded by their request timeout.
	eo           *atomic.Pointer[election.Options]
	startTimeout time.Duration

	mu     sync.Mutex
	epoch  SyncEpoch
	status SyncStatus
	noSync bool // leave: publish nosync until resume
}

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
func (c *Controller) SyncStatus() SyncStatus { return c.sync.snapshot() }

func (r *syncRep) snapshot() SyncStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.status
	st.Standbys = slices.Clone(st.Standbys)
	if st.Mode == "" {
		st.Mode = SyncOff
	}
	return st
}

func (r *syncRep) requestTimeout() time.Duration { return r.eo.Load().RequestTimeout }

// newTerm forgets the epoch: it belongs to the term that set the GUC.
func (r *syncRep) newTerm() {
	r.mu.Lock()
	r.epoch = SyncEpoch{}
	r.mu.Unlock()
}

// manage runs the leader's synchronous-replication steps (PlanSync) for
// this cycle: at most maxSyncSteps, each written with the term guard and,
// for the sync key, compare-and-swap on the revision seen. It returns the
// server's status when a step read it anew (nil otherwise), and the error
// that stopped the steps.
func (r *syncRep) manage(ctx context.Context, s Settings, t *election.Term, st pg.Status, cl *dcs.Cluster) (*pg.Status, error) {
	if cl == nil {
		return nil, nil
	}
	r.mu.Lock()
	ep := r.epoch
	r.mu.Unlock()
	view := *cl
	cur := st.SynchronousStandbyNames
	reps := SyncReplicasFromStatus(st.Replication)
	flush := st.FlushLSN.Int64()
	early := mutation.On(ctx, mutation.SyncBeforeCatchUp)
	var (
		plan  SyncPlan
		fresh *pg.Status
		err   error
	)
	for range maxSyncSteps {
		if early {
			for i := range reps {
				reps[i].FlushLSN = math.MaxInt64
			}
		}
		plan = PlanSync(SyncInput{Settings: s, Leader: r.name, Cluster: &view, Replicas: reps, CurrentGUC: cur, Epoch: ep,
			Now: r.clk.Now(), FlushLSN: flush})
		ep = plan.Epoch
		if plan.Step == SyncNothing {
			break
		}
		r.log.Info("failover: synchronous replication", "step", plan.Step.String(), "reason", plan.Reason)
		rctx, cancel := context.WithTimeout(ctx, 2*r.requestTimeout()+time.Second)
		var now *pg.Status
		now, err = r.step(rctx, t, &view, plan, &ep)
		cancel()
		if err != nil {
			r.log.Warn("failover: synchronous replication step failed", "step", plan.Step.String(), "err", err)
			break
		}
		if now != nil {
			fresh = now
			cur = now.SynchronousStandbyNames
			reps = SyncReplicasFromStatus(now.Replication)
			flush = now.FlushLSN.Int64()
		}
	}
	r.record(s, plan, view.Sync, true)
	r.mu.Lock()
	r.epoch = ep
	r.mu.Unlock()
	return fresh, err
}

// step performs one planned step and updates the view; after setting the
// GUC it returns the server's status read anew.
func (r *syncRep) step(ctx context.Context, t *election.Term, view *dcs.Cluster, plan SyncPlan, ep *SyncEpoch) (*pg.Status, error) {
	switch plan.Step {
	case SyncWriteKey:
		cond := dcs.Cond{Absent: true}
		if view.Sync != nil {
			cond = dcs.Cond{ModRevision: view.Sync.ModRevision}
		}
		rev, err := t.Put(ctx, dcs.KeySync, plan.Key.Encode(), cond)
		if err != nil {
			return nil, fmt.Errorf("write the sync key: %w", err)
		}
		k := *plan.Key
		k.ModRevision = rev
		view.Sync = &k
	case SyncDeleteKey:
		if err := t.Delete(ctx, dcs.KeySync, dcs.Cond{ModRevision: view.Sync.ModRevision}); err != nil && !errors.Is(err, dcs.ErrNotFound) {
			return nil, fmt.Errorf("delete the sync key: %w", err)
		}
		view.Sync = nil
	case SyncSetGUC:
		if err := r.inst.SetSynchronousStandbyNames(ctx, plan.GUC); err != nil {
			return nil, fmt.Errorf("set synchronous_standby_names: %w", err)
		}
		// The epoch's start position is read a settle time later (see
		// SyncEpoch): commits until then may have been released under the
		// old value, so a standby counts only once it flushed past it.
		*ep = SyncEpoch{Set: true, GUC: plan.GUC, SetAt: r.clk.Now()}
		st, err := r.inst.Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("status after setting synchronous_standby_names: %w", err)
		}
		return &st, nil
	}
	return nil, nil
}

// record stores the status and logs changes of the degraded and blocking
// conditions. A node that does not lead records managed false.
func (r *syncRep) record(s Settings, plan SyncPlan, key *dcs.SyncState, managed bool) {
	ns := SyncStatus{Mode: s.SynchronousMode, Strict: s.SynchronousModeStrict, Managed: managed, GUC: plan.GUC.String(),
		Degraded: managed && plan.Degraded && syncModeOn(s), Blocking: managed && plan.Blocking && syncModeOn(s), Reason: plan.Reason}
	if ns.Mode == "" {
		ns.Mode = SyncOff
	}
	if key != nil {
		ns.Standbys, ns.Quorum = slices.Clone(key.SyncStandby), key.Quorum
	}
	r.mu.Lock()
	prev := r.status
	r.status = ns
	r.mu.Unlock()
	switch {
	case ns.Degraded && !prev.Degraded:
		r.log.Warn("failover: synchronous replication DEGRADED to asynchronous: commits are acknowledged by the primary alone and no standby may be promoted automatically",
			"reason", ns.Reason)
	case !ns.Degraded && prev.Degraded:
		r.log.Info("failover: synchronous replication restored", "standbys", ns.Standbys, "synchronous_standby_names", ns.GUC)
	}
	switch {
	case ns.Blocking && !prev.Blocking:
		r.log.Warn("failover: strict synchronous mode: no synchronous standby streams, commits WAIT until one is back", "reason", ns.Reason)
	case !ns.Blocking && prev.Blocking:
		r.log.Info("failover: strict synchronous mode: a synchronous standby streams again, commits proceed", "synchronous_standby_names", ns.GUC)
	}
}

func syncModeOn(s Settings) bool {
	return s.SynchronousMode == SyncOn || s.SynchronousMode == SyncQuorum
}

// preparePromotion runs before a promotion in synchronous mode: the sync
// key is rewritten to name this node with no standby (so that no other
// member counts as synchronous for commits it never saw), and the GUC is
// set so that the first commits wait (strict: the placeholder) or run
// asynchronously (non-strict). The leader loop then chooses standbys.
// Outside synchronous mode a GUC left from an earlier term (cur, as last
// read) is cleared. An error means: do not promote now.
func (r *syncRep) preparePromotion(ctx context.Context, t *election.Term, s Settings, cl *dcs.Cluster, cur string) error {
	r.newTerm()
	if !syncModeOn(s) || cl == nil {
		if cur == "" {
			return nil
		}
		// A value left from an earlier term would make the first commits
		// wait for standbys nobody manages.
		gctx, gcancel := context.WithTimeout(ctx, r.startTimeout)
		defer gcancel()
		if err := r.inst.SetSynchronousStandbyNames(gctx, pg.SyncStandbys{}); err != nil {
			return fmt.Errorf("failover: clearing synchronous_standby_names before promotion: %w", err)
		}
		return nil
	}
	want := &dcs.SyncState{Leader: r.name}
	cond := dcs.Cond{Absent: true}
	if cl.Sync != nil {
		cond = dcs.Cond{ModRevision: cl.Sync.ModRevision}
	}
	rctx, cancel := context.WithTimeout(ctx, r.requestTimeout())
	_, err := t.Put(rctx, dcs.KeySync, want.Encode(), cond)
	cancel()
	if err != nil {
		return fmt.Errorf("failover: sync key before promotion: %w", err)
	}
	g := pg.SyncStandbys{}
	if s.SynchronousModeStrict {
		g = pg.SyncStandbys{Method: pg.SyncFirst, Num: 1, Names: []string{SyncPlaceholder}}
	}
	gctx, gcancel := context.WithTimeout(ctx, r.startTimeout)
	defer gcancel()
	if err := r.inst.SetSynchronousStandbyNames(gctx, g); err != nil {
		return fmt.Errorf("failover: synchronous_standby_names before promotion: %w", err)
	}
	return nil
}

// noSyncTag reports whether the member key must carry nosync (leave).
func (r *syncRep) noSyncTag() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.noSync
}

// leave asks the leader of cl to drop this replica from synchronous duty
// before its server stops (restart, reinitialize): it publishes the nosync
// tag in its member key (publish) and waits up to 2 × loop_wait until the
// sync key no longer lists it, so commits on the primary do not hang on a
// standby that is going away. The tag stays until resume.
func (r *syncRep) leave(ctx context.Context, cl *dcs.Cluster, s Settings, publish func(context.Context)) {
	if !syncModeOn(s) || cl == nil || cl.Leader == nil || cl.Leader.Name == r.name {
		return
	}
	r.mu.Lock()
	r.noSync = true
	r.mu.Unlock()
	publish(ctx)
	start := r.clk.Now()
	deadline := start.Add(2 * s.LoopWait)
	wasListed := cl.Sync.IsSync(r.name)
	for {
		rctx, cancel := context.WithTimeout(ctx, r.requestTimeout())
		snap, err := r.store.Get(rctx)
		cancel()
		// A standby not yet in the key may still be in the GUC (catching
		// up): the leader drops it within one of its cycles.
		if err == nil && !dcs.Parse(snap).Sync.IsSync(r.name) && (wasListed || !r.clk.Now().Before(start.Add(s.LoopWait))) {
			r.log.Info("failover: dropped from synchronous duty before stopping")
			return
		}
		if !r.clk.Now().Before(deadline) || ctx.Err() != nil {
			r.log.Warn("failover: the leader did not drop this node from synchronous duty within 2 × loop_wait: stopping anyway", "wait", 2*s.LoopWait)
			return
		}
		tm := r.clk.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			tm.Stop()
		case <-tm.C():
		}
	}
}

// resume removes the nosync tag leave added.
func (r *syncRep) resume() {
	r.mu.Lock()
	r.noSync = false
	r.mu.Unlock()
}

// syncRefusal returns why a switchover or failover to candidate is refused
// in synchronous mode under settings s, or "" when it is allowed: only a
// member listed in the sync key holds every acknowledged commit.
func syncRefusal(s Settings, cl *dcs.Cluster, candidate, verb string) string {
	if candidate == "" || !s.syncActive(cl) || cl.Sync.IsSync(candidate) {
		return ""
	}
	return verb + " to " + candidate + " refused: synchronous_mode is " + s.SynchronousMode + " and " + candidate +
		" is not a synchronous standby (sync key lists " + listOrNone(cl.Sync.SyncStandby) + "), so it may lack acknowledged commits" +
		"; choose a synchronous standby, or run a failover with " + AllowDataLossKey + " to accept losing data"
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	b, _ := json.Marshal(names)
	return string(b)
}
