package pglocal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pgha/pgha/fence"
	"github.com/pgha/pgha/pg"
)

var _ pg.DeadlineFencer = (*Local)(nil)

// keeperStartTimeout bounds starting the fence keeper process.
const keeperStartTimeout = 5 * time.Second

// ArmFence arms the fence keeper, a separate process started on first use
// (package fence), to stop the running postmaster with SIGQUIT at deadline
// unless re-armed: it outlives a frozen or killed agent. The postmaster is
// looked up in the data directory on every call, so a restarted server is
// armed by its new identity. When none runs (a restart in progress: the
// postmaster may be starting and not have written its pid file yet) the
// data directory itself is armed, and at a deadline whose armed postmaster
// has exited the keeper stops the one running there then: an agent killed
// right after it restarted its primary in place must not leave that
// primary running unfenced (e2e TestAgentFault found two primaries so).
// It is off when Config.DisableFenceKeeper is set
// (ErrFenceKeeperDisabled).
func (l *Local) ArmFence(deadline time.Time) error {
	if l.cfg.DisableFenceKeeper {
		return pg.ErrFenceKeeperDisabled
	}
	p, err := fence.LookupPostmaster(l.cfg.DataDir)
	if errors.Is(err, fence.ErrNotRunning) {
		p, err = fence.Process{}, nil // the data directory
	}
	if err != nil {
		return fmt.Errorf("pg: arm fence: %w", err)
	}
	k, err := l.keeper()
	if err != nil {
		return err
	}
	if err := k.Arm(p, deadline); err != nil {
		return fmt.Errorf("pg: arm fence for postmaster %s: %w", p, err)
	}
	return nil
}

// DisarmFence disarms the fence keeper, if one was started.
func (l *Local) DisarmFence() error {
	l.mu.Lock()
	k := l.fenceKeeper
	l.mu.Unlock()
	if k == nil {
		return nil
	}
	if err := k.Disarm(); err != nil {
		return fmt.Errorf("pg: disarm fence: %w", err)
	}
	return nil
}

// FenceKeeperAlive reports whether the fence keeper process runs (false
// before it was first armed, or when disabled).
func (l *Local) FenceKeeperAlive() bool {
	l.mu.Lock()
	k := l.fenceKeeper
	l.mu.Unlock()
	return k != nil && k.Alive()
}

// keeper returns the fence keeper, starting it on first use.
func (l *Local) keeper() (*fence.Keeper, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fenceKeeper != nil {
		return l.fenceKeeper, nil
	}
	logTo := l.cfg.FenceKeeperLog
	if logTo == nil {
		logTo = io.Discard
	}
	ctx, cancel := context.WithTimeout(context.Background(), keeperStartTimeout)
	defer cancel()
	k, err := fence.Start(ctx, fence.Options{Logger: l.log, KeeperLog: logTo, DataDir: l.cfg.DataDir})
	if err != nil {
		return nil, fmt.Errorf("pg: start fence keeper: %w", err)
	}
	l.fenceKeeper = k
	return k, nil
}
