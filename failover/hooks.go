package failover

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultHookTimeout bounds a hook when Hooks.Timeout is zero.
const DefaultHookTimeout = 30 * time.Second

// Hook actions, named as Patroni's callbacks and scripts.
const (
	HookPrePromote   = "pre_promote"
	HookBeforeStop   = "before_stop"
	HookOnStart      = "on_start"
	HookOnStop       = "on_stop"
	HookOnRestart    = "on_restart"
	HookOnReload     = "on_reload"
	HookOnRoleChange = "on_role_change"
)

// HookInfo is what a hook is told: Patroni's callback arguments.
type HookInfo struct {
	// Action is one of the Hook* names.
	Action string
	// Role is the node's role after the event: "primary", "replica", or
	// "demoted" for a primary that was just stopped to be demoted.
	Role   string
	Scope  string
	Member string
}

// Hooks are the embedder's code run at the Controller's role changes, as
// Patroni's pre_promote, before_stop and postgresql.callbacks. Every hook
// gets a context that ends at Timeout; a hook that outlives it is no
// longer waited for, so no hook can wedge the HA loop.
//
// PrePromote and BeforeStop run synchronously, in the loop. The others
// run after the fact, one at a time and in order, on a goroutine of their
// own; as in Patroni, a new one cancels the context of the one still
// running.
type Hooks struct {
	// PrePromote runs after this node won the leader key and before it
	// promotes its server. An error (or the timeout) vetoes the promotion:
	// the node releases the key, logs the reason, reports it as an
	// EventPromoteVetoed, and stays out of leader races for a ttl, so
	// that another member can take over.
	PrePromote func(ctx context.Context, h HookInfo) error
	// BeforeStop runs before the Controller stops its server (to demote
	// it, restart it or shut down). Its outcome does not change what
	// follows.
	BeforeStop func(ctx context.Context, h HookInfo)
	// OnStart, OnStop, OnRestart and OnReload follow the server's life;
	// OnRoleChange follows a promotion or a demotion instead of
	// OnStart/OnStop.
	OnStart, OnStop, OnRestart, OnReload, OnRoleChange func(ctx context.Context, h HookInfo)
	// Timeout bounds each hook; default DefaultHookTimeout.
	Timeout time.Duration
}

// errHookTimeout: a synchronous hook did not return within its timeout.
var errHookTimeout = errors.New("hook timed out")

// hookRunner runs the after-the-fact hooks in order on one goroutine at a
// time and accounts for it (waitHooks).
type hookRunner struct {
	mu      sync.Mutex
	queue   []queuedHook
	running bool
	cancel  context.CancelFunc // of the hook running now
	wg      sync.WaitGroup
}

type queuedHook struct {
	fn   func(context.Context, HookInfo)
	info HookInfo
}

// timeout is the effective hook timeout.
func (h *Hooks) timeout() time.Duration {
	if h.Timeout > 0 {
		return h.Timeout
	}
	return DefaultHookTimeout
}

// afterHook queues an after-the-fact hook; a nil one is skipped. A hook
// still running gets its context cancelled, as Patroni kills the previous
// callback.
func (c *Controller) afterHook(fn func(context.Context, HookInfo), action, role string) {
	if fn == nil {
		return
	}
	r := &c.hooks
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queue = append(r.queue, queuedHook{fn: fn, info: c.hookInfo(action, role)})
	if r.cancel != nil {
		r.cancel()
	}
	if r.running {
		return
	}
	r.running = true
	r.wg.Go(c.drainHooks)
}

// drainHooks runs queued hooks until none is left.
func (c *Controller) drainHooks() {
	r := &c.hooks
	for {
		r.mu.Lock()
		if len(r.queue) == 0 {
			r.running, r.cancel = false, nil
			r.mu.Unlock()
			return
		}
		q := r.queue[0]
		r.queue = r.queue[1:]
		ctx, cancel := context.WithTimeout(context.Background(), c.o.Hooks.timeout())
		r.cancel = cancel
		r.mu.Unlock()
		if err := runBounded(ctx, func(ctx context.Context) error { q.fn(ctx, q.info); return nil }); err != nil {
			c.log.Warn("failover: hook did not return in time; no longer waiting for it", "hook", q.info.Action, "err", err)
		}
		cancel()
	}
}

// waitHooks waits for the after-the-fact hooks, each bounded by its
// timeout; Run calls it on the way out.
func (c *Controller) waitHooks() { c.hooks.wg.Wait() }

// syncHook runs a synchronous hook, bounded by the hook timeout and ctx.
// A hook that does not return in time is no longer waited for and counts
// as failed.
func (c *Controller) syncHook(ctx context.Context, fn func(context.Context, HookInfo) error, action, role string) error {
	if fn == nil {
		return nil
	}
	hctx, cancel := context.WithTimeout(ctx, c.o.Hooks.timeout())
	defer cancel()
	info := c.hookInfo(action, role)
	return runBounded(hctx, func(ctx context.Context) error { return fn(ctx, info) })
}

// runBounded runs fn and returns its error, or errHookTimeout when ctx
// ends first; fn's goroutine is then left to finish on its own.
func runBounded(ctx context.Context, fn func(context.Context) error) error {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("hook panicked: %v", p)
			}
		}()
		done <- fn(ctx)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		select {
		case err := <-done:
			return err
		default:
		}
		return fmt.Errorf("%w: %w", errHookTimeout, ctx.Err())
	}
}

func (c *Controller) hookInfo(action, role string) HookInfo {
	return HookInfo{Action: action, Role: role, Scope: c.o.Scope, Member: c.o.Name}
}

// ErrPromoteVetoed is returned by a promotion the pre-promote hook
// refused.
var ErrPromoteVetoed = errors.New("failover: promotion vetoed by the pre-promote hook")

// vetoPromotion handles a refusal of the pre-promote hook: as Patroni's
// pre_promote, the node releases the leader key without promoting and
// stays out of races for a ttl (promoteVetoed), so that another member
// can take over.
func (c *Controller) vetoPromotion(ctx context.Context, err error) error {
	c.log.Error("failover: the pre-promote hook vetoed the promotion; releasing the leader key", "err", err)
	c.mu.Lock()
	c.vetoedAt = c.clk.Now()
	c.mu.Unlock()
	c.emit(EventPromoteVetoed, err.Error())
	if rerr := c.lead.release(ctx, "pre-promote hook vetoed"); rerr != nil && !errors.Is(rerr, errNoTerm) {
		c.log.Warn("failover: releasing after the pre-promote veto", "err", rerr)
	}
	return fmt.Errorf("%w: %w", ErrPromoteVetoed, err)
}

// promoteVetoed reports a veto within the last ttl; c.mu held.
func (c *Controller) promoteVetoed(now time.Time) bool {
	return !c.vetoedAt.IsZero() && now.Before(c.vetoedAt.Add(c.eopts().TTL))
}

// beforeStop runs the before-stop hook ahead of a planned stop. Stops that
// fence a primary whose term is ending do not run it: nothing may delay
// them.
func (c *Controller) beforeStop(ctx context.Context) {
	fn := c.o.Hooks.BeforeStop
	if fn == nil {
		return
	}
	role := c.hookRole()
	err := c.syncHook(ctx, func(ctx context.Context, h HookInfo) error { fn(ctx, h); return nil }, HookBeforeStop, role)
	if err != nil {
		c.log.Warn("failover: before-stop hook", "err", err)
	}
}
