package election

import (
	"context"
	"errors"
	"fmt"

	"github.com/pgha/pgha/dcs"
)

// TryAcquire makes one attempt to become leader: it creates the leader key
// (value: the bare member name, bound to the candidate's lease) only if it
// is absent. The revision of that create is the term's fencing token. If the
// candidate already leads, its active term is returned.
//
// Errors: [ErrLeaderExists] when someone holds the key, [ErrNoLease] while
// the candidate has no lease it can vouch for, [ErrClosed], or a store error
// (wrapping [dcs.ErrUnavailable] when the outcome is unknown). A key left by
// an earlier attempt of this candidate on its current lease (an answer lost
// in transit, or a term that ended by deadline while the lease survived) is
// adopted rather than waited out. An extended term that lost its lease
// ([Term.Extend]) is not returned: the key is created again on the current
// lease and the new term supersedes it.
func (c *Candidate) TryAcquire(ctx context.Context) (*Term, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	now := c.clk.Now()
	if t := c.term; t != nil {
		if before(now, t.deadline) && !t.detached() {
			c.mu.Unlock()
			return t, nil
		}
		if !before(now, t.deadline) {
			c.endTerm(t, ErrExpired)
		}
	}
	id := c.lease
	if id == 0 || !before(now, c.deadline) {
		c.mu.Unlock()
		return nil, ErrNoLease
	}
	c.mu.Unlock()

	rctx, cancel := c.opts().timeout(ctx)
	rev, err := c.store.Put(rctx, dcs.KeyLeader, []byte(c.name), id, dcs.Cond{Absent: true})
	cancel()
	switch {
	case err == nil:
		return c.newTerm(id, rev)
	case errors.Is(err, dcs.ErrLeaseLost):
		c.mu.Lock()
		if c.lease == id {
			c.dropLease(fmt.Errorf("election: acquire: %w", err))
		}
		c.mu.Unlock()
		return nil, fmt.Errorf("election: acquire: %w", ErrNoLease)
	case !errors.Is(err, dcs.ErrConflict) && !errors.Is(err, dcs.ErrUnavailable):
		return nil, fmt.Errorf("election: acquire: %w", err)
	}
	// Conflict, or unknown outcome: find out who holds the key.
	obs, gerr := current(ctx, c.store, c.opts())
	if gerr != nil {
		return nil, fmt.Errorf("election: acquire: %w (then %w)", err, gerr)
	}
	if l := obs.Leader; l != nil && l.Lease == id && l.Name == c.name {
		c.log.Info("election: adopting leader key held on own lease", "revision", l.Revision)
		return c.newTerm(id, l.Revision)
	}
	if obs.Leader == nil {
		return nil, fmt.Errorf("election: acquire: %w", err) // gone meanwhile: retry
	}
	return nil, fmt.Errorf("%w by %q (token %d)", ErrLeaderExists, obs.Leader.Name, obs.Leader.Revision)
}

// Campaign blocks until the candidate leads, ctx ends, the candidate is
// closed, or the store fails in a way retrying cannot fix (an error wrapping
// neither [dcs.ErrConflict] nor [dcs.ErrUnavailable], such as a permission
// error). Between attempts it waits for the leader key to disappear (a
// watch, see [Observe]), for its own lease to become usable, or for
// RetryInterval to pass, whichever comes first, so a missed event costs at
// most RetryInterval.
func (c *Candidate) Campaign(ctx context.Context) (*Term, error) {
	octx, cancel := context.WithCancel(ctx)
	defer cancel()
	obs := c.Observe(octx)
	timer := c.clk.NewTimer(c.opts().RetryInterval)
	defer timer.Stop()
	for {
		c.mu.Lock()
		changed := c.changed
		c.mu.Unlock()
		t, err := c.TryAcquire(ctx)
		if err == nil {
			return t, nil
		}
		if errors.Is(err, ErrClosed) {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("election: campaign: %w", ctx.Err())
		}
		if !errors.Is(err, dcs.ErrConflict) && !errors.Is(err, dcs.ErrUnavailable) {
			return nil, fmt.Errorf("election: campaign: %w", err) // retrying cannot fix it
		}
		if !errors.Is(err, ErrLeaderExists) {
			c.log.Debug("election: campaign attempt failed", "err", err)
		}
		timer.Reset(c.opts().RetryInterval)
		if c.hookWaiting != nil {
			c.hookWaiting()
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("election: campaign: %w", ctx.Err())
			case <-c.stop:
				return nil, ErrClosed
			case <-changed:
				break wait
			case <-timer.C():
				break wait
			case o, ok := <-obs:
				if !ok {
					obs = nil
					continue
				}
				if o.Leader == nil || (o.Leader.Name == c.name && o.Leader.Lease != 0) {
					break wait
				}
			}
		}
	}
}
