package election

import (
	"errors"
	"fmt"
	"time"

	"github.com/pgha/pgha/dcs"
)

// keepAliveLoop grants the candidate's lease and renews it every
// KeepAliveInterval, on its own schedule, whatever callers are doing. A lost
// lease is replaced at once by a new grant. A failed renewal is retried
// after RetryBackoff rather than at the next interval, so the deadline moves
// again within a fraction of a second of the store's recovery (the
// OutageTolerance rule counts on it).
func (c *Candidate) keepAliveLoop() {
	defer c.wg.Done()
	var next time.Time // zero: act now
	failures := 0
	for {
		if !c.sleepUntil(next) || !c.waitThaw() {
			return
		}
		c.mu.Lock()
		id, move, o := c.lease, c.moveTTL, c.o
		c.mu.Unlock()
		sent := c.clk.Now()
		var err error
		switch {
		case id == 0:
			err = c.grant(sent, o)
		case move:
			if err = c.moveLease(id, sent, o); err != nil && !errors.Is(err, dcs.ErrLeaseLost) && !errors.Is(err, errLeaseChanged) {
				// Keep the term on its old lease meanwhile; the move is
				// tried again at the next keepalive.
				c.log.Warn("election: moving to a lease with the new ttl failed", "ttl", o.TTL, "err", err)
				err = c.renew(id, c.clk.Now(), o)
			}
		default:
			err = c.renew(id, sent, o)
		}
		switch {
		case err == nil:
			if failures > 0 {
				c.log.Info("election: lease renewals recovered", "failures", failures)
			}
			failures = 0
			next = sent.Add(o.KeepAliveInterval)
		case errors.Is(err, dcs.ErrLeaseLost), errors.Is(err, errLeaseChanged):
			failures = 0
			next = time.Time{} // grant a new lease now, or renew the one that replaced it
		default:
			failures++
			c.log.Warn("election: lease renewal failed", "lease", id, "failures", failures, "err", err)
			next = sent.Add(o.KeepAliveInterval)
			if retry := c.clk.Now().Add(o.RetryBackoff(failures)); retry.Before(next) {
				next = retry
			}
		}
	}
}

// sleepUntil waits on the clock until t, a kick or Close; false on Close.
func (c *Candidate) sleepUntil(t time.Time) bool {
	select {
	case <-c.stop:
		return false
	default:
	}
	d := t.Sub(c.clk.Now())
	if t.IsZero() || d <= 0 {
		return true
	}
	timer := c.clk.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C():
		return true
	case <-c.kick:
		return true
	case <-c.stop:
		return false
	}
}

