package etcd_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/etcd"
	"github.com/pgha/pgha/internal/testutil"
)

const watchWait = 30 * time.Second

// TestWatchCompaction checks both ways compaction reaches a watcher: a
// watch asked to start at an already compacted revision, and an idle
// watcher whose connection drops while the history it would resume from is
// compacted. Each time the watcher gets a Snapshot resync holding the
// latest values, then ordinary events again.
func TestWatchCompaction(t *testing.T) {
	c := testutil.StartEtcd(t, 1)
	raw := c.Client(t)
	ctx := opCtx(t)
	s := newStore(t, etcd.Config{Endpoints: c.Endpoints(), Scope: "compact"})
	compact := func(rev int64) {
		t.Helper()
		if _, err := raw.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
			t.Fatalf("Compact(%d): %v", rev, err)
		}
	}

	t.Run("StartAtCompactedRevision", func(t *testing.T) {
		r0 := mustPut(t, s, dcs.KeyConfig, "v0", 0, dcs.Cond{})
		mustPut(t, s, dcs.KeyConfig, "v1", 0, dcs.Cond{})
		r2 := mustPut(t, s, dcs.KeyConfig, "v2", 0, dcs.Cond{})
		compact(r2)
		w := startWatch(t, s, r0)
		first := w.next(watchWait)
		if !snapshotHas(first, dcs.KeyConfig, "v2") || first.Revision < r2 || len(first.Events) != 0 {
			t.Fatalf("first response %+v, want a resync snapshot with config=v2 at revision >= %d", first, r2)
		}
		r3 := mustPut(t, s, dcs.KeyConfig, "v3", 0, dcs.Cond{})
		r := w.next(watchWait)
		if !hasEvent(r, dcs.KeyConfig, "v3") || r.Snapshot != nil || r.Revision != r3 {
			t.Fatalf("after the resync got %+v, want the put of v3 at %d", r, r3)
		}
	})

	t.Run("IdleWatcherReconnects", func(t *testing.T) {
		p := testutil.NewProxy(t, hostPort(t, c.Endpoint(0)))
		ws := newStore(t, etcd.Config{Endpoints: []string{p.URL()}, Scope: "compact"})
		from := mustPut(t, s, dcs.KeyConfig, "w0", 0, dcs.Cond{})
		w := startWatch(t, ws, from)
		mustPut(t, s, dcs.KeyConfig, "w1", 0, dcs.Cond{})
		if r := w.next(watchWait); !hasEvent(r, dcs.KeyConfig, "w1") {
			t.Fatalf("got %+v, want the put of w1", r)
		}

		// The watcher's connection dies; meanwhile the cluster moves on
		// and compacts the revisions the watcher would resume from.
		p.Refuse()
		p.CutConnections()
		mustPut(t, s, dcs.KeyConfig, "w2", 0, dcs.Cond{})
		mustPut(t, s, dcs.KeyStatus, `{"optime":7}`, 0, dcs.Cond{})
		r := mustPut(t, s, dcs.KeyConfig, "w3", 0, dcs.Cond{})
		compact(r)
		p.Pass()

		got := w.until(watchWait, func(r dcs.WatchResponse) bool { return r.Snapshot != nil })
		last := got[len(got)-1]
		if len(got) != 1 || !snapshotHas(last, dcs.KeyConfig, "w3") || !snapshotHas(last, dcs.KeyStatus, `{"optime":7}`) {
			t.Fatalf("after reconnecting got %+v, want one resync snapshot with config=w3 and the status", got)
		}
		r4 := mustPut(t, s, dcs.KeyConfig, "w4", 0, dcs.Cond{})
		if r := w.next(watchWait); !hasEvent(r, dcs.KeyConfig, "w4") || r.Revision != r4 {
			t.Fatalf("after the resync got %+v, want the put of w4 at %d", r, r4)
		}
	})
}

