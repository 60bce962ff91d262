package localcluster

import (
	"context"
	"fmt"
	"time"

	"github.com/pgha/pgha/dcs"
)

// EtcdFaultOptions configure [Cluster.RunEtcdFault]. Zero values take the
// defaults named, from the cluster's ttl (the config key's, default 6 s).
type EtcdFaultOptions struct {
	// Observe is how long the recordings run after the fault before the
	// member is restarted; default two lease lifetimes (2 ttl): a renewal
	// the fault disturbed has either failed, and the term ended, or
	// succeeded by then.
	Observe time.Duration
	// Bound is the deadline, from the fault, for writes sent after it
	// to be acknowledged through HAProxy and directly; default 3 ttl, which
	// even a (false) failover fits in. It is a bound, not a speed goal.
	Bound time.Duration
	// Timeout bounds every other wait (etcd leader, cluster health,
	// verification); default 90 s.
	Timeout time.Duration
}

// EtcdFaultRun is what one run of an etcd fault did.
type EtcdFaultRun struct {
	Fault EtcdFault
	Plan  EtcdFaultPlan
	// Leader is the pgha leader before the fault, LeaderAfter the one once
	// the cluster was healthy again with the member restarted.
	Leader, LeaderAfter string
	// Timeline and TimelineAfter are the cluster timeline (history key)
	// before and after.
	Timeline, TimelineAfter int64
	// FaultAt is when the member was killed; EtcdLeaderAfter how long the
	// surviving members took to agree on a leader.
	FaultAt         time.Time
	EtcdLeaderAfter time.Duration
	// Bound is the deadline applied; WritesAfter how long after the fault
	// a write sent after it was acknowledged both through HAProxy and
	// directly, and WritesOK whether that happened within Bound.
	Bound       time.Duration
	WritesAfter time.Duration
	WritesOK    bool
	// Until is the end of the observation window [FaultAt, Until] the
	// write gaps are measured over.
	Until time.Time
	// Analysis judges the whole recording (from before the fault until
	// the cluster was healthy again); Verify is the acknowledged writes
	// read back from the final primary.
	Analysis Analysis
	Verify   VerifyResult
	// ProxyErrors and DirectErrors are the writers' failed attempts.
	ProxyErrors, DirectErrors int
}

// RunEtcdFault runs fault f once against the healthy cluster led by
// leader: it starts an [Observer] (the [Recorder], a [StateWatch] and a
// [LeaderWatch]), plans the fault ([Cluster.PlanEtcdFault]), kills the
// member, waits for etcd's survivors to agree on a leader and for writes
// through HAProxy and directly (up to Bound), observes until Observe after
// the fault, restarts the member, waits until the cluster is healthy, and
// then judges the recordings and reads the acknowledged writes back from
// the primary. An error means the run could not be completed (the member is
// restarted in any case); what the fault did is in the result, for the
// caller to judge.
func (c *Cluster) RunEtcdFault(ctx context.Context, leader string, f EtcdFault, o EtcdFaultOptions) (EtcdFaultRun, error) {
	run := EtcdFaultRun{Fault: f, Leader: leader}
	snap, err := c.Snapshot(ctx)
	if err != nil {
		return run, err
	}
	run.Timeline = snap.Timeline()
	ttl := configTTL(snap)
	if o.Observe <= 0 {
		o.Observe = 2 * ttl
	}
	if o.Bound <= 0 {
		o.Bound = 3 * ttl
	}
	if o.Timeout <= 0 {
		o.Timeout = 90 * time.Second
	}
	run.Bound = o.Bound

	obs, err := c.StartObserver(ctx, leader, o.Timeout)
	if err != nil {
		return run, err
	}
	defer obs.Stop()

	pctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if run.Plan, err = c.PlanEtcdFault(pctx, leader, f); err != nil {
		return run, err
	}
	e := c.etcd
	run.FaultAt = time.Now()
	if err := e.Kill(run.Plan.Victim); err != nil {
		return run, err
	}
	restarted := false
	defer func() {
		if !restarted {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_ = e.Restart(rctx, run.Plan.Victim)
		}
	}()
	c.log.Info("localcluster: etcd member killed", "fault", f.String(), "member", run.Plan.Victim)
	if _, err := e.WaitLeader(pctx); err != nil {
		return run, fmt.Errorf("localcluster: etcd has no leader after losing member %d: %w", run.Plan.Victim, err)
	}
	run.EtcdLeaderAfter = time.Since(run.FaultAt)

	_, err = obs.WaitWrites(ctx, "", run.FaultAt, o.Bound)
	run.WritesOK = err == nil
	if run.WritesOK {
		run.WritesAfter = time.Since(run.FaultAt)
	}
	run.Until = run.FaultAt.Add(o.Observe)
	timer := time.NewTimer(time.Until(run.Until))
	select {
	case <-ctx.Done():
		timer.Stop()
		return run, ctx.Err()
	case <-timer.C:
	}

	rctx, rcancel := context.WithTimeout(ctx, o.Timeout)
	defer rcancel()
	if err := e.Restart(rctx, run.Plan.Victim); err != nil {
		return run, err
	}
	restarted = true
	if run.LeaderAfter, err = c.WaitHealthy(rctx); err != nil {
		return run, err
	}
	obs.Stop()
	run.ProxyErrors, run.DirectErrors = obs.Recorder().Errors()
	run.Analysis = obs.Analyze(leader, run.FaultAt, run.Until)
	if run.Verify, err = obs.Verify(rctx); err != nil {
		return run, err
	}
	snap, err = c.Snapshot(ctx)
	if err != nil {
		return run, err
	}
	run.TimelineAfter = snap.Timeline()
	return run, nil
}

// waitRecorded waits until rec has acknowledged writes through HAProxy and
// directly on primary, so that a fault hits writers in full swing.
func (c *Cluster) waitRecorded(ctx context.Context, rec *Recorder, primary string, timeout time.Duration) error {
	return poll(ctx, timeout, 10*time.Millisecond, func() error {
		direct := 0
		for _, a := range rec.DirectAcks() {
			if a.Node == primary {
				direct++
			}
		}
		if p := len(rec.ProxyAcks()); p < 50 || direct < 50 {
			return fmt.Errorf("localcluster: %d writes acknowledged through HAProxy, %d directly by %s", p, direct, primary)
		}
		return nil
	})
}

// configTTL is the ttl in the cluster's config key, pgha's default 6 s
// when unset: what a fault run is timed by.
func configTTL(snap *dcs.Cluster) time.Duration {
	if snap.Config == nil {
		return 6 * time.Second
	}
	return dcs.Seconds(snap.Config.TTL, 6*time.Second)
}
