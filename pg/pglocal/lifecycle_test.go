package pglocal

import (
	"errors"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/pgha/pgha/internal/testutil"
	"github.com/pgha/pgha/pg"
)

// TestReplicationLifecycle drives a primary and two replicas through
// streaming, promotion, re-pointing, divergence, rewind and a crash,
// checking Status in each state.
func TestReplicationLifecycle(t *testing.T) {
	ctx := ctxT(t, 200*time.Second)
	a := bootstrapPrimary(t, "node-a")

	st, err := a.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != pg.StateRunning || st.Role != pg.RolePrimary || st.Timeline != 1 || st.SystemID == 0 ||
		st.ServerVersion < 150000 || st.PostmasterStart.IsZero() || st.FlushLSN == 0 ||
		st.Receiver != pg.ReceiverNone || st.ReplayLSN != 0 || st.WALPosition() != st.FlushLSN {
		t.Fatalf("primary status: %+v", st)
	}

	b := cloneReplica(t, a, "node-b")
	c := cloneReplica(t, a, "node-c")
	mustExec(t, a, "CREATE TABLE t (id int PRIMARY KEY, note text); INSERT INTO t SELECT g, 'v1' FROM generate_series(1, 100) g")

	t.Run("replicas stream and receive rows", func(t *testing.T) {
		for _, r := range []*Local{b, c} {
			waitCount(t, r, "SELECT count(*) FROM t", 100)
			rs := waitStreaming(t, r, 1)
			if rs.SystemID != st.SystemID || rs.ReceiveLSN == 0 || rs.ReplayLSN == 0 || rs.FlushLSN != 0 ||
				rs.ReceiverUpstream != "127.0.0.1" {
				t.Errorf("%s status: %+v", r.cfg.Name, rs)
			}
		}
		testutil.Eventually(t, 30*time.Second, func() error {
			st, err := a.Status(ctx)
			if err != nil {
				return err
			}
			var names []string
			for _, r := range st.Replication {
				if r.State == "streaming" {
					names = append(names, r.ApplicationName)
				}
			}
			if !slices.Equal(names, []string{"node-b", "node-c"}) {
				return fmt.Errorf("streaming replicas %v", names)
			}
			return nil
		}, "primary lists both replicas")
		slots, err := a.Slots(ctx)
		if err != nil || len(slots) != 2 || slots[0].Name != "node_b" || !slots[0].Active || slots[0].Type != "physical" {
			t.Errorf("slots %+v, %v", slots, err)
		}
	})

	// A clean switchover: the old primary stops first, both replicas get
	// its shutdown checkpoint.
	if err := a.Stop(ctx, pg.StopFast); err != nil {
		t.Fatal(err)
	}
	if st, err := a.Status(ctx); err != nil || st.State != pg.StateStopped || st.Role != pg.RoleUnknown {
		t.Fatalf("stopped status %+v, %v", st, err)
	}
	tli, err := b.Promote(ctx)
	if err != nil || tli != 2 {
		t.Fatalf("promote: timeline %d, %v", tli, err)
	}
	mustExec(t, b, "INSERT INTO t VALUES (101, 'after promote')")
	if st, err := b.Status(ctx); err != nil || st.Role != pg.RolePrimary || st.Timeline != 2 {
		t.Fatalf("promoted status %+v, %v", st, err)
	}

	t.Run("re-pointed replica loses nothing", func(t *testing.T) {
		if err := b.CreateSlot(ctx, pg.SlotName("node-c")); err != nil {
			t.Fatal(err)
		}
		pid := c.runningPID()
		if err := c.Follow(ctx, pg.FollowConfig{Upstream: b.Upstream(), SlotName: pg.SlotName("node-c")}); err != nil {
			t.Fatal(err)
		}
		if c.runningPID() != pid {
			t.Errorf("re-point restarted the replica; PostgreSQL 15 should reload")
		}
		mustExec(t, b, "INSERT INTO t VALUES (102, 'after re-point')")
		waitCount(t, c, "SELECT count(*) FROM t", 102)
		waitStreaming(t, c, 2)
	})

	t.Run("cleanly stopped old primary has not diverged", func(t *testing.T) {
		d, err := a.CheckDivergence(ctx, b.Upstream())
		if err != nil {
			t.Fatal(err)
		}
		if d.Diverged || d.LocalTimeline != 1 || d.UpstreamTimeline != 2 || d.SwitchPoint == 0 {
			t.Fatalf("divergence %+v", d)
		}
	})

	t.Run("old primary written on old timeline is rewound and follows", func(t *testing.T) {
		if err := a.Start(ctx); err != nil { // a zombie primary, still on timeline 1
			t.Fatal(err)
		}
		mustExec(t, a, "INSERT INTO t VALUES (900, 'divergent'); CHECKPOINT")
		if _, err := a.CheckDivergence(ctx, b.Upstream()); !errors.Is(err, pg.ErrNotReplica) {
			t.Fatalf("divergence check on running primary: %v, want ErrNotReplica", err)
		}
		// The zombie dies hard; the check runs crash recovery first.
		if err := syscall.Kill(a.runningPID(), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		var d pg.Divergence
		testutil.Eventually(t, 30*time.Second, func() error {
			var err error
			d, err = a.CheckDivergence(ctx, b.Upstream())
			return err
		}, "divergence check after crash")
		if !d.Diverged {
			t.Fatalf("not diverged: %+v", d)
		}
		t.Logf("divergence: %s", d.Reason)
		if err := b.CreateSlot(ctx, pg.SlotName("node-a")); err != nil {
			t.Fatal(err)
		}
		if err := a.Rewind(ctx, b.Upstream()); err != nil {
			t.Fatal(err)
		}
		if err := a.Follow(ctx, pg.FollowConfig{Upstream: b.Upstream(), SlotName: pg.SlotName("node-a")}); err != nil {
			t.Fatal(err)
		}
		mustExec(t, b, "INSERT INTO t VALUES (103, 'after rewind')")
		waitCount(t, a, "SELECT count(*) FROM t", 103)
		waitCount(t, a, "SELECT count(*) FROM t WHERE note = 'divergent'", 0)
		waitStreaming(t, a, 2)
	})

	t.Run("synchronous standby names and slots", func(t *testing.T) {
		for _, s := range []pg.SyncStandbys{
			{Method: pg.SyncFirst, Num: 1, Names: []string{"node-c"}},
			{Method: pg.SyncAny, Num: 1, Names: []string{"node-a", "node-c"}},
			{},
		} {
			if err := b.SetSynchronousStandbyNames(ctx, s); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"": "async", "FIRST": "sync", "ANY": "quorum"}[string(s.Method)]
			testutil.Eventually(t, 30*time.Second, func() error {
				st, err := b.Status(ctx)
				if err != nil {
					return err
				}
				if st.SynchronousStandbyNames != s.String() {
					return fmt.Errorf("synchronous_standby_names %q", st.SynchronousStandbyNames)
				}
				for _, r := range st.Replication {
					if r.ApplicationName == "node-c" && r.SyncState == want {
						return nil
					}
				}
				return fmt.Errorf("node-c not %s in %+v", want, st.Replication)
			}, "sync state %s", want)
		}
		if err := b.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		if err := b.DropSlot(ctx, "no_such_slot"); err != nil {
			t.Fatal(err)
		}
		if err := b.CreateSlot(ctx, "Bad-Name"); !errors.Is(err, pg.ErrInvalidConfig) {
			t.Fatalf("bad slot name: %v", err)
		}
	})

	t.Run("crash is detected and recovers", func(t *testing.T) {
		pid := c.runningPID()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 10*time.Second, func() error {
			if s := c.State(); s != pg.StateCrashed {
				return fmt.Errorf("state %s", s)
			}
			return nil
		}, "crash detected")
		if st, err := c.Status(ctx); err != nil || st.State != pg.StateCrashed || st.Role != pg.RoleUnknown {
			t.Fatalf("crashed status %+v, %v", st, err)
		}
		testutil.Eventually(t, 30*time.Second, func() error {
			return c.Start(ctx)
		}, "restart after crash")
		waitCount(t, c, "SELECT count(*) FROM t", 103)
		waitStreaming(t, c, 2)
	})
	t.Run("demoted primary without upstream", func(t *testing.T) {
		if err := b.Demote(ctx, pg.StopFast, pg.FollowConfig{}); err != nil {
			t.Fatal(err)
		}
		st, err := b.Status(ctx)
		if err != nil || st.State != pg.StateRunning || st.Role != pg.RoleReplica || st.Receiver != pg.ReceiverArchive ||
			st.Timeline != 2 || st.ReplayLSN == 0 {
			t.Fatalf("demoted status %+v, %v", st, err)
		}
	})
}