// grant obtains a new lease; its deadline counts from sent, the moment the
// request left, because the store starts the TTL no earlier than that.
func (c *Candidate) grant(sent time.Time, o Options) error {
	ctx, cancel := o.timeout(c.ctx)
	defer cancel()
	id, err := c.store.Grant(ctx, o.TTL)
	if err != nil {
		return fmt.Errorf("election: grant lease: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.lease, c.leaseTTL = id, o.TTL
	c.deadline = sent.Add(o.TTL - o.Margin)
	c.capTerm = time.Time{}
	c.moveTTL = c.o.TTL != o.TTL // reconfigured meanwhile
	c.broadcast()
	c.log.Debug("election: lease granted", "lease", id, "ttl", o.TTL)
	return nil
}

// renew sends one keepalive for id and, when it succeeds, moves the lease
// deadline (and the active term's) to sent + TTL - Margin.
func (c *Candidate) renew(id dcs.LeaseID, sent time.Time, o Options) error {
	ctx, cancel := o.timeout(c.ctx)
	defer cancel()
	err := c.store.KeepAlive(ctx, id)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lease != id { // abandoned meanwhile: its answer no longer matters
		return errLeaseChanged
	}
	if err != nil {
		if errors.Is(err, dcs.ErrLeaseLost) {
			c.dropLease(fmt.Errorf("election: keepalive: %w", err))
		}
		return fmt.Errorf("election: keepalive lease %d: %w", id, err)
	}
	now := c.clk.Now()
	restored := !before(now, c.deadline)
	if dl := sent.Add(c.leaseTTL - o.Margin); dl.After(c.deadline) {
		c.deadline = dl
	}
	if t := c.term; t != nil && !t.detached() {
		// A term whose deadline already passed stays ended even though the
		// lease survived: its holder may have stopped acting as leader.
		if before(now, t.deadline) {
			if !t.deadline.After(c.deadline) {
				t.deadline, t.extended = c.deadline, false
			}
			if !c.capTerm.IsZero() && t.deadline.After(c.capTerm) && !t.extended {
				t.deadline = c.capTerm
			}
		} else {
			c.endTerm(t, ErrExpired)
		}
	}
	if restored {
		c.broadcast()
	}
	return nil
}

// moveLease replaces lease old, granted with an earlier TTL, by a lease
// granted with o.TTL, and moves the active term's leader key to it with a
// guarded put: the key keeps its create revision, the term's fencing
// token, and the term's deadline follows the new lease. The caller's own
// keys (the member key) are re-bound by the caller when Lease returns the
// new ID; the old lease is left to expire rather than revoked, so that
// they do not vanish meanwhile.
//
// When the put's outcome is unknown the key may be on either lease: the
// term's deadline is capped at the new lease's until a move succeeds
// (renewals of the old lease do not carry it past that).
func (c *Candidate) moveLease(old dcs.LeaseID, sent time.Time, o Options) error {
	gctx, gcancel := o.timeout(c.ctx)
	id, err := c.store.Grant(gctx, o.TTL)
	gcancel()
	if err != nil {
		return fmt.Errorf("election: grant lease with ttl %v: %w", o.TTL, err)
	}
	deadline := sent.Add(o.TTL - o.Margin)
	c.mu.Lock()
	t := c.term
	if t != nil && (t.err != nil || t.detached() || !before(c.clk.Now(), t.deadline)) {
		t = nil
	}
	var leader dcs.Leader
	if t != nil {
		leader = t.leader
	}
	c.mu.Unlock()
	if t != nil {
		pctx, pcancel := o.timeout(c.ctx)
		_, err := c.store.Put(pctx, dcs.KeyLeader, []byte(c.name), id, dcs.Cond{Leader: &leader})
		pcancel()
		switch {
		case err == nil:
		case errors.Is(err, dcs.ErrConflict):
			c.mu.Lock()
			c.endTerm(t, fmt.Errorf("election: moving the leader key to a new lease: %w", err))
			c.mu.Unlock()
			t = nil
		default:
			c.mu.Lock()
			if c.capTerm.IsZero() || deadline.Before(c.capTerm) {
				c.capTerm = deadline
			}
			if t.deadline.After(deadline) && !t.extended {
				t.deadline = deadline
			}
			c.mu.Unlock()
			return fmt.Errorf("election: moving the leader key to lease %d: %w", id, err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.lease != old {
		return errLeaseChanged // dropped meanwhile: the loop grants afresh
	}
	c.lease, c.deadline, c.leaseTTL = id, deadline, o.TTL
	c.moveTTL = c.o.TTL != o.TTL
	c.capTerm = time.Time{}
	if t != nil && t.err == nil && c.term == t {
		t.leader.Lease = id
		if !t.extended || !t.deadline.After(deadline) {
			t.deadline, t.extended = deadline, false
		}
	}
	c.broadcast()
	c.log.Info("election: moved to a lease with the new ttl", "lease", id, "ttl", o.TTL, "leader_key_moved", t != nil)
	return nil
}

// dropLease forgets the current lease, ends the term bound to it with
// reason, and wakes the loop to grant a new one; c.mu held.
func (c *Candidate) dropLease(reason error) {
	if t := c.term; t != nil && !(t.extended && before(c.clk.Now(), t.deadline)) {
		c.endTerm(t, reason)
	}
	c.lease = 0
	c.deadline = time.Time{}
	c.broadcast()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}
