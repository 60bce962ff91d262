package failover

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/election"
	"github.com/pgha/pgha/internal/mutation"
	"github.com/pgha/pgha/pg"
)

// setTerm records a won term and starts its guard.
func (c *Controller) setTerm(t *election.Term, dec Decision) {
	c.mu.Lock()
	same := c.b.term == t
	c.b.term, c.b.fencedTerm = t, nil
	if !same {
		c.b.slotsEnsured = map[string]bool{}
		c.sync.newTerm()
		c.b.acquireCode = string(dec.Code)
	}
	ctx := c.runCtx
	c.mu.Unlock()
	if same {
		return
	}
	c.emit(EventAcquired, fmt.Sprintf("leader key revision %d (%s)", t.Token(), dec.Code))
	c.publishState()
	c.wg.Add(1)
	go c.guardTerm(ctx, t)
}

// dropTerm stops claiming the term (health answers non-leader at once)
// without resigning; the guard will not fence it again. It returns the
// dropped term, nil if none was held, for giveUpKey once the server is
// confirmed stopped or demoted.
func (c *Controller) dropTerm() *election.Term {
	c.mu.Lock()
	t := c.b.term
	if t != nil {
		c.b.fencedTerm = t
	}
	c.b.term = nil
	c.mu.Unlock()
	c.publishState()
	return t
}

// giveUpKey resigns a term this node no longer acts on, once its server is
// confirmed not to run as primary: a node that does not run a primary must
// not keep the leader key (DESIGN §3 invariant 7), or replicas would follow
// a key nobody serves and, if one outranks it, wait for it forever. The
// delete is guarded by the term; when the store is unreachable Resign
// abandons the lease, so the key expires within ttl at the latest.
func (c *Controller) giveUpKey(ctx context.Context, t *election.Term, why string) {
	c.disarmFence()
	if t == nil || mutation.On(ctx, mutation.KeepKey) {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*c.eopts().RequestTimeout)
	defer cancel()
	if err := t.Resign(rctx); err != nil {
		c.log.Warn("failover: giving up the leader key: delete not confirmed, the lease was abandoned and expires within ttl; the delete is tried again when the DCS answers", "why", why, "err", err)
		c.mu.Lock()
		c.b.unresigned = t
		c.mu.Unlock()
	} else {
		c.log.Info("failover: gave up the leader key", "why", why)
	}
	c.emit(EventReleased, why)
}

// dropTermKeep is dropTerm for a hand-over that may be undone by
// restoreTerm.
func (c *Controller) dropTermKeep(t *election.Term) {
	c.mu.Lock()
	c.b.term, c.b.fencedTerm = nil, t
	c.mu.Unlock()
	c.publishState()
}

// restoreTerm takes back a term dropped by dropTermKeep if it is still
// valid.
func (c *Controller) restoreTerm(t *election.Term) {
	if !t.Valid(c.clk.Now()) {
		return
	}
	c.mu.Lock()
	c.b.term, c.b.fencedTerm = t, nil
	ctx := c.runCtx
	c.mu.Unlock()
	c.wg.Add(1)
	go c.guardTerm(ctx, t)
}

// fenceAt is when this node stops acting on term t: DemoteLead before its
// deadline. The guard fences then, and health answers stop naming the node
// leader from then on, whatever was published.
func (c *Controller) fenceAt(t *election.Term) time.Time {
	return t.Deadline().Add(-c.o.Settings.DemoteLead)
}

// MaxGuardInterval bounds the period at which a held term's guard re-arms
// the out-of-agent fence and pets the watchdog (half a keepalive interval,
// at most this): a watchdog armed with [WatchdogTimeout] of the shortest
// ttl must be petted well within its timeout whatever the ttl.
const MaxGuardInterval = 500 * time.Millisecond

// WatchdogTimeout is the longest watchdog timeout that resets a frozen
// primary's host before its lease can expire on the DCS, in whole seconds:
// a term's deadline lies at least TTL − Margin − KeepAliveInterval ahead
// right before a renewal, and the device, petted then, must fire before
// it. For the shortest ttl the config key accepts (MinConfigTTL, 4 s) it is
// 2 s, which is safe for any ttl the cluster may switch to while running.
func WatchdogTimeout(e election.Options) time.Duration {
	e = e.WithDefaults()
	return (e.TTL - e.Margin - e.KeepAliveInterval).Truncate(time.Second)
}

