package failover

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pgha/pgha/election"
	"github.com/pgha/pgha/internal/mutation"
	"github.com/pgha/pgha/pg"
)

// fenceAt is when this node stops acting on term t: DemoteLead before its
// deadline. The guard fences then, and health answers stop naming the node
// leader from then on, whatever was published.
func (l *leadership) fenceAt(t *election.Term) time.Time {
	return t.Deadline().Add(-l.demoteLead)
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

// guard makes the node stop acting as primary before its term's
// deadline, whatever the loop is doing (it may be blocked on a slow
// PostgreSQL or DCS call): at deadline − DemoteLead, or when the term
// ends earlier, it fences. While the term is held it also keeps the
// Instance's out-of-agent fence (pg.DeadlineFencer) armed at the deadline
// itself, re-armed every half keepalive interval, so a frozen or dead
// agent's primary is stopped before the lease can expire.
func (l *leadership) guard(ctx context.Context, t *election.Term) {
	defer l.wg.Done()
	rearm := max(min(l.eo.Load().KeepAliveInterval/2, MaxGuardInterval), 10*time.Millisecond)
	timer := l.clk.NewTimer(time.Hour)
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
			l.armFence(t)
		}
		if !l.guardWatchdog(t) {
			l.fence(ctx, t, "watchdog.mode is required and the watchdog could not be armed")
			return
		}
		d := l.fenceAt(t).Sub(l.clk.Now())
		if d <= 0 {
			l.fence(ctx, t, fmt.Sprintf("term deadline %s is within demote_lead %v and the lease was not renewed",
				t.Deadline().Format(time.RFC3339Nano), l.demoteLead))
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
			l.fence(ctx, t, fmt.Sprintf("term ended: %v", t.Err()))
			return
		case <-timer.C():
		}
	}
}

// armFence arms the out-of-agent fence with t's deadline while t is the
// term this node acts on.
func (l *leadership) armFence(t *election.Term) {
	f, ok := l.inst.(pg.DeadlineFencer)
	if !ok {
		return
	}
	if l.current() != t || !t.Valid(l.clk.Now()) {
		return
	}
	if err := f.ArmFence(t.Deadline()); err != nil {
		if errors.Is(err, pg.ErrFenceKeeperDisabled) {
			return
		}
		l.log.Error("failover: arming the out-of-agent fence failed: a frozen or dead agent would leave this primary writable", "err", err)
	}
}

// disarmFence cancels the out-of-agent fence once the server is confirmed
// not to run as primary.
func (l *leadership) disarmFence() {
	l.disableWatchdog()
	if f, ok := l.inst.(pg.DeadlineFencer); ok {
		if err := f.DisarmFence(); err != nil {
			l.log.Warn("failover: disarming the out-of-agent fence failed", "err", err)
		}
	}
}

// fence stops this node from acting as primary for term t: health answers
// non-leader at once, then the server is stopped immediately — through
// pg.Fencer when the Instance has it (it never waits behind another
// PostgreSQL operation), else by demoting a running primary to a replica
// without upstream — and the key is given up; the loop then decides whom to
// follow.
func (l *leadership) fence(ctx context.Context, t *election.Term, why string) {
	l.mu.Lock()
	if l.fenced == t {
		l.mu.Unlock()
		return
	}
	l.fenced = t
	if l.term == t {
		l.term = nil
	}
	l.mu.Unlock()
	l.hooks.changed()
	l.hooks.event(EventFenced, why)
	l.log.Warn("failover: fencing: no longer acting as leader", "why", why)
	sctx, cancel := context.WithTimeout(ctx, l.startTimeout)
	defer cancel()
	if f, ok := l.inst.(pg.Fencer); ok {
		// Signals the postmaster directly: never waits behind a slow
		// CHECKPOINT, status query or sync change the loop is running.
		if err := f.Fence(sctx); err != nil {
			l.log.Error("failover: fencing: immediate stop failed: keeping the leader key so that nobody else is promoted while it may still run as primary", "err", err)
			l.hooks.wake()
			return
		}
		l.hooks.unfollowed()
		l.hooks.event(EventDemoted, "fenced: "+why)
		l.giveUpKey(ctx, t, "fenced: "+why)
		l.hooks.wake()
		return
	}
	st, err := l.inst.Status(sctx)
	stopped := st.State != pg.StateRunning && err == nil
	if st.State == pg.StateRunning && (err != nil || st.Role == pg.RolePrimary) {
		if err := l.inst.Demote(sctx, pg.StopImmediate, pg.FollowConfig{}); err != nil {
			l.log.Error("failover: fencing: demoting PostgreSQL failed: keeping the leader key so that nobody else is promoted while it may still run as primary", "err", err)
		} else {
			stopped = true
		}
		l.hooks.unfollowed()
		l.hooks.event(EventDemoted, "fenced: "+why)
	} else if err == nil && st.Role != pg.RolePrimary {
		stopped = true
	}
	if stopped {
		l.giveUpKey(ctx, t, "fenced: "+why)
	}
	l.hooks.wake()
}
