package failover_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/pgha/pgha/pg"
)

// fakePG is a pg.Instance without a server: enough state for the loop and
// the Manager paths where a real PostgreSQL adds nothing.
type fakePG struct {
	mu       sync.Mutex
	empty    bool
	state    pg.ProcessState
	role     pg.Role
	timeline uint32
	lsn      pg.LSN
	calls    []string
	// stopErr, when set, makes Stop fail and leave the server running.
	stopErr error
	// replication is what Status reports as pg_stat_replication while the
	// server runs as primary.
	replication []pg.Replication
	// stall, when set, makes Status block until it is closed, whatever
	// its context says: a wedged status query.
	stall chan struct{}
	// idle stops the WAL position from advancing with each Status: no
	// client writes.
	idle bool
}

var _ pg.Instance = (*fakePG)(nil)

func newFakePG() *fakePG { return &fakePG{empty: true, state: pg.StateStopped} }

func (f *fakePG) call(name string) {
	f.calls = append(f.calls, name)
}

func (f *fakePG) setStopErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopErr = err
}

func (f *fakePG) setIdle(idle bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.idle = idle
}

func (f *fakePG) setReplication(rows ...pg.Replication) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replication = rows
}

func (f *fakePG) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakePG) Inspect() (bool, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.empty, !f.empty && f.role == pg.RolePrimary, nil
}

func (f *fakePG) State() pg.ProcessState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state
}

// stallStatus makes Status block until the returned function is called.
func (f *fakePG) stallStatus() (release func()) {
	ch := make(chan struct{})
	f.mu.Lock()
	f.stall = ch
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		f.stall = nil
		f.mu.Unlock()
		close(ch)
	}
}

func (f *fakePG) Status(context.Context) (pg.Status, error) {
	f.mu.Lock()
	if ch := f.stall; ch != nil {
		f.mu.Unlock()
		<-ch
		f.mu.Lock()
	}
	defer f.mu.Unlock()
	st := pg.Status{State: f.state}
	if f.state != pg.StateRunning {
		return st, nil
	}
	if !f.idle {
		f.lsn += 16
	}
	st.Role, st.Timeline, st.SystemID, st.ServerVersion = f.role, f.timeline, 7000000000000000001, 150004
	if f.role == pg.RolePrimary {
		st.FlushLSN = f.lsn
		st.Replication = append([]pg.Replication(nil), f.replication...)
	} else {
		st.ReceiveLSN, st.ReplayLSN, st.Receiver = f.lsn, f.lsn, pg.ReceiverStreaming
	}
	return st, nil
}

func (f *fakePG) Bootstrap(context.Context, pg.BootstrapOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("bootstrap")
	f.empty, f.state, f.role, f.timeline, f.lsn = false, pg.StateRunning, pg.RolePrimary, 1, 0x3000000
	return nil
}

func (f *fakePG) Clone(context.Context, pg.CloneRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("clone")
	f.empty, f.role = false, pg.RoleReplica
	return nil
}

func (f *fakePG) RemoveData(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("remove-data")
	if f.state == pg.StateRunning {
		return pg.ErrAlreadyRunning
	}
	f.empty = true
	return nil
}

func (f *fakePG) Start(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("start")
	if f.empty {
		return pg.ErrNoDataDir
	}
	f.state = pg.StateRunning
	return nil
}

func (f *fakePG) Stop(_ context.Context, mode pg.StopMode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("stop:" + string(mode))
	if f.stopErr != nil {
		return f.stopErr
	}
	f.state = pg.StateStopped
	return nil
}

func (f *fakePG) Restart(ctx context.Context, mode pg.StopMode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("restart:" + string(mode))
	f.state = pg.StateRunning
	return nil
}

func (f *fakePG) Reload(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("reload")
	return nil
}

func (f *fakePG) Promote(context.Context) (uint32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("promote")
	if f.state != pg.StateRunning || f.role != pg.RoleReplica {
		return 0, pg.ErrNotReplica
	}
	f.role = pg.RolePrimary
	f.timeline++
	return f.timeline, nil
}

func (f *fakePG) Follow(_ context.Context, cfg pg.FollowConfig) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call(fmt.Sprintf("follow:%s:%d", cfg.Upstream.Host, cfg.Upstream.Port))
	f.state, f.role = pg.StateRunning, pg.RoleReplica
	return nil
}

func (f *fakePG) Demote(_ context.Context, mode pg.StopMode, _ pg.FollowConfig) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("demote:" + string(mode))
	f.state, f.role = pg.StateRunning, pg.RoleReplica
	return nil
}

func (f *fakePG) CheckDivergence(context.Context, pg.Upstream) (pg.Divergence, error) {
	return pg.Divergence{}, nil
}

func (f *fakePG) Rewind(context.Context, pg.Upstream) error { return nil }

func (f *fakePG) Slots(context.Context) ([]pg.Slot, error) { return nil, nil }

func (f *fakePG) CreateSlot(context.Context, string) error { return nil }

func (f *fakePG) DropSlot(context.Context, string) error { return nil }

func (f *fakePG) SetSynchronousStandbyNames(context.Context, pg.SyncStandbys) error { return nil }

func (f *fakePG) Checkpoint(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("checkpoint")
	return nil
}
