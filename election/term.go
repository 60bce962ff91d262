package election

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pgha/pgha/dcs"
)

// Term is one tenure as leader: the leader key as created by this candidate
// (name, create revision = fencing token, lease) and a local deadline. The
// holder may act as leader only while [Term.Valid] reports true; Done closes
// when the deadline passes, when the lease is reported lost, when a guarded
// write reports the term gone ([Term.Lost]), on [Term.Resign] and on
// [Candidate.Close]. A term never comes back to life: once ended, a new
// campaign yields a new Term.
type Term struct {
	c        *Candidate
	leader   dcs.Leader
	acquired time.Time
	done     chan struct{}

	// Guarded by c.mu.
	deadline time.Time
	err      error
	// extended: the deadline lies beyond what the lease vouches for
	// (Extend); such a term survives the loss of its lease and a key that
	// is merely gone, until its deadline.
	extended bool
}

// newTerm records a won leader key; the term inherits the lease deadline.
func (c *Candidate) newTerm(id dcs.LeaseID, rev int64) (*Term, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	now := c.clk.Now()
	if t := c.term; t != nil && t.leader.Revision == rev && t.leader.Lease == id && before(now, t.deadline) {
		return t, nil // a concurrent attempt already recorded this key
	}
	if c.lease != id || !before(now, c.deadline) {
		// The key is ours but the lease cannot be vouched for: do not lead.
		// The key expires with the lease, or a later campaign adopts it.
		return nil, ErrNoLease
	}
	t := &Term{
		c:        c,
		leader:   dcs.Leader{Name: c.name, Revision: rev, Lease: id},
		acquired: now,
		done:     make(chan struct{}),
		deadline: c.deadline,
	}
	if old := c.term; old != nil {
		if old.extended && before(now, old.deadline) {
			c.endTerm(old, ErrSuperseded)
		} else {
			c.endTerm(old, ErrExpired)
		}
	}
	c.term = t
	c.wg.Add(1)
	go c.watchDeadline(t)
	c.log.Info("election: became leader", "revision", rev, "lease", id, "deadline_in", t.deadline.Sub(now))
	return t, nil
}

// watchDeadline ends t when its deadline passes on the clock.
func (c *Candidate) watchDeadline(t *Term) {
	defer c.wg.Done()
	c.mu.Lock()
	d := t.deadline.Sub(c.clk.Now())
	c.mu.Unlock()
	timer := c.clk.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-t.done:
			return
		case <-c.stop:
			return
		case <-timer.C():
		}
		if !c.waitThaw() {
			return
		}
		c.mu.Lock()
		now := c.clk.Now()
		if !before(now, t.deadline) {
			c.endTerm(t, ErrExpired)
			c.mu.Unlock()
			return
		}
		d := t.deadline.Sub(now)
		c.mu.Unlock()
		timer.Reset(d)
	}
}

// endTerm ends t with reason; c.mu held. Ending twice keeps the first reason.
func (c *Candidate) endTerm(t *Term, reason error) {
	if t.err != nil {
		return
	}
	now := c.clk.Now()
	t.err = reason
	if now.Before(t.deadline) {
		t.deadline = now
	}
	close(t.done)
	if c.term == t {
		c.term = nil
	}
	c.log.Info("election: term ended", "revision", t.leader.Revision, "reason", reason, "held", now.Sub(t.acquired))
}

// Extend moves the term's local deadline forward to until, beyond what the
// lease vouches for. The holder calls it on evidence of its own that nobody
// else can be elected before until: in failsafe mode, every member that
// could take the key has confirmed it as leader while the store was
// unreachable. It never shortens the deadline, and reports false when the
// term has ended or until is not later than the deadline.
//
// An extended term survives the loss of its lease (the store may have
// expired the lease and deleted the key while unreachable from here) until
// its deadline. A guarded write's conflict ends it only when the leader key
// is seen held by another term; [Candidate.TryAcquire] then creates the key
// again on the candidate's current lease, and the new Term supersedes this
// one (which ends with [ErrSuperseded]). Once keepalives carry the lease
// deadline past the extension, the term is bound to its lease again.
func (t *Term) Extend(until time.Time) bool {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.err != nil || !before(c.clk.Now(), t.deadline) || !until.After(t.deadline) {
		return false
	}
	t.deadline = until
	t.extended = true
	return true
}

// Extended reports whether the term's deadline lies beyond what its lease
// vouches for (see [Term.Extend]).
func (t *Term) Extended() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return t.extended
}

// detached reports an extended term whose lease is no longer the
// candidate's; c.mu held.
func (t *Term) detached() bool {
	return t.extended && t.leader.Lease != t.c.lease
}

// Leader returns the leader key as won: name, create revision, lease.
//
// Its Lease changes when a ttl change moves the key to a new lease
// ([Candidate.Reconfigure]), hence the lock.
func (t *Term) Leader() dcs.Leader {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return t.leader
}

// Token returns the fencing token: the create revision of the leader key.
func (t *Term) Token() int64 { return t.leader.Revision }

