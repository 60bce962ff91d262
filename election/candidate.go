package election

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pgha/pgha/clock"
	"github.com/pgha/pgha/dcs"
)

// Candidate is one member taking part in the election. It owns one lease
// (granted and kept alive by its own goroutine from [New] until [Candidate.Close]),
// to which the leader key is bound when it wins and to which the caller binds
// the member key (see [Candidate.Lease]). At most one [Term] is active at a
// time. A Candidate is safe for concurrent use.
type Candidate struct {
	store dcs.Store
	name  string
	clk   clock.Clock
	log   *slog.Logger

	mu       sync.Mutex
	o        Options     // timings; Reconfigure changes them
	moveTTL  bool        // the TTL changed: move to a lease granted with it
	lease    dcs.LeaseID // 0: none
	leaseTTL time.Duration
	// capTerm, when set, bounds the term's deadline: a move of the leader
	// key to a new lease had an unknown outcome, so the key may expire
	// with that lease.
	capTerm  time.Time
	deadline time.Time // local deadline of lease
	term     *Term     // active term, or nil
	changed  chan struct{}
	frozen   chan struct{} // test hook: non-nil while frozen
	closed   bool

	kick      chan struct{} // wakes the keepalive loop (lease dropped)
	stop      chan struct{}
	ctx       context.Context // ends on Close: bounds background store calls
	cancel    context.CancelFunc
	closeOnce sync.Once
	wg        sync.WaitGroup

	// hookWaiting, when set by a test before campaigning, is called each
	// time Campaign starts waiting after a failed attempt.
	hookWaiting func()
}

// New validates name and opts and returns a candidate that starts granting
// and renewing its lease at once, in the background. It does not campaign.
func New(store dcs.Store, name string, opts Options) (*Candidate, error) {
	if store == nil {
		return nil, fmt.Errorf("election: nil store")
	}
	if err := dcs.ValidateName(name); err != nil {
		return nil, fmt.Errorf("election: candidate name: %w", err)
	}
	o, err := opts.normalize()
	if err != nil {
		return nil, err
	}
	c := &Candidate{
		store:   store,
		name:    name,
		o:       o,
		clk:     o.Clock,
		log:     o.Logger.With("member", name),
		changed: make(chan struct{}),
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Add(1)
	go c.keepAliveLoop()
	return c, nil
}

// Name returns the member name the candidate campaigns with.
func (c *Candidate) Name() string { return c.name }

// Options returns the effective options (defaults filled in).
func (c *Candidate) Options() Options { return c.opts() }

// Reconfigure changes the candidate's timings to o, with defaults filled
// in and checked as by [New]; the candidate's Clock and Logger stay. A
// changed TTL moves the candidate to a new lease granted with it, in the
// background at the next keepalive: the active term's leader key is moved
// with a guarded put that keeps its create revision (the fencing token),
// and the term's deadline follows the new lease. Callers re-bind their own
// keys when [Candidate.Lease] returns the new ID; the old lease is left to
// expire. Until the move succeeds the old lease is renewed as before.
func (c *Candidate) Reconfigure(o Options) error {
	c.mu.Lock()
	o.Clock, o.Logger = c.o.Clock, c.o.Logger
	c.mu.Unlock()
	o, err := o.normalize()
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	changed := o.TTL != c.o.TTL
	c.o = o
	if changed && c.lease != 0 {
		c.moveTTL = c.leaseTTL != o.TTL
	}
	c.mu.Unlock()
	if changed {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// opts returns the current options; they change on Reconfigure.
func (c *Candidate) opts() Options {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.o
}

// Lease waits until the candidate holds a lease whose local deadline has not
// passed and returns its ID. The caller binds the member key to it. The ID
// changes when the lease is lost or abandoned (see [Term.Resign]); keys bound
// to the old one disappear with it, so callers compare the ID on every loop
// and re-create their keys when it changes.
func (c *Candidate) Lease(ctx context.Context) (dcs.LeaseID, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return 0, ErrClosed
		}
		if c.lease != 0 && before(c.clk.Now(), c.deadline) {
			id := c.lease
			c.mu.Unlock()
			return id, nil
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-c.stop:
			return 0, ErrClosed
		case <-ctx.Done():
			return 0, fmt.Errorf("election: waiting for a lease: %w", ctx.Err())
		}
	}
}

// LeaseDeadline returns the local deadline of the candidate's lease (the
// deadline a term won now would start with), or the zero time when it
// holds none.
func (c *Candidate) LeaseDeadline() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lease == 0 {
		return time.Time{}
	}
	return c.deadline
}

// Term returns the active term, or nil when the candidate does not lead
// at this instant of its clock. A returned term may end at any moment;
// check [Term.Valid] before each use.
func (c *Candidate) Term() *Term {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.term; t != nil && before(c.clk.Now(), t.deadline) {
		return t
	}
	return nil
}

// Close stops the keepalive loop and ends the active term with [ErrClosed].
// It makes no store call: the lease, and the keys bound to it, expire within
// TTL. For a quick hand-over call [Term.Resign] first.
func (c *Candidate) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		if c.term != nil {
			c.endTerm(c.term, ErrClosed)
		}
		close(c.stop)
		c.broadcast()
		c.mu.Unlock()
		c.cancel()
	})
	c.wg.Wait()
	return nil
}

// broadcast wakes everyone waiting for a lease state change; c.mu held.
func (c *Candidate) broadcast() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// freeze is a test hook: the keepalive loop and the term deadline timer
// stop at their next step, as if the process were stopped, until thaw.
func (c *Candidate) freeze() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen == nil {
		c.frozen = make(chan struct{})
	}
}

// thaw ends freeze.
func (c *Candidate) thaw() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen != nil {
		close(c.frozen)
		c.frozen = nil
	}
}

// waitThaw blocks while frozen; false when the candidate closed.
func (c *Candidate) waitThaw() bool {
	c.mu.Lock()
	ch := c.frozen
	c.mu.Unlock()
	if ch == nil {
		return true
	}
	select {
	case <-ch:
		return true
	case <-c.stop:
		return false
	}
}

// before reports whether now is before deadline on both the monotonic and
// the wall clock. The monotonic reading is immune to clock steps; the wall
// reading catches a machine suspend, during which Linux's monotonic clock
// stands still while the store's lease keeps running. A wall-clock step
// forward can therefore end a term early, which is the safe direction.
func before(now, deadline time.Time) bool {
	return now.Before(deadline) && now.Round(0).Before(deadline.Round(0))
}
