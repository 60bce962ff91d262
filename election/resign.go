package election

import (
	"context"
	"errors"
	"fmt"

	"github.com/pgha/pgha/dcs"
)

// Resign ends the term locally at once, then deletes the leader key guarded
// by the term, so that a waiting candidate can acquire without waiting for
// the lease to expire. It is retry-safe: the delete only ever removes this
// term's key (a newer holder's key fails the guard, which counts as done),
// and calling Resign again after an error tries the delete again.
//
// When the delete cannot be confirmed (store unreachable, ctx ended), Resign
// still leaves the term ended, stops renewing the lease and revokes it on a
// best-effort basis, so the key disappears within TTL at the latest; the
// candidate then grants itself a new lease (see [Candidate.Lease]) and the
// error, wrapping the cause, is returned. Resign may be called on a term that
// has already ended, to release its key early.
func (t *Term) Resign(ctx context.Context) error {
	c := t.c
	c.mu.Lock()
	c.endTerm(t, ErrResigned)
	if cur := c.term; cur != nil && cur.leader.Revision == t.leader.Revision {
		// The key was adopted by a newer term of this candidate: it is no
		// longer this term's to delete.
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()

	rctx, cancel := c.opts().timeout(ctx)
	err := c.store.Delete(rctx, dcs.KeyLeader, t.Cond())
	cancel()
	if err == nil || errors.Is(err, dcs.ErrConflict) || errors.Is(err, dcs.ErrNotFound) {
		c.log.Info("election: resigned", "revision", t.leader.Revision)
		return nil
	}

	// Unknown outcome: make sure the key dies with the lease.
	c.mu.Lock()
	lease := t.leader.Lease
	abandoned := c.lease == lease
	if abandoned {
		c.dropLease(ErrResigned)
	}
	c.mu.Unlock()
	if abandoned {
		// A fresh context: ctx may be the reason the delete failed.
		rctx, cancel := c.opts().timeout(context.WithoutCancel(ctx))
		if rerr := c.store.Revoke(rctx, lease); rerr != nil {
			c.log.Warn("election: revoke after failed resign", "lease", lease, "err", rerr)
		}
		cancel()
	}
	c.log.Warn("election: resign not confirmed; lease abandoned", "revision", t.leader.Revision, "err", err)
	return fmt.Errorf("election: resign: delete leader key: %w", err)
}