// Acquired returns the clock reading taken when the acquisition was confirmed.
func (t *Term) Acquired() time.Time { return t.acquired }

// Deadline returns the instant before which the holder may act as leader.
// It moves forward with each confirmed keepalive while the term is active;
// once the term has ended it is the earlier of the last deadline and the
// moment it ended.
func (t *Term) Deadline() time.Time {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return t.deadline
}

// Valid reports whether the holder may act as leader at now: the term has
// not ended and now is before its deadline. It compares the clock with the
// deadline itself, so it turns false on time even if the goroutine that
// closes Done has not run yet (a stalled process resuming).
func (t *Term) Valid(now time.Time) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return t.err == nil && before(now, t.deadline)
}

// Done is closed when the term ends; Err then says why.
func (t *Term) Done() <-chan struct{} { return t.done }

// Err returns nil while the term is active, else why it ended: [ErrExpired],
// [ErrResigned], [ErrClosed], [ErrSuperseded], or an error wrapping [dcs.ErrLeaseLost] or
// [dcs.ErrConflict].
func (t *Term) Err() error {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return t.err
}

// Context returns a context derived from parent that is cancelled, with
// Err as its cause, when the term ends. Call cancel to release it.
func (t *Term) Context(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	go func() {
		select {
		case <-t.done:
			cancel(t.Err())
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}

// Cond returns the condition that fences a write by this term; combine it
// with other fields when needed.
func (t *Term) Cond() dcs.Cond {
	l := t.Leader()
	return dcs.Cond{Leader: &l}
}

// Lost reports a failed write guarded by this term. When err says the term
// is gone ([dcs.ErrConflict] from a write whose only condition was the term,
// or [dcs.ErrLeaseLost]) the term ends at once and Lost returns true; other
// errors (such as [dcs.ErrUnavailable]) leave it to the deadline. A conflict
// from a write that also had other conditions is ambiguous: use [Term.Put]
// or [Term.Delete], which tell the cases apart.
func (t *Term) Lost(err error) bool {
	if !errors.Is(err, dcs.ErrConflict) && !errors.Is(err, dcs.ErrLeaseLost) {
		return false
	}
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.extended {
		// Its key may just have expired while the store was unreachable:
		// only another holder ends it (checkConflict looks).
		return false
	}
	c.endTerm(t, fmt.Errorf("election: guarded write failed: %w", err))
	return true
}

// Put writes key (not bound to any lease) if the term is still valid and
// cond plus the term guard hold. It refuses locally with [ErrTermEnded] once
// the deadline has passed; a store-side conflict that shows the term gone
// ends the term.
func (t *Term) Put(ctx context.Context, key string, value []byte, cond dcs.Cond) (int64, error) {
	if !t.Valid(t.c.clk.Now()) {
		return 0, ErrTermEnded
	}
	l := t.Leader()
	cond.Leader = &l
	rev, err := t.c.store.Put(ctx, key, value, 0, cond)
	if err != nil {
		t.checkConflict(ctx, cond, err)
		return 0, fmt.Errorf("election: guarded put %q: %w", key, err)
	}
	return rev, nil
}

// Delete removes key if the term is still valid and cond plus the term guard
// hold; see [Term.Put].
func (t *Term) Delete(ctx context.Context, key string, cond dcs.Cond) error {
	if !t.Valid(t.c.clk.Now()) {
		return ErrTermEnded
	}
	l := t.Leader()
	cond.Leader = &l
	if err := t.c.store.Delete(ctx, key, cond); err != nil {
		t.checkConflict(ctx, cond, err)
		return fmt.Errorf("election: guarded delete %q: %w", key, err)
	}
	return nil
}

// checkConflict ends the term when a failed guarded write shows it gone.
func (t *Term) checkConflict(ctx context.Context, cond dcs.Cond, err error) {
	if t.Extended() && (errors.Is(err, dcs.ErrConflict) || errors.Is(err, dcs.ErrLeaseLost)) {
		obs, gerr := current(ctx, t.c.store, t.c.opts())
		if gerr == nil && obs.Leader != nil && (obs.Leader.Name != t.leader.Name || obs.Leader.Revision != t.leader.Revision) {
			t.c.mu.Lock()
			t.c.endTerm(t, fmt.Errorf("election: guarded write failed and %q holds the leader key: %w", obs.Leader.Name, err))
			t.c.mu.Unlock()
		}
		return
	}
	if !errors.Is(err, dcs.ErrConflict) {
		t.Lost(err) // ErrLeaseLost ends it; anything else is left to the deadline
		return
	}
	if !cond.Absent && cond.ModRevision == 0 {
		t.Lost(err) // the term guard was the only condition
		return
	}
	// Another condition may have failed instead: look at the leader key.
	obs, gerr := current(ctx, t.c.store, t.c.opts())
	if gerr != nil {
		return
	}
	if l := obs.Leader; l == nil || l.Name != t.leader.Name || l.Revision != t.leader.Revision {
		t.Lost(err)
	}
}
