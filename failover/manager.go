package failover

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/pg"
)

// This file implements healthapi.Manager. Switchover and failover write
// the failover key as Patroni does and wait for the loops of the cluster
// to carry it out; restart, reload and reinitialize act on the local
// PostgreSQL between two cycles; config reads and writes the config key.

// readCluster reads the DCS once.
func (c *Controller) readCluster(ctx context.Context) (*dcs.Cluster, error) {
	rctx, cancel := context.WithTimeout(ctx, c.eopts().RequestTimeout)
	defer cancel()
	snap, err := c.store.Get(rctx)
	if err != nil {
		return nil, fmt.Errorf("failover: read the DCS: %w", err)
	}
	return dcs.Parse(snap), nil
}

// switchoverTimeout is how long a switchover or failover request waits.
func (c *Controller) switchoverTimeout() time.Duration {
	if c.o.SwitchoverTimeout > 0 {
		return c.o.SwitchoverTimeout
	}
	return 2 * max(10*time.Second, c.o.Settings.LoopWait)
}

// Switchover writes {"leader", "member", "scheduled_at"} to the failover
// key and, unless scheduled, waits until the leader key moved away from
// req.Leader (to req.Candidate when named).
func (c *Controller) Switchover(ctx context.Context, req healthapi.SwitchoverRequest) (healthapi.Result, error) {
	cl, err := c.readCluster(ctx)
	if err != nil {
		return healthapi.Result{}, err
	}
	switch {
	case cl.Leader == nil:
		return healthapi.Result{}, healthapi.Reject(healthapi.ErrNotPossible, "Switchover is not possible: cluster has no leader")
	case req.Leader != "" && req.Leader != cl.Leader.Name:
		return healthapi.Result{}, healthapi.Reject(healthapi.ErrNotPossible, "leader name does not match")
	case req.Candidate != "" && cl.Member(req.Candidate) == nil:
		return healthapi.Result{}, healthapi.Reject(healthapi.ErrNotPossible, "candidate name does not match with any member: %s", req.Candidate)
	}
	if why := syncRefusal(c.settingsOf(cl), cl, req.Candidate, "Switchover"); why != "" {
		return healthapi.Result{}, healthapi.Reject(healthapi.ErrNotPossible, "%s", why)
	}
	f := &dcs.Failover{Leader: cl.Leader.Name, Member: req.Candidate, ScheduledAt: req.ScheduledAt}
	if err := c.writeFailover(ctx, f); err != nil {
		return healthapi.Result{}, err
	}
	if req.ScheduledAt != nil {
		return healthapi.Result{Scheduled: true, Message: "Switchover scheduled"}, nil
	}
	return c.waitNewLeader(ctx, cl.Leader.Name, req.Candidate, "switched over")
}

// Failover writes {"member": candidate} to the failover key and waits
// until the candidate holds the leader key. In synchronous mode a
// candidate that is not a synchronous standby is refused unless
// req.AllowDataLoss is set: the failover key then carries
// {"allow_data_loss": true}, and the candidate may be promoted although it
// may lack acknowledged commits (nor, in quorum mode, can it prove it holds
// them all). Those commits are lost; the decision and the logs say so. The
// other rules (nofailover, timeline, health) still apply.
func (c *Controller) Failover(ctx context.Context, req healthapi.FailoverRequest) (healthapi.Result, error) {
	allowLoss := req.AllowDataLoss
	if req.Candidate == "" {
		return healthapi.Result{}, healthapi.Reject(healthapi.ErrInvalid, "Failover could be performed only to a specific candidate")
	}
	cl, err := c.readCluster(ctx)
	if err != nil {
		return healthapi.Result{}, err
	}
	if cl.Member(req.Candidate) == nil {
		return healthapi.Result{}, healthapi.Reject(healthapi.ErrNotPossible, "candidate name does not match with any member: %s", req.Candidate)
	}
	old := ""
	if cl.Leader != nil {
		if cl.Leader.Name == req.Candidate {
			return healthapi.Result{}, healthapi.Reject(healthapi.ErrNotPossible, "Member %s is already the leader of cluster", req.Candidate)
		}
		old = cl.Leader.Name
	}
	f := &dcs.Failover{Member: req.Candidate}
	if why := syncRefusal(c.settingsOf(cl), cl, req.Candidate, "Failover"); why != "" {
		if !allowLoss {
			return healthapi.Result{}, healthapi.Reject(healthapi.ErrNotPossible, "%s", why)
		}
		c.log.Warn("failover: manual failover to a non-synchronous member with allow_data_loss: acknowledged commits may be lost", "candidate", req.Candidate)
		f.Extra = map[string]json.RawMessage{AllowDataLossKey: json.RawMessage("true")}
	}
	if err := c.writeFailover(ctx, f); err != nil {
		return healthapi.Result{}, err
	}
	return c.waitNewLeader(ctx, old, req.Candidate, "failed over")
}

