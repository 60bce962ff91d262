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
		id := c.lease
		c.mu.Unlock()
		sent := c.clk.Now()
		var err error
		if id == 0 {
			err = c.grant(sent)
		} else {
			err = c.renew(id, sent)
		}
		switch {
		case err == nil:
			if failures > 0 {
				c.log.Info("election: lease renewals recovered", "failures", failures)
			}
			failures = 0
			next = sent.Add(c.o.KeepAliveInterval)
		case errors.Is(err, dcs.ErrLeaseLost):
			failures = 0
			next = time.Time{} // grant a new lease now
		default:
			failures++
			c.log.Warn("election: lease renewal failed", "lease", id, "failures", failures, "err", err)
			next = sent.Add(c.o.KeepAliveInterval)
			if retry := c.clk.Now().Add(c.o.RetryBackoff(failures)); retry.Before(next) {
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
func (c *Candidate) grant(sent time.Time) error {
	ctx, cancel := c.o.timeout(c.ctx)
	defer cancel()
	id, err := c.store.Grant(ctx, c.o.TTL)
	if err != nil {
		return fmt.Errorf("election: grant lease: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.lease = id
	c.deadline = sent.Add(c.o.TTL - c.o.Margin)
	c.broadcast()
	c.log.Debug("election: lease granted", "lease", id, "ttl", c.o.TTL)
	return nil
}

// renew sends one keepalive for id and, when it succeeds, moves the lease
// deadline (and the active term's) to sent + TTL - Margin.
func (c *Candidate) renew(id dcs.LeaseID, sent time.Time) error {
	ctx, cancel := c.o.timeout(c.ctx)
	defer cancel()
	err := c.store.KeepAlive(ctx, id)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lease != id { // abandoned meanwhile: its answer no longer matters
		return nil
	}
	if err != nil {
		if errors.Is(err, dcs.ErrLeaseLost) {
			c.dropLease(fmt.Errorf("election: keepalive: %w", err))
		}
		return fmt.Errorf("election: keepalive lease %d: %w", id, err)
	}
	now := c.clk.Now()
	restored := !before(now, c.deadline)
	if dl := sent.Add(c.o.TTL - c.o.Margin); dl.After(c.deadline) {
		c.deadline = dl
	}
	if t := c.term; t != nil && !t.detached() {
		// A term whose deadline already passed stays ended even though the
		// lease survived: its holder may have stopped acting as leader.
		if before(now, t.deadline) {
			if !t.deadline.After(c.deadline) {
				t.deadline, t.extended = c.deadline, false
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
