package sim

import (
	"context"
	"sync"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/pg"
	"github.com/pgha/pgha/pg/pgtest"
)

// gate freezes one agent, as SIGSTOP does: while it is closed, every call
// the agent makes to the DCS, to its PostgreSQL and to its peers, and
// every request its health API receives, waits. The agent's goroutines
// still wake on their timers, but none of them gets anything done, which
// is what a stopped process looks like from outside. PostgreSQL itself
// keeps running and accepting writes from the clients connected to it,
// and its out-of-agent fence (pgtest's keeper) still fires.
type gate struct {
	mu     sync.Mutex
	thawed chan struct{} // nil while open; closed on thaw
}

func (g *gate) freeze() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.thawed == nil {
		g.thawed = make(chan struct{})
	}
}

func (g *gate) thaw() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.thawed != nil {
		close(g.thawed)
		g.thawed = nil
	}
}

func (g *gate) frozen() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.thawed != nil
}

// wait blocks while the gate is closed, or until ctx ends.
func (g *gate) wait(ctx context.Context) error {
	g.mu.Lock()
	ch := g.thawed
	g.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// gatedStore is a dcs.Store whose calls wait at the gate, then take the
// node's network latency to the DCS: distinct per node, so that agents
// woken by the same change act in an order the seed fixes rather than the
// Go scheduler.
type gatedStore struct {
	dcs.Store
	g   *gate
	lat time.Duration
}

// wait waits at the gate, then the latency.
func (s gatedStore) wait(ctx context.Context) error {
	if err := s.g.wait(ctx); err != nil {
		return err
	}
	return sleep(ctx, s.lat)
}

// sleep waits d on the (virtual) clock, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s gatedStore) Get(ctx context.Context) (dcs.Snapshot, error) {
	if err := s.wait(ctx); err != nil {
		return dcs.Snapshot{}, err
	}
	return s.Store.Get(ctx)
}

func (s gatedStore) Grant(ctx context.Context, ttl time.Duration) (dcs.LeaseID, error) {
	if err := s.wait(ctx); err != nil {
		return 0, err
	}
	return s.Store.Grant(ctx, ttl)
}

func (s gatedStore) KeepAlive(ctx context.Context, id dcs.LeaseID) error {
	if err := s.wait(ctx); err != nil {
		return err
	}
	return s.Store.KeepAlive(ctx, id)
}

func (s gatedStore) Revoke(ctx context.Context, id dcs.LeaseID) error {
	if err := s.wait(ctx); err != nil {
		return err
	}
	return s.Store.Revoke(ctx, id)
}

func (s gatedStore) Put(ctx context.Context, key string, value []byte, lease dcs.LeaseID, cond dcs.Cond) (int64, error) {
	if err := s.wait(ctx); err != nil {
		return 0, err
	}
	return s.Store.Put(ctx, key, value, lease, cond)
}

func (s gatedStore) Delete(ctx context.Context, key string, cond dcs.Cond) error {
	if err := s.wait(ctx); err != nil {
		return err
	}
	return s.Store.Delete(ctx, key, cond)
}