// guardTerm makes the node stop acting as primary before its term's
// deadline, whatever the loop is doing (it may be blocked on a slow
// PostgreSQL or DCS call): at deadline − DemoteLead, or when the term
// ends earlier, it fences. While the term is held it also keeps the
// Instance's out-of-agent fence (pg.DeadlineFencer) armed at the deadline
// itself, re-armed every half keepalive interval, so a frozen or dead
// agent's primary is stopped before the lease can expire.
func (c *Controller) guardTerm(ctx context.Context, t *election.Term) {
	defer c.wg.Done()
	lead := c.o.Settings.DemoteLead
	rearm := max(min(c.eopts().KeepAliveInterval/2, MaxGuardInterval), 10*time.Millisecond)
	timer := c.clk.NewTimer(time.Hour)
	defer timer.Stop()
	noFence := mutation.On(ctx, mutation.NoOutOfAgentFence)
	for {
		if errors.Is(t.Err(), election.ErrSuperseded) {
			// A new term of this node took over (failsafe mode: the key
			// was taken again); its own guard runs. The ended term's
			// deadline is the moment it ended, which must not read as
			// "the deadline is near": that would fence the new term's
			// primary.
			return
		}
		if !noFence {
			c.armFence(t)
		}
		if !c.guardWatchdog(t) {
			c.fence(ctx, t, "watchdog.mode is required and the watchdog could not be armed")
			return
		}
		d := c.fenceAt(t).Sub(c.clk.Now())
		if d <= 0 {
			c.fence(ctx, t, fmt.Sprintf("term deadline %s is within demote_lead %v and the lease was not renewed",
				t.Deadline().Format(time.RFC3339Nano), lead))
			return
		}
		timer.Reset(min(d, rearm))
		select {
		case <-ctx.Done():
			return
		case <-t.Done():
			if errors.Is(t.Err(), election.ErrSuperseded) {
				// A new term of this node took over (failsafe mode: the
				// key was taken again); its own guard runs.
				return
			}
			c.fence(ctx, t, fmt.Sprintf("term ended: %v", t.Err()))
			return
		case <-timer.C():
		}
	}
}

// armFence arms the out-of-agent fence with t's deadline while t is the
// term this node acts on.
func (c *Controller) armFence(t *election.Term) {
	f, ok := c.inst.(pg.DeadlineFencer)
	if !ok {
		return
	}
	c.mu.Lock()
	current := c.b.term == t
	c.mu.Unlock()
	if !current || !t.Valid(c.clk.Now()) {
		return
	}
	if err := f.ArmFence(t.Deadline()); err != nil {
		if errors.Is(err, pg.ErrFenceKeeperDisabled) {
			return
		}
		c.log.Error("failover: arming the out-of-agent fence failed: a frozen or dead agent would leave this primary writable", "err", err)
	}
}

// disarmFence cancels the out-of-agent fence once the server is confirmed
// not to run as primary.
func (c *Controller) disarmFence() {
	c.disableWatchdog()
	if f, ok := c.inst.(pg.DeadlineFencer); ok {
		if err := f.DisarmFence(); err != nil {
			c.log.Warn("failover: disarming the out-of-agent fence failed", "err", err)
		}
	}
}

// fence stops this node from acting as primary for term t: health answers
// non-leader at once, then the server is stopped immediately — through
// pg.Fencer when the Instance has it (it never waits behind another
// PostgreSQL operation), else by demoting a running primary to a replica
// without upstream — and the key is given up; the loop then decides whom to
// follow.
func (c *Controller) fence(ctx context.Context, t *election.Term, why string) {
	c.mu.Lock()
	if c.b.fencedTerm == t {
		c.mu.Unlock()
		return
	}
	c.b.fencedTerm = t
	if c.b.term == t {
		c.b.term = nil
	}
	c.mu.Unlock()
	c.publishState()
	c.emit(EventFenced, why)
	c.log.Warn("failover: fencing: no longer acting as leader", "why", why)
	sctx, cancel := context.WithTimeout(ctx, c.o.StartTimeout)
	defer cancel()
	if f, ok := c.inst.(pg.Fencer); ok {
		// Signals the postmaster directly: never waits behind a slow
		// CHECKPOINT, status query or sync change the loop is running.
		if err := f.Fence(sctx); err != nil {
			c.log.Error("failover: fencing: immediate stop failed: keeping the leader key so that nobody else is promoted while it may still run as primary", "err", err)
			c.poke()
			return
		}
		c.mu.Lock()
		c.b.mem = c.b.mem.followed("")
		c.mu.Unlock()
		c.emit(EventDemoted, "fenced: "+why)
		c.giveUpKey(ctx, t, "fenced: "+why)
		c.poke()
		return
	}
	st, err := c.inst.Status(sctx)
	stopped := st.State != pg.StateRunning && err == nil
	if st.State == pg.StateRunning && (err != nil || st.Role == pg.RolePrimary) {
		if err := c.inst.Demote(sctx, pg.StopImmediate, pg.FollowConfig{}); err != nil {
			c.log.Error("failover: fencing: demoting PostgreSQL failed: keeping the leader key so that nobody else is promoted while it may still run as primary", "err", err)
		} else {
			stopped = true
		}
		c.mu.Lock()
		c.b.mem = c.b.mem.followed("")
		c.mu.Unlock()
		c.emit(EventDemoted, "fenced: "+why)
	} else if err == nil && st.Role != pg.RolePrimary {
		stopped = true
	}
	if stopped {
		c.giveUpKey(ctx, t, "fenced: "+why)
	}
	c.poke()
}

