package pgtest_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pgha/pgha/clock"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/pg"
	"github.com/pgha/pgha/pg/pgtest"
)

var (
	_ pg.Instance               = (*pgtest.Server)(nil)
	_ failover.DataDirInspector = (*pgtest.Server)(nil)
)

// cluster bootstraps a primary and clones and starts one replica per
// further name, all streaming from the primary with a slot each.
func cluster(t *testing.T, names ...string) (*pgtest.Network, []*pgtest.Server) {
	t.Helper()
	ctx := context.Background()
	n := pgtest.NewNetwork(clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	var out []*pgtest.Server
	for i, name := range names {
		s := n.NewServer(name)
		out = append(out, s)
		if i == 0 {
			must(t, s.Bootstrap(ctx, pg.BootstrapOptions{}))
			continue
		}
		must(t, out[0].CreateSlot(ctx, name))
		must(t, s.Clone(ctx, pg.CloneRequest{Upstream: out[0].Addr()}))
		must(t, s.Follow(ctx, pg.FollowConfig{Upstream: out[0].Addr(), SlotName: name}))
	}
	settle(n)
	return n, out
}

func settle(n *pgtest.Network) {
	for n.Step() {
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func commit(t *testing.T, s *pgtest.Server, size int) *pgtest.Commit {
	t.Helper()
	c, err := s.Commit(size)
	must(t, err)
	return c
}

func status(t *testing.T, s *pgtest.Server) pg.Status {
	t.Helper()
	st, err := s.Status(context.Background())
	must(t, err)
	return st
}

func TestStreamingAndStatus(t *testing.T) {
	ctx := context.Background()
	n, s := cluster(t, "a", "b")
	a, b := s[0], s[1]
	c := commit(t, a, 100)
	if b.Has(c) {
		t.Fatal("replica has the commit before any Step")
	}
	if !n.Step() || !b.Has(c) {
		t.Fatal("Step did not bring the commit to the replica")
	}
	if n.Step() {
		t.Fatal("a second Step moved WAL")
	}
	pa, pb := status(t, a), status(t, b)
	if pa.Role != pg.RolePrimary || pa.Timeline != 1 || pa.FlushLSN != c.LSN() {
		t.Fatalf("primary status %+v", pa)
	}
	if pb.Role != pg.RoleReplica || pb.Receiver != pg.ReceiverStreaming || pb.ReceiveLSN != c.LSN() ||
		pb.ReplayLSN != c.LSN() || pb.ReceiverUpstream != "a" || pb.SystemID != pa.SystemID {
		t.Fatalf("replica status %+v", pb)
	}
	if len(pa.Replication) != 1 || pa.Replication[0].ApplicationName != "b" || pa.Replication[0].FlushLSN != c.LSN() {
		t.Fatalf("pg_stat_replication %+v", pa.Replication)
	}
	slots, err := a.Slots(ctx)
	must(t, err)
	if len(slots) != 1 || slots[0].Name != "b" || !slots[0].Active || slots[0].RestartLSN != c.LSN() {
		t.Fatalf("slots %+v", slots)
	}

	// A missing slot stops streaming; re-creating it resumes.
	must(t, a.DropSlot(ctx, "b"))
	c2 := commit(t, a, 10)
	n.Step()
	if b.Has(c2) || status(t, b).Receiver != pg.ReceiverArchive {
		t.Fatal("replica streamed without its slot")
	}
	must(t, a.CreateSlot(ctx, "b"))
	n.Step()
	if !b.Has(c2) {
		t.Fatal("replica did not resume with its slot back")
	}

	// Isolation stops streaming both ways.
	b.Isolate()
	c3 := commit(t, a, 10)
	n.Step()
	if b.Has(c3) {
		t.Fatal("isolated replica streamed")
	}
	b.Rejoin()
	n.Step()
	if !b.Has(c3) {
		t.Fatal("rejoined replica did not catch up")
	}
}

func TestInspect(t *testing.T) {
	ctx := context.Background()
	_, s := cluster(t, "a", "b")
	n2 := pgtest.NewNetwork(nil)
	e := n2.NewServer("e")
	for _, tc := range []struct {
		s                 *pgtest.Server
		empty, wasPrimary bool
	}{{s[0], false, true}, {s[1], false, false}, {e, true, false}} {
		empty, wasPrimary, err := tc.s.Inspect()
		must(t, err)
		if empty != tc.empty || wasPrimary != tc.wasPrimary {
			t.Errorf("%s: Inspect = %t, %t; want %t, %t", tc.s.Name(), empty, wasPrimary, tc.empty, tc.wasPrimary)
		}
	}
	if err := e.Start(ctx); !errors.Is(err, pg.ErrNoDataDir) {
		t.Errorf("Start without data: %v", err)
	}
}

// TestDivergence promotes b in various histories and asks a (the old
// primary) or c (another replica) whether it can follow b.
func TestDivergence(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// before runs with a primary, b and c replicas, all caught up; it
		// leaves a and c in the state CheckDivergence sees, and b promoted.
		before   func(t *testing.T, n *pgtest.Network, a, b, c *pgtest.Server)
		check    func(a, c *pgtest.Server) *pgtest.Server
		diverged bool
	}{{
		name: "clean switchover",
		before: func(t *testing.T, n *pgtest.Network, a, b, c *pgtest.Server) {
			must(t, a.Stop(ctx, pg.StopFast))
			promote(t, b)
		},
		check: func(a, _ *pgtest.Server) *pgtest.Server { return a },
	}, {
		name: "old primary crashed with everything replicated",
		before: func(t *testing.T, n *pgtest.Network, a, b, c *pgtest.Server) {
			a.Crash()
			promote(t, b)
		},
		check:    func(a, _ *pgtest.Server) *pgtest.Server { return a },
		diverged: true,
	}, {
		name: "old primary wrote past the switch point",
		before: func(t *testing.T, n *pgtest.Network, a, b, c *pgtest.Server) {
			commit(t, a, 50)
			must(t, a.Stop(ctx, pg.StopImmediate))
			promote(t, b)
		},
		check:    func(a, _ *pgtest.Server) *pgtest.Server { return a },
		diverged: true,
	}, {
		name: "replica behind the switch point",
		before: func(t *testing.T, n *pgtest.Network, a, b, c *pgtest.Server) {
			c.Isolate()
			commit(t, a, 50)
			n.Step()
			c.Rejoin()
			a.Crash()
			promote(t, b)
		},
		check: func(_, c *pgtest.Server) *pgtest.Server { return c },
	}, {
		name: "replica ahead of the switch point",
		before: func(t *testing.T, n *pgtest.Network, a, b, c *pgtest.Server) {
			b.Isolate()
			commit(t, a, 50)
			n.Step()
			b.Rejoin()
			a.Crash()
			promote(t, b)
		},
		check:    func(_, c *pgtest.Server) *pgtest.Server { return c },
		diverged: true,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			n, s := cluster(t, "a", "b", "c")
			a, b, c := s[0], s[1], s[2]
			commit(t, a, 100)
			settle(n)
			tc.before(t, n, a, b, c)
			x := tc.check(a, c)
			d, err := x.CheckDivergence(ctx, b.Addr())
			must(t, err)
			if d.Diverged != tc.diverged || d.LocalTimeline != 1 || d.UpstreamTimeline != 2 {
				t.Fatalf("divergence %+v, want diverged %t", d, tc.diverged)
			}
			// The truth agrees with the verdict: a server that did not
			// diverge streams from b once following it.
			must(t, b.CreateSlot(ctx, x.Name()))
			must(t, x.Follow(ctx, pg.FollowConfig{Upstream: b.Addr(), SlotName: x.Name()}))
			bc := commit(t, b, 10)
			settle(n)
			if x.Has(bc) == tc.diverged {
				t.Fatalf("after following b: has b's commit %t, diverged %t", x.Has(bc), tc.diverged)
			}
			if !tc.diverged {
				return
			}
			must(t, x.Rewind(ctx, b.Addr()))
			if _, wasPrimary, _ := x.Inspect(); wasPrimary || x.State() != pg.StateStopped {
				t.Fatal("rewind did not leave a stopped replica")
			}
			must(t, x.Follow(ctx, pg.FollowConfig{Upstream: b.Addr(), SlotName: x.Name()}))
			settle(n)
			if !x.Has(bc) || x.Timeline() != 2 {
				t.Fatal("rewound server does not stream from b")
			}
		})
	}
}

func promote(t *testing.T, s *pgtest.Server) {
	t.Helper()
	tli, err := s.Promote(context.Background())
	must(t, err)
	if tli != 2 {
		t.Fatalf("promoted to timeline %d", tli)
	}
}

func TestDivergenceErrors(t *testing.T) {
	ctx := context.Background()
	n, s := cluster(t, "a", "b")
	a, b := s[0], s[1]
	if _, err := a.CheckDivergence(ctx, b.Addr()); !errors.Is(err, pg.ErrNotReplica) {
		t.Errorf("running primary: %v", err)
	}
	other := n.NewServer("other")
	must(t, other.Bootstrap(ctx, pg.BootstrapOptions{}))
	if _, err := b.CheckDivergence(ctx, other.Addr()); !errors.Is(err, pg.ErrSystemIDMismatch) {
		t.Errorf("another cluster: %v", err)
	}
	if d, err := b.CheckDivergence(ctx, a.Addr()); err != nil || d.Diverged {
		t.Errorf("same timeline: %+v, %v", d, err)
	}
	var ue *pgtest.UnreachableError
	if _, err := b.CheckDivergence(ctx, pg.Upstream{Host: "nowhere", Port: 5432}); !errors.As(err, &ue) {
		t.Errorf("unknown upstream: %v", err)
	}
	b.SetRewindPossible(false)
	if err := b.Rewind(ctx, a.Addr()); !errors.Is(err, pg.ErrRewindImpossible) {
		t.Errorf("rewind impossible: %v", err)
	}
}

func TestClone(t *testing.T) {
	ctx := context.Background()
	n, s := cluster(t, "a", "b")
	a, b := s[0], s[1]
	if err := b.Clone(ctx, pg.CloneRequest{Upstream: a.Addr()}); !errors.Is(err, pg.ErrAlreadyRunning) {
		t.Errorf("clone over a running server: %v", err)
	}
	must(t, b.Stop(ctx, pg.StopFast))
	if err := b.Clone(ctx, pg.CloneRequest{Upstream: a.Addr()}); !errors.Is(err, pg.ErrDataDirNotEmpty) {
		t.Errorf("clone over data: %v", err)
	}
	a.Isolate()
	var ue *pgtest.UnreachableError
	if err := b.Clone(ctx, pg.CloneRequest{Upstream: a.Addr(), Replace: true}); !errors.As(err, &ue) {
		t.Errorf("clone from an isolated upstream: %v", err)
	}
	a.Rejoin()
	c := commit(t, a, 10)
	must(t, b.RemoveData(ctx))
	if empty, _, _ := b.Inspect(); !empty {
		t.Fatal("RemoveData left data")
	}
	must(t, b.Clone(ctx, pg.CloneRequest{Upstream: a.Addr()}))
	if !b.Has(c) || b.State() != pg.StateStopped {
		t.Fatal("clone did not copy the upstream's WAL or did not leave the server stopped")
	}
	// A replica cloned from a replica streams from it.
	x := n.NewServer("x")
	must(t, x.Clone(ctx, pg.CloneRequest{Upstream: a.Addr()}))
	must(t, x.Follow(ctx, pg.FollowConfig{Upstream: a.Addr()}))
	must(t, b.Follow(ctx, pg.FollowConfig{Upstream: x.Addr()}))
	c2 := commit(t, a, 10)
	settle(n)
	if !b.Has(c2) {
		t.Fatal("cascading replica did not catch up")
	}
}

// TestCloneMethods: CloneRequest.Methods picks the methods in order; a
// restore method copies its backup without an upstream; an undefined
// name, or no upstream and no restore method, changes nothing; every
// request is recorded.
func TestCloneMethods(t *testing.T) {
	ctx := context.Background()
	n, s := cluster(t, "a")
	a := s[0]
	c := commit(t, a, 10)
	b := n.NewServer("b")
	b.AddRestoreMethod("restore", a)
	for _, tc := range []struct {
		name string
		req  pg.CloneRequest
	}{
		{"undefined", pg.CloneRequest{Upstream: a.Addr(), Methods: []string{"basebackup", "nope"}}},
		{"no upstream, no restore method", pg.CloneRequest{Methods: []string{"basebackup"}}},
		{"no upstream, default", pg.CloneRequest{}},
	} {
		if err := b.Clone(ctx, tc.req); !errors.Is(err, pg.ErrInvalidConfig) {
			t.Errorf("%s: err %v, want ErrInvalidConfig", tc.name, err)
		}
		if empty, _, _ := b.Inspect(); !empty {
			t.Fatalf("%s: the refused clone created data", tc.name)
		}
	}
	a.Isolate()
	must(t, b.Clone(ctx, pg.CloneRequest{Methods: []string{"basebackup", "restore"}}))
	if !b.Has(c) || b.State() != pg.StateStopped {
		t.Fatal("the restore did not copy the backup's WAL or did not leave the server stopped")
	}
	reqs := b.CloneRequests()
	if len(reqs) != 4 || len(reqs[3].Methods) != 2 || reqs[3].Methods[1] != "restore" {
		t.Errorf("recorded requests %+v", reqs)
	}
}

// TestSyncCommit checks when commits are acknowledged, with replicas b, c
// and d of primary a.
func TestSyncCommit(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		sync     pg.SyncStandbys
		isolate  []int // indexes of replicas (1..3) cut off before the commit
		ackAt    bool  // acknowledged at once
		ackAfter bool  // acknowledged after a Step
	}{
		{name: "async", ackAt: true, ackAfter: true},
		{name: "FIRST 1 connected", sync: pg.SyncStandbys{Num: 1, Names: []string{"b", "c"}}, ackAfter: true},
		{name: "FIRST 1 first one gone", sync: pg.SyncStandbys{Num: 1, Names: []string{"b", "c"}}, isolate: []int{1}, ackAfter: true},
		{name: "FIRST 2 one gone", sync: pg.SyncStandbys{Num: 2, Names: []string{"b", "c"}}, isolate: []int{1}},
		{name: "FIRST 1 unlisted streams", sync: pg.SyncStandbys{Num: 1, Names: []string{"b"}}, isolate: []int{1}},
		{name: "ANY 2 one of three gone", sync: pg.SyncStandbys{Method: pg.SyncAny, Num: 2, Names: []string{"b", "c", "d"}}, isolate: []int{2}, ackAfter: true},
		{name: "ANY 2 two of three gone", sync: pg.SyncStandbys{Method: pg.SyncAny, Num: 2, Names: []string{"b", "c", "d"}}, isolate: []int{1, 3}},
		{name: "star", sync: pg.SyncStandbys{Num: 1, Names: []string{"*"}}, isolate: []int{1, 2}, ackAfter: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, s := cluster(t, "a", "b", "c", "d")
			a := s[0]
			must(t, a.SetSynchronousStandbyNames(ctx, tc.sync))
			for _, i := range tc.isolate {
				s[i].Isolate()
			}
			c := commit(t, a, 10)
			if c.Acknowledged() != tc.ackAt {
				t.Fatalf("acknowledged at once: %t", c.Acknowledged())
			}
			n.Step()
			if c.Acknowledged() != tc.ackAfter {
				t.Fatalf("acknowledged after Step: %t", c.Acknowledged())
			}
			if tc.ackAfter {
				return
			}
			// Clearing the setting releases the waiting commit.
			must(t, a.SetSynchronousStandbyNames(ctx, pg.SyncStandbys{}))
			if !c.Acknowledged() {
				t.Fatal("clearing synchronous_standby_names did not release the commit")
			}
		})
	}
}