func (c *Controller) writeFailover(ctx context.Context, f *dcs.Failover) error {
	rctx, cancel := context.WithTimeout(ctx, c.eopts().RequestTimeout)
	defer cancel()
	if _, err := c.store.Put(rctx, dcs.KeyFailover, f.Encode(), 0, dcs.Cond{}); err != nil {
		return fmt.Errorf("failover: write the failover key: %w", err)
	}
	c.log.Info("failover: failover key written", "leader", f.Leader, "member", f.Member)
	c.poke()
	return nil
}

// waitNewLeader polls the DCS until a leader other than old (candidate,
// when named) holds the key, the failover key is cleared without that
// (refused), or the timeout passes.
func (c *Controller) waitNewLeader(ctx context.Context, old, candidate, verb string) (healthapi.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, c.switchoverTimeout())
	defer cancel()
	for {
		cl, err := c.readCluster(ctx)
		if err == nil {
			if l := cl.Leader; l != nil && l.Name != old && (candidate == "" || l.Name == candidate) {
				return healthapi.Result{Message: fmt.Sprintf("Successfully %s to %q", verb, l.Name)}, nil
			}
			if cl.Failover.IsZero() && cl.Leader != nil {
				return healthapi.Result{}, fmt.Errorf("%s failed: the request was refused or cleared, %s is still the leader", verb, cl.Leader.Name)
			}
		}
		t := c.clk.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return healthapi.Result{}, fmt.Errorf("%s: no outcome within %v: %w", verb, c.switchoverTimeout(), ctx.Err())
		case <-t.C():
		}
	}
}

// CancelSwitchover deletes a scheduled switchover.
func (c *Controller) CancelSwitchover(ctx context.Context) error {
	cl, err := c.readCluster(ctx)
	if err != nil {
		return err
	}
	if cl.Failover == nil || cl.Failover.ScheduledAt == nil {
		return healthapi.Reject(healthapi.ErrNotFound, "no switchover is scheduled")
	}
	rctx, cancel := context.WithTimeout(ctx, c.eopts().RequestTimeout)
	defer cancel()
	if err := c.store.Delete(rctx, dcs.KeyFailover, dcs.Cond{ModRevision: cl.FailoverRevision}); err != nil {
		return fmt.Errorf("failover: cancel switchover: %w", err)
	}
	return nil
}

// Restart restarts PostgreSQL now (fast stop), or records a scheduled
// restart that the loop runs at its time (see runScheduledRestart).
func (c *Controller) Restart(ctx context.Context, req healthapi.RestartRequest) (healthapi.Result, error) {
	if req.Schedule != nil {
		return c.scheduleRestart(req)
	}
	// A cycle may be acting: wait for it, bounded by ctx.
	if err := lockCtx(ctx, &c.opMu); err != nil {
		return healthapi.Result{}, healthapi.Reject(healthapi.ErrConflict, "restart: the HA loop is busy")
	}
	defer c.opMu.Unlock()
	if err := c.restartLocked(ctx); err != nil {
		return healthapi.Result{}, err
	}
	return healthapi.Result{Message: "restarted successfully"}, nil
}

// restartLocked restarts PostgreSQL with a fast stop, out of the
// synchronous set meanwhile; c.opMu held.
func (c *Controller) restartLocked(ctx context.Context) error {
	defer c.leaveSync(ctx)()
	c.beforeStop(ctx)
	if err := c.inst.Restart(ctx, pg.StopFast); err != nil {
		return fmt.Errorf("restart failed: %w", err)
	}
	c.emit(EventRestarted, "fast stop and start")
	c.poke()
	return nil
}

