package failover

import (
	"context"
	"fmt"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/election"
	"github.com/pgha/pgha/pg"
)

// handOverPlan is what differs between the two ways a leader hands the lease
// to a replica: on exit (handOverOnExit) and in a switchover (switchover).
type handOverPlan struct {
	// why is the release's reason; stopped the EventDemoted detail.
	why, stopped string
	// flushed is the flush LSN read before the stop: what handOverLSN falls
	// back to.
	flushed int64
	// slow bounds the checkpoint, the stop and reading the shutdown
	// checkpoint (0: the caller's context alone).
	slow time.Duration
	// received asks whether a replica has WAL up to lsn, once; nil when
	// there is no replica to wait for. It is asked every 100 ms for bound.
	received func(ctx context.Context, lsn int64) bool
	bound    time.Duration
	// insist: the lease moves only once a replica confirmed. A switchover
	// insists, and otherwise keeps the term: the old primary restarts in
	// place. On exit the lease moves after bound anyway: the server stays
	// stopped, and the race rules choose among the replicas.
	insist bool
	// staysStopped: the server is not started again (exit), which is
	// also reported as EventStopped (the on-stop hook).
	staysStopped bool
	// replica: the server is the standby leader of a standby cluster. Its
	// stop writes no shutdown checkpoint a candidate must have: every
	// member replays the remote's WAL, and the new standby leader goes on
	// from the remote. So no position is read or awaited (received,
	// flushed and insist are unused), and no status is written (a standby
	// leader publishes none). Nor is the stop an EventDemoted (no primary
	// stops accepting writes): the caller reports the role change once
	// the server follows its new upstream.
	replica bool
}

// handOver moves term t to a replica after this primary stopped cleanly
// (DESIGN §3 invariant 5): CHECKPOINT, fast stop (the replicas connected
// then receive everything up to the shutdown checkpoint before the
// postmaster exits), wait until a replica confirms WAL past the shutdown
// checkpoint (handOverLSN), status optime, resign. Health answers stop
// naming this node leader just before the stop. It returns an error, and
// whether the server was stopped, when the lease must not move: the stop
// is unconfirmed (it may still run as primary), nothing tells what a
// replica needs, or (h.insist) no replica confirmed. The term is then
// dropped but kept (restore takes it back).
func (l *leadership) handOver(ctx context.Context, t *election.Term, h handOverPlan) (stopped bool, err error) {
	sctx, cancel := ctx, context.CancelFunc(func() {})
	if h.slow > 0 {
		sctx, cancel = context.WithTimeout(ctx, h.slow)
	}
	defer cancel()
	if err := l.inst.Checkpoint(sctx); err != nil {
		l.log.Warn("failover: checkpoint before hand-over failed", "err", err)
	}
	if l.hooks.beforeStop != nil {
		l.hooks.beforeStop(sctx)
	}
	l.keep(t) // health: not the leader any more, whatever happens next
	if err := l.inst.Stop(sctx, pg.StopFast); err != nil {
		return false, fmt.Errorf("stop: %w", err)
	}
	if !h.replica {
		l.hooks.event(EventDemoted, h.stopped)
	}
	if h.staysStopped {
		l.hooks.event(EventStopped, h.stopped)
	}
	if !h.replica {
		need, err := l.handOverLSN(sctx, h.flushed)
		if err != nil {
			return true, err
		}
		if h.received != nil && !l.waitReceived(ctx, need, h) && h.insist {
			return true, fmt.Errorf("no replica confirmed WAL past %s within %v", pg.LSN(need-1), h.bound)
		}
		rctx, rcancel := context.WithTimeout(ctx, l.eo.Load().RequestTimeout)
		if _, err := t.Put(rctx, dcs.KeyStatus, (&dcs.Status{Optime: h.flushed}).Encode(), dcs.Cond{}); err != nil {
			l.log.Warn("failover: writing status before hand-over failed", "err", err)
		}
		rcancel()
	}
	l.mu.Lock()
	l.term = t
	l.mu.Unlock()
	if err := l.release(ctx, h.why); err != nil {
		l.log.Warn("failover: resign after hand-over", "why", h.why, "err", err)
	}
	return true, nil
}