func TestSyncStates(t *testing.T) {
	ctx := context.Background()
	_, s := cluster(t, "a", "b", "c", "d")
	a := s[0]
	must(t, a.SetSynchronousStandbyNames(ctx, pg.SyncStandbys{Num: 1, Names: []string{"c", "b"}}))
	st := status(t, a)
	got := map[string]string{}
	for _, r := range st.Replication {
		got[r.ApplicationName] = r.SyncState
	}
	want := map[string]string{"b": "potential", "c": "sync", "d": "async"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: sync_state %q, want %q", k, got[k], v)
		}
	}
	if st.SynchronousStandbyNames != `FIRST 1 ("c","b")` {
		t.Errorf("synchronous_standby_names %q", st.SynchronousStandbyNames)
	}
	if err := a.SetSynchronousStandbyNames(ctx, pg.SyncStandbys{Num: 3, Names: []string{"b"}}); !errors.Is(err, pg.ErrInvalidConfig) {
		t.Errorf("Num beyond Names: %v", err)
	}
}

func TestLostCommits(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		sync pg.SyncStandbys
		lost int
	}{
		{name: "async loses the unreplicated commit", lost: 1},
		{name: "sync loses nothing acknowledged", sync: pg.SyncStandbys{Num: 1, Names: []string{"b"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, s := cluster(t, "a", "b")
			a, b := s[0], s[1]
			must(t, a.SetSynchronousStandbyNames(ctx, tc.sync))
			commit(t, a, 10)
			n.Step()
			c := commit(t, a, 10) // never replicated
			a.Crash()
			if tc.sync.Names != nil && c.State() != pgtest.CommitUnknown {
				t.Fatalf("waiting commit after crash: %s", c.State())
			}
			promote(t, b)
			if lost := n.LostCommits(b); len(lost) != tc.lost {
				t.Fatalf("lost %v, want %d", lost, tc.lost)
			}
		})
	}
}