// CancelRestart cancels the scheduled restart (DELETE /restart).
func (c *Controller) CancelRestart(context.Context) error {
	return c.cancelScheduledRestart()
}

// Reload makes PostgreSQL re-read its configuration.
func (c *Controller) Reload(ctx context.Context) error {
	if err := c.inst.Reload(ctx); err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	c.emit(EventReloaded, "reload requested")
	c.poke()
	return nil
}

// Reinitialize wipes this replica's data directory; the loop then clones
// it again: from the leader when req.FromLeader is set (Patroni's
// from_leader, `reinit --from-leader`), otherwise from the usual source (a
// running clonefrom member, else the leader). Either way the configured
// replica-creation methods are used.
func (c *Controller) Reinitialize(ctx context.Context, req healthapi.ReinitializeRequest) error {
	if c.lead.held() != nil {
		return healthapi.Reject(healthapi.ErrNotPossible, "I am the leader, can not reinitialize")
	}
	cl, err := c.readCluster(ctx)
	if err != nil {
		return err
	}
	if cl.Leader == nil {
		return healthapi.Reject(healthapi.ErrNotPossible, "Cluster has no leader, can not reinitialize")
	}
	if cl.Leader.Name == c.o.Name {
		return healthapi.Reject(healthapi.ErrNotPossible, "I am the leader, can not reinitialize")
	}
	if err := lockCtx(ctx, &c.opMu); err != nil {
		return healthapi.Reject(healthapi.ErrConflict, "reinitialize: the HA loop is busy")
	}
	defer c.opMu.Unlock()
	defer c.leaveSync(ctx)()
	if err := c.inst.Stop(ctx, pg.StopImmediate); err != nil {
		return fmt.Errorf("reinitialize: stop: %w", err)
	}
	if err := c.inst.RemoveData(ctx); err != nil {
		return fmt.Errorf("reinitialize: %w", err)
	}
	c.mu.Lock()
	c.b.mem = c.b.mem.wiped(req.FromLeader)
	c.mu.Unlock()
	c.log.Info("failover: data directory wiped for reinitialize", "from_leader", req.FromLeader)
	c.poke()
	return nil
}

// ReadConfig returns the config key as stored.
func (c *Controller) ReadConfig(ctx context.Context) (healthapi.ConfigValue, error) {
	rctx, cancel := context.WithTimeout(ctx, c.eopts().RequestTimeout)
	defer cancel()
	snap, err := c.store.Get(rctx)
	if err != nil {
		return healthapi.ConfigValue{}, fmt.Errorf("failover: read config: %w", err)
	}
	for _, kv := range snap.KVs {
		if kv.Key == dcs.KeyConfig {
			return healthapi.ConfigValue{Data: kv.Value, ModRevision: kv.ModRevision}, nil
		}
	}
	return healthapi.ConfigValue{}, fmt.Errorf("failover: config: %w", dcs.ErrNotFound)
}

// WriteConfig stores the config key, compare-and-swap on ifModRevision
// when it is positive.
func (c *Controller) WriteConfig(ctx context.Context, data []byte, ifModRevision int64) error {
	if _, err := dcs.DecodeConfig(data); err != nil {
		return healthapi.Reject(healthapi.ErrInvalid, "invalid config: %v", err)
	}
	rctx, cancel := context.WithTimeout(ctx, c.eopts().RequestTimeout)
	defer cancel()
	if _, err := c.store.Put(rctx, dcs.KeyConfig, data, 0, dcs.Cond{ModRevision: max(ifModRevision, 0)}); err != nil {
		return fmt.Errorf("failover: write config: %w", err)
	}
	c.poke()
	return nil
}

// leaveSync drops this replica from synchronous duty before its server
// stops (syncRep.leave), judged on the last cluster view; the returned
// func puts it back.
func (c *Controller) leaveSync(ctx context.Context) (resume func()) {
	c.mu.Lock()
	cl, s := c.b.cluster, c.cachedSettings()
	c.mu.Unlock()
	c.sync.leave(ctx, cl, s, c.publishMember)
	return func() {
		c.sync.resume()
		c.poke()
	}
}

// lockCtx locks mu, giving up when ctx ends first.
func lockCtx(ctx context.Context, mu interface {
	TryLock() bool
	Unlock()
}) error {
	for !mu.TryLock() {
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