// handOverLSN is the position a candidate must have received before the
// lease may move to it after this primary stopped cleanly: just past the
// shutdown checkpoint record's start, read from the control file when the
// Instance is a pg.ControlDataReader (DESIGN §3 invariant 5 by
// construction: a replica that received the shutdown checkpoint has every
// commit before it). Other Instances fall back to the flush LSN read
// before the stop, flushedBefore; that is all they can tell.
func (l *leadership) handOverLSN(ctx context.Context, flushedBefore int64) (int64, error) {
	cr, ok := l.inst.(pg.ControlDataReader)
	if !ok {
		return flushedBefore, nil
	}
	lsn, err := cr.ShutdownCheckpoint(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading the shutdown checkpoint: %w", err)
	}
	return lsn.Int64() + 1, nil
}

// waitReceived asks h.received every 100 ms, for h.bound at most, until a
// replica confirms lsn.
func (l *leadership) waitReceived(ctx context.Context, lsn int64, h handOverPlan) bool {
	deadline := l.clk.Now().Add(h.bound)
	for {
		if h.received(ctx, lsn) {
			return true
		}
		if !l.clk.Now().Before(deadline) || ctx.Err() != nil {
			return false
		}
		tm := l.clk.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			tm.Stop()
			return false
		case <-tm.C():
		}
	}
}

// handOverOnExit runs on exit (ExitHandOver): a leader running a primary
// hands the lease over, waiting a bounded time for any replica to confirm
// its WAL; a leader whose server runs no primary just resigns.
func (c *Controller) handOverOnExit(ctx context.Context) {
	t := c.lead.held()
	if t == nil {
		return
	}
	c.mu.Lock()
	cl, s := c.b.cluster, c.cachedSettings()
	c.mu.Unlock()
	c.log.Info("failover: handing over leadership before exit")
	st, err := c.inst.Status(ctx)
	if err != nil {
		// The server may still run as primary: resigning would let a
		// replica be promoted beside it.
		c.log.Error("failover: hand-over: PostgreSQL status unknown, so its stop cannot be confirmed: not resigning; the lease expires within ttl and a replica takes over only after the term deadline", "err", err)
		return
	}
	if st.State != pg.StateRunning || st.Role != pg.RolePrimary {
		if err := c.lead.release(ctx, "shutdown"); err != nil {
			c.log.Warn("failover: resign on exit", "err", err)
		}
		return
	}
	h := handOverPlan{why: "shutdown", stopped: "stopped for the hand-over on exit", flushed: st.FlushLSN.Int64(),
		bound: max(2*s.LoopWait, 5*s.PeerQueryTimeout), staysStopped: true}
	if cl != nil && len(cl.Members) > 1 {
		h.received = func(ctx context.Context, lsn int64) bool {
			for _, p := range c.queryPeers(ctx, cl, s.PeerQueryTimeout) {
				if p.Running() && p.Received() >= lsn {
					return true
				}
			}
			return false
		}
	}
	if _, err := c.lead.handOver(ctx, t, h); err != nil {
		c.log.Error("failover: hand-over on exit: the old primary's stop, or what a replica needs, is unconfirmed: not resigning; the lease expires within ttl", "err", err)
	}
}