// TestWatchIsolatedMember connects a store to one etcd member only and cuts
// that member from its peers. While it is cut off, reads through it fail as
// unavailable (never a stale snapshot) and, because the watch requires a
// leader, the member cancels the watch stream instead of leaving it silently
// stale. Once healed, the watcher resyncs with a snapshot holding the write
// made during the partition and then follows events again.
func TestWatchIsolatedMember(t *testing.T) {
	c := testutil.StartEtcd(t, 3)
	ctx := opCtx(t)
	leader := c.WaitLeader(t)
	i := (leader + 1) % 3 // a follower: the cluster keeps its leader
	var others []string
	for j := range 3 {
		if j != i {
			others = append(others, c.Endpoint(j))
		}
	}
	cut := newStore(t, etcd.Config{Endpoints: []string{c.Endpoint(i)}, Scope: "iso", RequestTimeout: time.Second})
	rest := newStore(t, etcd.Config{Endpoints: others, Scope: "iso"})

	from := mustPut(t, rest, dcs.KeyConfig, "a", 0, dcs.Cond{})
	w := startWatch(t, cut, from)
	mustPut(t, rest, dcs.KeyConfig, "b", 0, dcs.Cond{})
	if r := w.next(watchWait); !hasEvent(r, dcs.KeyConfig, "b") {
		t.Fatalf("got %+v, want the put of b", r)
	}

	// A raw require-leader watch on the same member tells when the member
	// has given up on its leader and cancelled such streams.
	probeCli := c.ClientFor(t, c.Endpoint(i))
	probe := probeCli.Watch(clientv3.WithRequireLeader(ctx), "/probe")

	c.Isolate(t, i)
	testutil.Eventually(t, watchWait, func() error {
		_, err := cut.Get(ctx)
		if errors.Is(err, dcs.ErrUnavailable) {
			return nil
		}
		return fmt.Errorf("Get through the isolated member = %v, want ErrUnavailable", err)
	}, "reads through an isolated member must fail")
	// Written once the member is cut off for sure: a put made just after
	// Isolate may still reach it (raft messages already in flight), and
	// delivering that one would be right.
	mustPut(t, rest, dcs.KeyConfig, "c", 0, dcs.Cond{})
	if _, err := cut.Put(ctx, dcs.KeyStatus, []byte("x"), 0, dcs.Cond{}); !errors.Is(err, dcs.ErrUnavailable) {
		t.Fatalf("Put through the isolated member = %v, want ErrUnavailable", err)
	}
	waitNoLeader(t, probe)
	select {
	case r, ok := <-w.ch:
		t.Fatalf("watch delivered %+v (open %v) while its member was cut off", r, ok)
	default:
	}

	c.Heal(t, i)
	got := w.until(watchWait, func(r dcs.WatchResponse) bool { return r.Snapshot != nil })
	if last := got[len(got)-1]; len(got) != 1 || !snapshotHas(last, dcs.KeyConfig, "c") {
		t.Fatalf("after healing got %+v, want one resync snapshot with config=c", got)
	}
	mustPut(t, rest, dcs.KeyConfig, "d", 0, dcs.Cond{})
	if r := w.next(watchWait); !hasEvent(r, dcs.KeyConfig, "d") {
		t.Fatalf("after the resync got %+v, want the put of d", r)
	}
}

// waitNoLeader waits until a require-leader watch reports that its member
// lost the leader.
func waitNoLeader(t *testing.T, ch clientv3.WatchChan) {
	t.Helper()
	timer := time.NewTimer(watchWait)
	defer timer.Stop()
	for {
		select {
		case r, ok := <-ch:
			if !ok || errors.Is(r.Err(), rpctypes.ErrNoLeader) {
				return
			}
		case <-timer.C:
			t.Fatal("the isolated member never cancelled require-leader watches")
		}
	}
}

// TestWatchSurvivesKilledMember kills the member a watching store is
// connected to: the store's client moves to another endpoint and the watch
// delivers the write made while its member was gone, then later events.
func TestWatchSurvivesKilledMember(t *testing.T) {
	c := testutil.StartEtcd(t, 3)
	leader := c.WaitLeader(t)
	i, j := (leader+1)%3, (leader+2)%3
	// The second endpoint refuses at first, so the watch stream is opened
	// on member i.
	pj := testutil.NewProxy(t, hostPort(t, c.Endpoint(j)))
	pj.Refuse()
	s := newStore(t, etcd.Config{Endpoints: []string{c.Endpoint(i), pj.URL()}, Scope: "kill"})
	rest := newStore(t, etcd.Config{Endpoints: []string{c.Endpoint(leader), c.Endpoint(j)}, Scope: "kill"})

	from := mustPut(t, rest, dcs.KeyConfig, "a", 0, dcs.Cond{})
	w := startWatch(t, s, from)
	mustPut(t, rest, dcs.KeyConfig, "b", 0, dcs.Cond{})
	if r := w.next(watchWait); !hasEvent(r, dcs.KeyConfig, "b") {
		t.Fatalf("got %+v, want the put of b", r)
	}
	pj.Pass()
	c.Kill(t, i)
	mustPut(t, rest, dcs.KeyConfig, "c", 0, dcs.Cond{})
	w.until(watchWait, func(r dcs.WatchResponse) bool {
		return hasEvent(r, dcs.KeyConfig, "c") || snapshotHas(r, dcs.KeyConfig, "c")
	})
	mustPut(t, rest, dcs.KeyConfig, "d", 0, dcs.Cond{})
	if r := w.next(watchWait); !hasEvent(r, dcs.KeyConfig, "d") {
		t.Fatalf("got %+v, want the put of d", r)
	}
	if _, err := s.Get(opCtx(t)); err != nil {
		t.Fatalf("Get after losing a member: %v", err)
	}
}