// Watch delivers the store's responses through the gate: a frozen agent
// reads none of them until thawed.
func (s gatedStore) Watch(ctx context.Context, rev int64) <-chan dcs.WatchResponse {
	in := s.Store.Watch(ctx, rev)
	out := make(chan dcs.WatchResponse)
	go func() {
		defer close(out)
		for resp := range in {
			if s.wait(ctx) != nil {
				return
			}
			select {
			case out <- resp:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// gatedServer is the agent's view of its pgtest server: every call waits
// at the gate. Methods that only report state (State) pass, since a
// frozen agent makes no calls that would reach them and the simulation
// reads the server directly.
type gatedServer struct {
	*pgtest.Server
	g   *gate
	clk *nodeClock
}

var (
	_ pg.Instance       = gatedServer{}
	_ pg.Fencer         = gatedServer{}
	_ pg.DeadlineFencer = gatedServer{}
)

func (s gatedServer) Status(ctx context.Context) (pg.Status, error) {
	if err := s.g.wait(ctx); err != nil {
		return pg.Status{State: s.Server.State()}, err
	}
	return s.Server.Status(ctx)
}

func (s gatedServer) Bootstrap(ctx context.Context, o pg.BootstrapOptions) error {
	return s.do(ctx, func() error { return s.Server.Bootstrap(ctx, o) })
}

func (s gatedServer) Clone(ctx context.Context, req pg.CloneRequest) error {
	return s.do(ctx, func() error { return s.Server.Clone(ctx, req) })
}

func (s gatedServer) RemoveData(ctx context.Context) error {
	return s.do(ctx, func() error { return s.Server.RemoveData(ctx) })
}

func (s gatedServer) Start(ctx context.Context) error {
	return s.do(ctx, func() error { return s.Server.Start(ctx) })
}

func (s gatedServer) Stop(ctx context.Context, mode pg.StopMode) error {
	return s.do(ctx, func() error { return s.Server.Stop(ctx, mode) })
}

func (s gatedServer) Restart(ctx context.Context, mode pg.StopMode) error {
	return s.do(ctx, func() error { return s.Server.Restart(ctx, mode) })
}

func (s gatedServer) Reload(ctx context.Context) error {
	return s.do(ctx, func() error { return s.Server.Reload(ctx) })
}

func (s gatedServer) Promote(ctx context.Context) (uint32, error) {
	if err := s.g.wait(ctx); err != nil {
		return 0, err
	}
	return s.Server.Promote(ctx)
}

func (s gatedServer) Follow(ctx context.Context, cfg pg.FollowConfig) error {
	return s.do(ctx, func() error { return s.Server.Follow(ctx, cfg) })
}

func (s gatedServer) Demote(ctx context.Context, mode pg.StopMode, cfg pg.FollowConfig) error {
	return s.do(ctx, func() error { return s.Server.Demote(ctx, mode, cfg) })
}

func (s gatedServer) CheckDivergence(ctx context.Context, up pg.Upstream) (pg.Divergence, error) {
	if err := s.g.wait(ctx); err != nil {
		return pg.Divergence{}, err
	}
	return s.Server.CheckDivergence(ctx, up)
}

func (s gatedServer) Rewind(ctx context.Context, up pg.Upstream) error {
	return s.do(ctx, func() error { return s.Server.Rewind(ctx, up) })
}

func (s gatedServer) Slots(ctx context.Context) ([]pg.Slot, error) {
	if err := s.g.wait(ctx); err != nil {
		return nil, err
	}
	return s.Server.Slots(ctx)
}

func (s gatedServer) CreateSlot(ctx context.Context, name string) error {
	return s.do(ctx, func() error { return s.Server.CreateSlot(ctx, name) })
}

func (s gatedServer) DropSlot(ctx context.Context, name string) error {
	return s.do(ctx, func() error { return s.Server.DropSlot(ctx, name) })
}

func (s gatedServer) SetSynchronousStandbyNames(ctx context.Context, v pg.SyncStandbys) error {
	return s.do(ctx, func() error { return s.Server.SetSynchronousStandbyNames(ctx, v) })
}

func (s gatedServer) Checkpoint(ctx context.Context) error {
	return s.do(ctx, func() error { return s.Server.Checkpoint(ctx) })
}

func (s gatedServer) Fence(ctx context.Context) error {
	return s.do(ctx, func() error { return s.Server.Fence(ctx) })
}

func (s gatedServer) ShutdownCheckpoint(ctx context.Context) (pg.LSN, error) {
	if err := s.g.wait(ctx); err != nil {
		return 0, err
	}
	return s.Server.ShutdownCheckpoint(ctx)
}

// ArmFence and DisarmFence are the agent talking to its fence keeper; a
// frozen agent does neither (the thaw at the end of a run releases them).
// The deadline, read on the agent's clock, reaches the keeper as time left
// (see nodeClock.toWorld).
func (s gatedServer) ArmFence(deadline time.Time) error {
	_ = s.g.wait(context.Background())
	return s.Server.ArmFence(s.clk.toWorld(deadline))
}

func (s gatedServer) DisarmFence() error {
	_ = s.g.wait(context.Background())
	return s.Server.DisarmFence()
}

func (s gatedServer) Inspect() (empty, wasPrimary bool, err error) {
	_ = s.g.wait(context.Background())
	return s.Server.Inspect()
}

func (s gatedServer) do(ctx context.Context, f func() error) error {
	if err := s.g.wait(ctx); err != nil {
		return err
	}
	return f()
}