// switchover is the graceful demote: a hand-over to dec.Target, which must
// stream from this primary before it stops and confirm the shutdown
// checkpoint after; then this node follows it. Without confirmation the
// term is kept, the failover key cleared, and the loop restarts the old
// primary in place.
//
// The standby leader of a standby cluster (CodeStandbySwitchover) hands
// over the same way, minus what only protects a primary's last commits:
// it stops, releases the key and follows dec.Target at once. The failover
// key stays, so the race admits dec.Target (or, unnamed, the best member
// but this one) as for a primary; the winner becomes standby leader and
// re-points at the remote, and this node, a replica throughout, is
// never demoted or fenced as a primary would be.
func (c *Controller) switchover(ctx context.Context, obs Observation, dec Decision) error {
	t := c.lead.held()
	if t == nil {
		return errNoTerm
	}
	cl := obs.Cluster
	cctx, cancel := context.WithTimeout(ctx, c.o.StartTimeout)
	defer cancel()
	if dec.Code == CodeStandbySwitchover {
		stopped, err := c.lead.handOver(ctx, t, handOverPlan{
			why: string(dec.Code), stopped: "standby leader stopped for a switchover to " + dec.Target,
			slow: c.o.StartTimeout, replica: true,
		})
		if err != nil {
			c.lead.restore(t) // not stopped: it still runs, and leads
			return fmt.Errorf("failover: standby switchover to %s (stopped %v): %w", dec.Target, stopped, err)
		}
		if err := c.follow(cctx, cl, dec.Target); err != nil {
			return err
		}
		// Patroni's follow after a demote: a role change (standby_leader
		// to replica) fires on_role_change only.
		c.emit(EventFollowing, "replica"+upstreamNote(dec.Target)+" after handing the standby leader role over")
		c.afterHook(c.o.Hooks.OnRoleChange, HookOnRoleChange, dcs.RoleReplica)
		return nil
	}
	if err := c.waitStreaming(cctx, cl, dec.Target, max(2*time.Second, obs.Settings.LoopWait)); err != nil {
		// Stopping now would cost a write outage for nothing: the
		// candidate could not receive the shutdown checkpoint.
		_ = c.clearFailover(ctx, cl)
		return fmt.Errorf("failover: switchover refused before stopping: %w", err)
	}
	m := cl.Member(dec.Target)
	if m == nil || m.APIURL == "" {
		_ = c.clearFailover(ctx, cl)
		return fmt.Errorf("failover: switchover refused before stopping: %s has no API URL to confirm the WAL it received", dec.Target)
	}
	each := obs.Settings.PeerQueryTimeout
	stopped, err := c.lead.handOver(ctx, t, handOverPlan{
		why: string(dec.Code), stopped: "graceful demote for a switchover to " + dec.Target,
		flushed: obs.Local.FlushLSN, slow: c.o.StartTimeout,
		received: func(ctx context.Context, lsn int64) bool {
			p := c.queryPeer(ctx, m, each)
			return !p.Unreachable && p.Received() >= lsn
		},
		bound:  max(2*obs.Settings.LoopWait, 5*each),
		insist: true,
	})
	if err != nil {
		c.lead.restore(t) // the lease must not move
		if !stopped {
			return fmt.Errorf("failover: switchover: %w", err)
		}
		_ = c.clearFailover(ctx, cl)
		c.emit(EventDemoted, "switchover to "+dec.Target+" abandoned: "+err.Error())
		return fmt.Errorf("failover: switchover to %s: %w: keeping the term, the old primary restarts as primary", dec.Target, err)
	}
	return c.follow(cctx, cl, dec.Target)
}

// waitStreaming waits, up to bound, until target streams from this
// primary (a row in pg_stat_replication with its name in state
// "streaming"), so that a switchover never stops the primary while the
// candidate's WAL receiver is reconnecting. A candidate that replicates
// from another member (replicatefrom) is not checked here.
func (c *Controller) waitStreaming(ctx context.Context, cl *dcs.Cluster, target string, bound time.Duration) error {
	if m := cl.Member(target); m != nil {
		if from := m.Tags.String(dcs.TagReplicateFrom); from != "" && from != c.o.Name {
			return nil
		}
	}
	deadline := c.clk.Now().Add(bound)
	state := "absent"
	for {
		st, err := c.inst.Status(ctx)
		if err == nil {
			state = "absent"
			for _, r := range st.Replication {
				if r.ApplicationName == target {
					state = r.State
				}
			}
			if state == "streaming" {
				return nil
			}
		}
		if !c.clk.Now().Before(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s does not stream from this primary (pg_stat_replication: %s) after %v", target, state, bound)
		}
		tm := c.clk.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			tm.Stop()
		case <-tm.C():
		}
	}
}