func TestShutdownCheckpoint(t *testing.T) {
	ctx := context.Background()
	_, s := cluster(t, "a", "b")
	a, b := s[0], s[1]
	if _, err := a.ShutdownCheckpoint(ctx); !errors.Is(err, pg.ErrNotCleanlyStopped) {
		t.Errorf("running: %v", err)
	}
	must(t, a.Stop(ctx, pg.StopFast))
	ckpt, err := a.ShutdownCheckpoint(ctx)
	must(t, err)
	if got := status(t, b).ReceiveLSN; got <= ckpt {
		t.Errorf("replica received %s, not past the shutdown checkpoint %s", got, ckpt)
	}
	must(t, a.Start(ctx))
	must(t, a.Fence(ctx))
	if _, err := a.ShutdownCheckpoint(ctx); !errors.Is(err, pg.ErrNotCleanlyStopped) {
		t.Errorf("fenced: %v", err)
	}
}

func TestFaults(t *testing.T) {
	ctx := context.Background()
	_, s := cluster(t, "a", "b")
	a, b := s[0], s[1]
	boom := errors.New("boom")
	must(t, b.Stop(ctx, pg.StopFast))
	b.FailNext("Start", boom)
	if err := b.Start(ctx); !errors.Is(err, boom) || b.State() != pg.StateStartFailed {
		t.Fatalf("Start: %v, state %s", err, b.State())
	}
	must(t, b.Start(ctx))
	a.SetStatusError(boom)
	if _, err := a.Status(ctx); !errors.Is(err, boom) {
		t.Fatalf("Status: %v", err)
	}
	a.SetStatusError(nil)
	status(t, a)
	if _, err := a.Promote(ctx); !errors.Is(err, pg.ErrNotReplica) {
		t.Errorf("promote a primary: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := a.Checkpoint(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	a.Crash()
	if a.State() != pg.StateCrashed {
		t.Fatalf("state after crash %s", a.State())
	}
	if st := status(t, a); st.State != pg.StateCrashed || st.Role != pg.RoleUnknown {
		t.Errorf("crashed status %+v", st)
	}
	if _, err := a.Commit(1); !errors.Is(err, pg.ErrNotRunning) {
		t.Errorf("commit on a crashed server: %v", err)
	}
}

// TestConcurrent exercises the locking under the race detector: the
// Controller calls an Instance from several goroutines.
func TestConcurrent(t *testing.T) {
	ctx := context.Background()
	n, s := cluster(t, "a", "b", "c")
	must(t, s[0].SetSynchronousStandbyNames(ctx, pg.SyncStandbys{Method: pg.SyncAny, Num: 1, Names: []string{"b", "c"}}))
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				switch i {
				case 0:
					n.Step()
				case 1:
					if c, err := s[0].Commit(8); err == nil {
						_ = c.State()
					}
				default:
					for _, x := range s {
						_, _ = x.Status(ctx)
						_, _ = x.Slots(ctx)
					}
				}
			}
		}()
	}
	wg.Wait()
	settle(n)
	if lost := n.LostCommits(s[1]); len(lost) != 0 {
		t.Fatalf("replica misses acknowledged commits: %v", lost)
	}
}

