package failover

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pgha/pgha/election"
	"github.com/pgha/pgha/watchdog"
)

// Watchdog is a host-level fence for a primary: armed before this node
// promotes (or as soon as it holds a term while running a primary), petted
// while its term has at least the device's timeout left, and disabled once
// its server is confirmed stopped or demoted. If the agent or the whole
// host freezes, the pets stop and the device resets the host before the
// term's deadline, which the out-of-agent fence (pg.DeadlineFencer) cannot
// do for a frozen host. *watchdog.Watchdog implements it for the Linux
// watchdog device.
type Watchdog interface {
	// Mode is off, automatic (use the device when it can be armed) or
	// required (never promote without it).
	Mode() watchdog.Mode
	// Activate arms the device; see watchdog.Watchdog.Activate.
	Activate() error
	// KeepaliveUntil pets the device while at least its timeout is left
	// before deadline.
	KeepaliveUntil(deadline time.Time) error
	// Disable disarms the device.
	Disable() error
	// Active reports whether the device is armed.
	Active() bool
}

// ErrWatchdogRequired is returned when watchdog.mode is required and the
// watchdog could not be armed: the node does not promote.
var ErrWatchdogRequired = errors.New("failover: watchdog required but not available")

// armWatchdog arms the watchdog before this node acts as primary. It
// returns an error wrapping ErrWatchdogRequired only in required mode; in
// automatic mode a failure is logged and the node goes on without it.
func (l *leadership) armWatchdog() error {
	w := l.wd
	if w == nil || w.Mode() == watchdog.ModeOff {
		return nil
	}
	err := w.Activate()
	failed := err != nil && w.Mode() == watchdog.ModeRequired
	l.mu.Lock()
	if failed {
		l.watchdogFailedAt = l.clk.Now()
	} else {
		l.watchdogFailedAt = time.Time{}
	}
	l.mu.Unlock()
	l.hooks.changed()
	switch {
	case err == nil:
		return nil
	case failed:
		return fmt.Errorf("%w: %w", ErrWatchdogRequired, err)
	}
	if w.Active() {
		l.log.Warn("failover: watchdog armed with a problem", "err", err)
	} else {
		l.log.Warn("failover: watchdog not available (watchdog.mode automatic): going on without it; only the out-of-agent fence stops this primary if the agent freezes, not a frozen host", "err", err)
	}
	return nil
}

// guardWatchdog is the term guard's watchdog step: it arms the watchdog
// when the server already runs as primary (a bootstrap, a reclaimed key),
// and pets it for t. It reports false when the watchdog is required and
// cannot be armed: the guard then fences.
func (l *leadership) guardWatchdog(t *election.Term) bool {
	w := l.wd
	if w == nil || w.Mode() == watchdog.ModeOff {
		return true
	}
	if !w.Active() {
		if !l.hooks.runsPrimary() {
			return true // armed before promotion instead
		}
		if err := l.armWatchdog(); err != nil {
			return false
		}
	}
	if err := w.KeepaliveUntil(t.Deadline()); err != nil && !errors.Is(err, watchdog.ErrTooLate) {
		l.log.Warn("failover: petting the watchdog failed", "err", err)
	}
	return true
}

// disableWatchdog disarms the watchdog once the server is confirmed not
// to run as primary.
func (l *leadership) disableWatchdog() {
	w := l.wd
	if w == nil || !w.Active() {
		return
	}
	if err := w.Disable(); err != nil {
		l.log.Error("failover: disabling the watchdog failed: the host may still be reset", "err", err)
		return
	}
	l.log.Info("failover: watchdog disabled")
}

// refuseWithoutWatchdog gives up a term this node may not promote on
// because the watchdog is required and could not be armed.
func (l *leadership) refuseWithoutWatchdog(ctx context.Context, err error) error {
	l.log.Error("failover: not promoting: the watchdog is required and could not be armed; releasing the leader key", "err", err)
	if rerr := l.release(ctx, "watchdog required but not available"); rerr != nil && !errors.Is(rerr, errNoTerm) {
		l.log.Warn("failover: releasing after the watchdog refusal", "err", rerr)
	}
	return err
}

// watchdogFailed reports a failure to arm a required watchdog within the
// last ttl.
func (l *leadership) watchdogFailed(now time.Time) bool {
	l.mu.Lock()
	at := l.watchdogFailedAt
	l.mu.Unlock()
	return !at.IsZero() && now.Before(at.Add(l.eo.Load().TTL))
}
