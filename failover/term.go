package failover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgha/pgha/clock"
	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/election"
	"github.com/pgha/pgha/internal/mutation"
	"github.com/pgha/pgha/pg"
)

// leadership is this node's leader term, from the race that wins it to the
// resign that ends it, and every rule on the way: a term is acted on only
// while it is valid and not fenced (DESIGN §3 invariant 1); its guard
// fences it before its deadline whatever the loop is doing (term_guard.go);
// the lease moves to a replica only after a clean stop it confirmed
// (term_handover.go, invariant 5); and a node that no longer runs a primary
// gives the key up (invariant 7). It holds its own lock, never taken while
// calling out, so the Controller may read the term under c.mu.
type leadership struct {
	name         string
	inst         pg.Instance
	clk          clock.Clock
	log          *slog.Logger
	eo           *atomic.Pointer[election.Options] // the election timings in effect
	wd           Watchdog
	demoteLead   time.Duration
	startTimeout time.Duration
	hooks        termHooks
	wg           *sync.WaitGroup // the guards are waited for with the loop's goroutines

	mu  sync.Mutex
	ctx context.Context // the loop's: guards run until it ends
	// term is the term this node acts on; fenced the one already fenced,
	// released or handed over (the guard leaves it alone); unresigned one
	// given up whose key's delete was not confirmed.
	term, fenced, unresigned *election.Term
	acquireCode              string // the decision code that won term
	// watchdogFailedAt: watchdog.mode is required and arming failed then;
	// the node stays out of races for a ttl, then may try again.
	watchdogFailedAt time.Time
}

// termHooks are what the Controller does when the term changes.
type termHooks struct {
	// changed publishes the node state: health answers follow the term at
	// once.
	changed func()
	event   func(EventKind, string)
	// wake runs a cycle at once.
	wake func()
	// won starts the per-term state of the Controller afresh.
	won func()
	// unfollowed records that the server now runs without upstream.
	unfollowed func()
	// runsPrimary reports whether the last status shows a primary.
	runsPrimary func() bool
	// beforeStop runs the embedder's before-stop hook ahead of a planned
	// stop (the hand-over); nil for none.
	beforeStop func(context.Context)
}

// errNoTerm is returned by actions that need the term when it is gone.
var errNoTerm = errors.New("failover: the term is not held")

// errLeaseEnding: the lease ends too soon for a term won on it to be
// acted on.
var errLeaseEnding = errors.New("the lease ends too soon to lead")

// start lets guards run until ctx ends (Controller.Run).
func (l *leadership) start(ctx context.Context) {
	l.mu.Lock()
	l.ctx = ctx
	l.mu.Unlock()
}

// current is the term this node acts on, valid or not (nil: none).
func (l *leadership) current() *election.Term {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.term
}

// held returns the term while it is valid, else nil.
func (l *leadership) held() *election.Term {
	if t := l.current(); t != nil && t.Valid(l.clk.Now()) {
		return t
	}
	return nil
}

// reason is the decision code that won the term.
func (l *leadership) reason() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acquireCode
}

// acquire makes one attempt at the leader key with cand; losing is not an
// error (won false).
func (l *leadership) acquire(ctx context.Context, cand *election.Candidate, dec Decision) (won bool, err error) {
	// A term inherits the lease's deadline: one that ends within
	// demote_lead would be fenced the moment it is won, its key deleted,
	// and the race run again, in a loop that lasts until a keepalive
	// succeeds. Wait for the keepalive instead.
	if dl := cand.LeaseDeadline(); !l.clk.Now().Before(dl.Add(-l.demoteLead)) {
		return false, fmt.Errorf("failover: acquire: %w: the lease's deadline %s is within demote_lead %v; racing after the next keepalive",
			errLeaseEnding, dl.Format(time.RFC3339Nano), l.demoteLead)
	}
	t, err := cand.TryAcquire(ctx)
	if errors.Is(err, election.ErrLeaderExists) {
		l.log.Info("failover: lost the leader race", "err", err)
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("failover: acquire: %w", err)
	}
	l.set(t, dec)
	return true, nil
}