// handOver runs on exit (ExitHandOver): a leader running a primary stops
// it cleanly, waits (bounded) until a replica has the WAL it had flushed,
// records it in status, and resigns, so a replica takes over at once.
func (c *Controller) handOver(ctx context.Context) {
	c.mu.Lock()
	t := c.b.term
	cl := c.b.cluster
	s := c.o.Settings
	c.mu.Unlock()
	if t == nil || !t.Valid(c.clk.Now()) {
		return
	}
	c.log.Info("failover: handing over leadership before exit")
	st, err := c.inst.Status(ctx)
	if err != nil {
		// The server may still run as primary: resigning would let a
		// replica be promoted beside it.
		c.log.Error("failover: hand-over: PostgreSQL status unknown, so its stop cannot be confirmed: not resigning; the lease expires within ttl and a replica takes over only after the term deadline", "err", err)
		return
	}
	if st.State == pg.StateRunning && st.Role == pg.RolePrimary {
		pre := st.FlushLSN.Int64()
		c.dropTermKeep(t)
		if err := c.inst.Checkpoint(ctx); err != nil {
			c.log.Warn("failover: checkpoint before hand-over failed", "err", err)
		}
		if err := c.inst.Stop(ctx, pg.StopFast); err != nil {
			c.log.Error("failover: hand-over: stopping PostgreSQL failed, so the old primary may still run: not resigning; the lease expires within ttl", "err", err)
			return
		}
		c.emit(EventDemoted, "stopped for the hand-over on exit")
		need, err := c.handOverLSN(ctx, pre)
		if err != nil {
			c.log.Error("failover: hand-over: cannot tell what a replica needs, so not resigning; the lease expires within ttl", "err", err)
			return
		}
		if cl != nil && len(cl.Members) > 1 {
			bound := max(2*s.LoopWait, 5*s.PeerQueryTimeout)
			deadline := c.clk.Now().Add(bound)
			for c.clk.Now().Before(deadline) && ctx.Err() == nil && !c.anyReceived(ctx, cl, need, s.PeerQueryTimeout) {
				tm := c.clk.NewTimer(100 * time.Millisecond)
				<-tm.C()
			}
		}
		rctx, cancel := context.WithTimeout(ctx, c.eopts().RequestTimeout)
		if _, err := t.Put(rctx, dcs.KeyStatus, (&dcs.Status{Optime: pre}).Encode(), dcs.Cond{}); err != nil {
			c.log.Warn("failover: writing status before hand-over failed", "err", err)
		}
		cancel()
	}
	c.mu.Lock()
	c.b.term = t
	c.mu.Unlock()
	if err := c.release(ctx, "shutdown"); err != nil {
		c.log.Warn("failover: resign on exit", "err", err)
	}
}

// anyReceived reports whether some running peer has WAL up to lsn.
func (c *Controller) anyReceived(ctx context.Context, cl *dcs.Cluster, lsn int64, each time.Duration) bool {
	for _, p := range c.queryPeers(ctx, cl, each) {
		if p.Running() && p.Received() >= lsn {
			return true
		}
	}
	return false
}

// retryResign deletes the leader key of a term given up while the DCS was
// unreachable, once a snapshot shows it still there: otherwise it would
// stay until its abandoned lease expired (etcd extends every lease when
// its quorum returns), and the race would wait for it.
func (c *Controller) retryResign(ctx context.Context, cl *dcs.Cluster) {
	c.mu.Lock()
	t := c.b.unresigned
	c.mu.Unlock()
	if t == nil || cl == nil {
		return
	}
	if l := cl.Leader; l == nil || l.Name != c.o.Name || l.Revision != t.Token() {
		c.mu.Lock()
		c.b.unresigned = nil
		c.mu.Unlock()
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 2*c.eopts().RequestTimeout)
	defer cancel()
	if err := t.Resign(rctx); err != nil {
		c.log.Warn("failover: deleting the leader key of a term given up failed again", "revision", t.Token(), "err", err)
		return
	}
	c.log.Info("failover: deleted the leader key of a term given up while the DCS was unreachable", "revision", t.Token())
	c.mu.Lock()
	c.b.unresigned = nil
	c.mu.Unlock()
}