func TestDemoteRestartReload(t *testing.T) {
	ctx := context.Background()
	n, s := cluster(t, "a", "b")
	a, b := s[0], s[1]
	c := commit(t, a, 10)
	must(t, a.Demote(ctx, pg.StopFast, pg.FollowConfig{}))
	if st := status(t, a); st.Role != pg.RoleReplica || st.Receiver != pg.ReceiverArchive {
		t.Fatalf("demoted status %+v", st)
	}
	n.Step()
	if !b.Has(c) {
		t.Fatal("the demoted primary's replica lacks its last commit")
	}
	promote(t, b)
	must(t, a.Follow(ctx, pg.FollowConfig{Upstream: b.Addr(), ApplicationName: "app-a"}))
	must(t, b.SetSynchronousStandbyNames(ctx, pg.SyncStandbys{Num: 1, Names: []string{"app-a"}}))
	bc := commit(t, b, 10)
	n.Step()
	if !bc.Acknowledged() || !a.Has(bc) {
		t.Fatal("the old primary does not follow the new one after a clean demotion")
	}
	must(t, a.Restart(ctx, pg.StopFast))
	must(t, a.Reload(ctx))
	must(t, a.Stop(ctx, pg.StopFast))
	must(t, a.Stop(ctx, pg.StopFast)) // stopping a stopped server is fine
	if err := a.Reload(ctx); !errors.Is(err, pg.ErrNotRunning) {
		t.Errorf("reload of a stopped server: %v", err)
	}
}