// set records a won term and starts its guard.
func (l *leadership) set(t *election.Term, dec Decision) {
	l.mu.Lock()
	same := l.term == t
	l.term, l.fenced = t, nil
	if !same {
		l.acquireCode = string(dec.Code)
	}
	ctx := l.ctx
	l.mu.Unlock()
	if same {
		return
	}
	l.hooks.won()
	l.hooks.event(EventAcquired, fmt.Sprintf("leader key revision %d (%s)", t.Token(), dec.Code))
	l.hooks.changed()
	l.wg.Add(1)
	go l.guard(ctx, t)
}

// drop stops claiming the term (health answers non-leader at once)
// without resigning; the guard will not fence it again. It returns the
// dropped term, nil if none was held, for giveUpKey once the server is
// confirmed stopped or demoted.
func (l *leadership) drop() *election.Term {
	l.mu.Lock()
	t := l.term
	if t != nil {
		l.fenced = t
	}
	l.term = nil
	l.mu.Unlock()
	l.hooks.changed()
	return t
}

// keep is drop for a hand-over that restore may undo.
func (l *leadership) keep(t *election.Term) {
	l.mu.Lock()
	l.term, l.fenced = nil, t
	l.mu.Unlock()
	l.hooks.changed()
}

// restore takes back a term dropped by keep if it is still valid.
func (l *leadership) restore(t *election.Term) {
	if !t.Valid(l.clk.Now()) {
		return
	}
	l.mu.Lock()
	l.term, l.fenced = t, nil
	ctx := l.ctx
	l.mu.Unlock()
	l.wg.Add(1)
	go l.guard(ctx, t)
}

// release resigns the term (guarded delete of the leader key). Every
// caller has stopped or demoted the server first.
func (l *leadership) release(ctx context.Context, why string) error {
	l.mu.Lock()
	t := l.term
	l.term = nil
	l.fenced = t // resigned on purpose: nothing to fence
	l.mu.Unlock()
	if t == nil {
		return errNoTerm
	}
	l.hooks.changed()
	l.disarmFence()
	if mutation.On(ctx, mutation.KeepKey) {
		return nil
	}
	err := t.Resign(ctx)
	l.hooks.event(EventReleased, why)
	if err != nil {
		return fmt.Errorf("failover: release: %w", err)
	}
	return nil
}

// giveUpKey resigns a term this node no longer acts on, once its server is
// confirmed not to run as primary: a node that does not run a primary must
// not keep the leader key (DESIGN §3 invariant 7), or replicas would follow
// a key nobody serves and, if one outranks it, wait for it forever. The
// delete is guarded by the term; when the store is unreachable Resign
// abandons the lease, so the key expires within ttl at the latest.
func (l *leadership) giveUpKey(ctx context.Context, t *election.Term, why string) {
	l.disarmFence()
	if t == nil || mutation.On(ctx, mutation.KeepKey) {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*l.eo.Load().RequestTimeout)
	defer cancel()
	if err := t.Resign(rctx); err != nil {
		l.log.Warn("failover: giving up the leader key: delete not confirmed, the lease was abandoned and expires within ttl; the delete is tried again when the DCS answers", "why", why, "err", err)
		l.mu.Lock()
		l.unresigned = t
		l.mu.Unlock()
	} else {
		l.log.Info("failover: gave up the leader key", "why", why)
	}
	l.hooks.event(EventReleased, why)
}

// retryResign deletes the leader key of a term given up while the DCS was
// unreachable, once a snapshot shows it still there: otherwise it would
// stay until its abandoned lease expired (etcd extends every lease when
// its quorum returns), and the race would wait for it.
func (l *leadership) retryResign(ctx context.Context, cl *dcs.Cluster) {
	l.mu.Lock()
	t := l.unresigned
	l.mu.Unlock()
	if t == nil || cl == nil {
		return
	}
	if ld := cl.Leader; ld == nil || ld.Name != l.name || ld.Revision != t.Token() {
		l.mu.Lock()
		l.unresigned = nil
		l.mu.Unlock()
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 2*l.eo.Load().RequestTimeout)
	defer cancel()
	if err := t.Resign(rctx); err != nil {
		l.log.Warn("failover: deleting the leader key of a term given up failed again", "revision", t.Token(), "err", err)
		return
	}
	l.log.Info("failover: deleted the leader key of a term given up while the DCS was unreachable", "revision", t.Token())
	l.mu.Lock()
	l.unresigned = nil
	l.mu.Unlock()
}
