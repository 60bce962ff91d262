package memory_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/clock"
	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/memory"
)

var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// newFake returns a cluster on a fake clock, closed by t.Cleanup.
func newFake(t *testing.T, opts memory.ClusterOptions) (*memory.Cluster, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(epoch)
	opts.Clock = clk
	c := memory.NewCluster(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c, clk
}

func open(t *testing.T, c *memory.Cluster, opts memory.StoreOptions) *memory.Store {
	t.Helper()
	s := c.Store(dcs.Prefix("", "test"), opts)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// async runs fn in a goroutine and returns its result channel.
func async(fn func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- fn() }()
	return ch
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting")
		panic("unreachable")
	}
}

func mustNotReceive[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("%s: got %v", what, v)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestFaults(t *testing.T) {
	ctx := context.Background()
	const timeout = 2 * time.Second
	tests := []struct {
		name    string
		fault   memory.Fault
		advance time.Duration // virtual time until the call returns
		wantErr bool
		applied bool
	}{
		{"unavailable fails fast", memory.Fault{Unavailable: true}, 0, true, false},
		{"hang times out", memory.Fault{Hang: true}, timeout, true, false},
		{"hang wins over unavailable", memory.Fault{Hang: true, Unavailable: true}, timeout, true, false},
		{"delay below timeout applies", memory.Fault{Delay: time.Second}, time.Second, false, true},
		{"delay beyond timeout times out", memory.Fault{Delay: 3 * time.Second}, timeout, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, clk := newFake(t, memory.ClusterOptions{})
			node := open(t, c, memory.StoreOptions{RequestTimeout: timeout})
			peer := open(t, c, memory.StoreOptions{RequestTimeout: timeout})
			node.SetFault(tc.fault)
			if node.Fault() != tc.fault {
				t.Fatalf("Fault() = %+v", node.Fault())
			}
			done := async(func() error {
				_, err := node.Put(ctx, "config", []byte("x"), 0, dcs.Cond{})
				return err
			})
			if tc.advance > 0 {
				mustNotReceive(t, done, "call returned before the clock moved")
				clk.BlockUntil(1)
				clk.Advance(tc.advance - time.Nanosecond)
				mustNotReceive(t, done, "call returned early")
				clk.Advance(time.Nanosecond)
			}
			err := recv(t, done)
			if tc.wantErr != (err != nil) || (err != nil && !errors.Is(err, dcs.ErrUnavailable)) {
				t.Fatalf("Put = %v, want error %v (ErrUnavailable)", err, tc.wantErr)
			}
			// The peer is unaffected.
			snap, err := peer.Get(ctx)
			if err != nil {
				t.Fatalf("peer Get: %v", err)
			}
			if got := len(snap.KVs) == 1; got != tc.applied {
				t.Fatalf("write applied = %v, want %v", got, tc.applied)
			}
			node.SetFault(memory.Fault{})
			if _, err := node.Get(ctx); err != nil {
				t.Fatalf("Get after clearing the fault: %v", err)
			}
		})
	}
}

func TestFaultContextEndsHang(t *testing.T) {
	c, _ := newFake(t, memory.ClusterOptions{})
	s := open(t, c, memory.StoreOptions{})
	s.SetFault(memory.Fault{Hang: true})
	ctx, cancel := context.WithCancel(context.Background())
	done := async(func() error { _, err := s.Get(ctx); return err })
	mustNotReceive(t, done, "hanging Get returned")
	cancel()
	if err := recv(t, done); !errors.Is(err, dcs.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Get = %v, want ErrUnavailable and context.Canceled", err)
	}
}

func TestWatchPausedByFault(t *testing.T) {
	ctx := context.Background()
	c, _ := newFake(t, memory.ClusterOptions{})
	node := open(t, c, memory.StoreOptions{})
	peer := open(t, c, memory.StoreOptions{})
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := node.Watch(wctx, 0)
	node.SetUnavailable(true)
	var revs []int64
	for i := range 3 {
		rev, err := peer.Put(ctx, "k", []byte{byte('a' + i)}, 0, dcs.Cond{})
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, rev)
	}
	mustNotReceive(t, ch, "watch delivered while cut off")
	node.SetUnavailable(false)
	for i, want := range revs {
		resp := recv(t, ch)
		if resp.Snapshot != nil || len(resp.Events) != 1 || resp.Events[0].KV.ModRevision != want {
			t.Fatalf("response %d = %+v, want the put at %d", i, resp, want)
		}
	}
}

func TestWatchCompacted(t *testing.T) {
	ctx := context.Background()
	c, _ := newFake(t, memory.ClusterOptions{HistoryLimit: 4})
	s := open(t, c, memory.StoreOptions{})
	start := c.Revision()
	for i := range 10 {
		if _, err := s.Put(ctx, fmt.Sprintf("k%d", i), []byte("v"), 0, dcs.Cond{}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name       string
		from       int64
		wantResync bool
	}{
		{"compacted revision", start, true},
		{"retained revision", c.Revision() - 2, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			ch := s.Watch(wctx, tc.from)
			resp := recv(t, ch)
			if got := resp.Snapshot != nil; got != tc.wantResync {
				t.Fatalf("first response %+v, resync %v, want %v", resp, got, tc.wantResync)
			}
			if tc.wantResync {
				if resp.Snapshot.Revision != c.Revision() || len(resp.Snapshot.KVs) != 10 || len(resp.Events) != 0 {
					t.Fatalf("snapshot %+v, want 10 keys at %d", resp.Snapshot, c.Revision())
				}
			} else if len(resp.Events) != 1 || resp.Events[0].KV.ModRevision != tc.from+1 {
				t.Fatalf("first response %+v, want the event at %d", resp, tc.from+1)
			}
		})
	}
	// Explicit compaction of everything.
	c.Compact(c.Revision())
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := s.Watch(wctx, c.Revision()-1)
	if resp := recv(t, ch); resp.Snapshot == nil {
		t.Fatalf("watch from a compacted revision got %+v, want a snapshot", resp)
	}
	rev, err := s.Put(ctx, "after", nil, 0, dcs.Cond{})
	if err != nil {
		t.Fatal(err)
	}
	if resp := recv(t, ch); resp.Snapshot != nil || len(resp.Events) != 1 || resp.Events[0].KV.ModRevision != rev {
		t.Fatalf("after the snapshot got %+v, want the put at %d", resp, rev)
	}
}

func TestSlowWatcherResync(t *testing.T) {
	ctx := context.Background()
	c, _ := newFake(t, memory.ClusterOptions{})
	s := open(t, c, memory.StoreOptions{WatchBuffer: 3})
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := s.Watch(wctx, 0)
	// The writer must not block on the reader that reads nothing.
	var last int64
	for i := range 100 {
		rev, err := s.Put(ctx, "k", []byte(fmt.Sprint(i)), 0, dcs.Cond{})
		if err != nil {
			t.Fatal(err)
		}
		last = rev
	}
	// The watcher sees a contiguous run of events, broken only by resync
	// snapshots (at least one), ending at the last write.
	cur, value, resyncs := c.Revision()-100, "", 0
	for cur < last {
		resp := recv(t, ch)
		if snap := resp.Snapshot; snap != nil {
			if snap.Revision < cur || len(snap.KVs) != 1 {
				t.Fatalf("resync snapshot %+v after revision %d", snap, cur)
			}
			resyncs++
			cur, value = snap.Revision, string(snap.KVs[0].Value)
			continue
		}
		for _, ev := range resp.Events {
			if ev.KV.ModRevision != cur+1 {
				t.Fatalf("event at %d after revision %d without a resync", ev.KV.ModRevision, cur)
			}
			cur, value = ev.KV.ModRevision, string(ev.KV.Value)
		}
	}
	if resyncs == 0 || cur != last || value != "99" {
		t.Fatalf("ended at %d with k=%q after %d resyncs, want k=99 at %d and a resync", cur, value, resyncs, last)
	}
	t.Logf("%d resyncs", resyncs)
	rev, err := s.Put(ctx, "k", []byte("100"), 0, dcs.Cond{})
	if err != nil {
		t.Fatal(err)
	}
	if resp := recv(t, ch); len(resp.Events) != 1 || resp.Events[0].KV.ModRevision != rev {
		t.Fatalf("after the resync got %+v, want the put at %d", resp, rev)
	}
}

func TestLeaseExpiryOnFakeClock(t *testing.T) {
	ctx := context.Background()
	c, clk := newFake(t, memory.ClusterOptions{})
	s := open(t, c, memory.StoreOptions{})
	id, err := s.Grant(ctx, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := s.Put(ctx, dcs.KeyLeader, []byte("a"), id, dcs.Cond{Absent: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, dcs.MemberKey("a"), []byte("{}"), id, dcs.Cond{}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := s.Watch(wctx, 0)

	clk.Advance(6 * time.Second)
	if err := s.KeepAlive(ctx, id); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10*time.Second - time.Nanosecond)
	c.ExpireNow()
	if snap, _ := s.Get(ctx); len(snap.KVs) != 2 {
		t.Fatalf("keys gone before TTL after the keepalive: %+v", snap)
	}
	// Reaching the deadline expires the lease without any call: the
	// background timer delivers the deletes, in one revision, sorted by key.
	clk.Advance(time.Nanosecond)
	resp := recv(t, ch)
	if len(resp.Events) != 2 || resp.Revision != rev+2 ||
		resp.Events[0].KV.Key != dcs.KeyLeader || resp.Events[1].KV.Key != dcs.MemberKey("a") ||
		resp.Events[0].Type != dcs.EventDelete || resp.Events[1].KV.ModRevision != rev+2 {
		t.Fatalf("expiry response %+v, want deletes of leader and members/a at %d", resp, rev+2)
	}
	if err := s.KeepAlive(ctx, id); !errors.Is(err, dcs.ErrLeaseLost) {
		t.Fatalf("KeepAlive = %v, want ErrLeaseLost", err)
	}
}

// TestRenewAllLeases: a raft leader change in etcd restarts every lease's
// TTL; a key then outlives its holder's last keepalive by up to a TTL.
func TestRenewAllLeases(t *testing.T) {
	ctx := context.Background()
	c, clk := newFake(t, memory.ClusterOptions{})
	s := open(t, c, memory.StoreOptions{})
	id, err := s.Grant(ctx, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, dcs.KeyLeader, []byte("a"), id, dcs.Cond{Absent: true}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(8 * time.Second)
	c.RenewAllLeases()
	clk.Advance(10*time.Second - time.Nanosecond)
	c.ExpireNow()
	if snap, _ := s.Get(ctx); len(snap.KVs) != 1 {
		t.Fatalf("leader key gone before the renewed TTL: %+v", snap)
	}
	clk.Advance(time.Nanosecond)
	c.ExpireNow()
	if snap, _ := s.Get(ctx); len(snap.KVs) != 0 {
		t.Fatalf("leader key outlived the renewed TTL: %+v", snap)
	}
	// An expired lease is not brought back.
	clk.Advance(time.Second)
	c.RenewAllLeases()
	if err := s.KeepAlive(ctx, id); !errors.Is(err, dcs.ErrLeaseLost) {
		t.Fatalf("KeepAlive after expiry and renewal = %v, want ErrLeaseLost", err)
	}
}

// TestDeterminism runs the same scripted scenario on two fresh clusters
// and compares everything observable: errors, revisions, lease IDs and the
// watch trace.
func TestDeterminism(t *testing.T) {
	run := func() string {
		ctx := context.Background()
		c, clk := newFake(t, memory.ClusterOptions{HistoryLimit: 8})
		nodes := []*memory.Store{open(t, c, memory.StoreOptions{}), open(t, c, memory.StoreOptions{}), open(t, c, memory.StoreOptions{})}
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		ch := nodes[0].Watch(wctx, 0)
		var log strings.Builder
		leases := make([]dcs.LeaseID, len(nodes))
		for i, n := range nodes {
			id, err := n.Grant(ctx, time.Duration(5+i)*time.Second)
			leases[i] = id
			fmt.Fprintf(&log, "grant %d %v\n", id, err)
		}
		for step := range 30 {
			i := step % len(nodes)
			n := nodes[i]
			rev, err := n.Put(ctx, dcs.KeyLeader, []byte(fmt.Sprint(i)), leases[i], dcs.Cond{Absent: true})
			fmt.Fprintf(&log, "step %d acquire %d %v\n", step, rev, err)
			rev, err = n.Put(ctx, dcs.MemberKey(fmt.Sprint(i)), []byte(fmt.Sprint(step)), leases[i], dcs.Cond{})
			fmt.Fprintf(&log, "step %d member %d %v\n", step, rev, err)
			if step%4 != 0 {
				err = n.KeepAlive(ctx, leases[i])
				fmt.Fprintf(&log, "step %d keepalive %v\n", step, err)
			}
			if errors.Is(err, dcs.ErrLeaseLost) {
				leases[i], err = n.Grant(ctx, 5*time.Second)
				fmt.Fprintf(&log, "step %d regrant %d %v\n", step, leases[i], err)
			}
			clk.Advance(2 * time.Second)
			c.ExpireNow()
		}
		end := c.Revision()
		for seen := int64(0); seen < end; {
			resp := recv(t, ch)
			fmt.Fprintf(&log, "watch %d snapshot=%v", resp.Revision, resp.Snapshot != nil)
			for _, ev := range resp.Events {
				fmt.Fprintf(&log, " %v %s=%q c%d m%d l%d", ev.Type, ev.KV.Key, ev.KV.Value, ev.KV.CreateRevision, ev.KV.ModRevision, ev.KV.Lease)
			}
			log.WriteString("\n")
			seen = resp.Revision
		}
		return log.String()
	}
	a, b := run(), run()
	if a != b {
		t.Fatalf("two runs differ:\n%s\n---\n%s", a, b)
	}
	if !strings.Contains(a, "delete") {
		t.Fatalf("scenario never expired a lease:\n%s", a)
	}
}

func TestClose(t *testing.T) {
	ctx := context.Background()
	c, _ := newFake(t, memory.ClusterOptions{})
	s := open(t, c, memory.StoreOptions{})
	other := open(t, c, memory.StoreOptions{})
	ch := s.Watch(ctx, 0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-ch; ok {
		t.Fatal("watch still open after Close")
	}
	if _, err := s.Get(ctx); !errors.Is(err, memory.ErrClosed) || !errors.Is(err, dcs.ErrUnavailable) {
		t.Fatalf("Get on a closed store = %v, want ErrClosed and ErrUnavailable", err)
	}
	if _, err := other.Get(ctx); err != nil {
		t.Fatalf("other handle: %v", err)
	}
	och := other.Watch(ctx, 0)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-och; ok {
		t.Fatal("watch still open after the cluster closed")
	}
	if _, err := other.Grant(ctx, time.Second); !errors.Is(err, memory.ErrClosed) {
		t.Fatalf("Grant after the cluster closed = %v, want ErrClosed", err)
	}
	if _, ok := <-c.Store("/x/", memory.StoreOptions{}).Watch(ctx, 0); ok {
		t.Fatal("watch on a closed cluster is open")
	}
}

func TestInvalidInput(t *testing.T) {
	ctx := context.Background()
	c, _ := newFake(t, memory.ClusterOptions{})
	s := open(t, c, memory.StoreOptions{})
	tests := []struct {
		name string
		call func() error
	}{
		{"empty key put", func() error { _, err := s.Put(ctx, "", nil, 0, dcs.Cond{}); return err }},
		{"empty key delete", func() error { return s.Delete(ctx, "", dcs.Cond{}) }},
		{"zero ttl", func() error { _, err := s.Grant(ctx, 0); return err }},
		{"negative ttl", func() error { _, err := s.Grant(ctx, -time.Second); return err }},
	}
	for _, tc := range tests {
		if err := tc.call(); !errors.Is(err, memory.ErrInvalid) {
			t.Errorf("%s = %v, want ErrInvalid", tc.name, err)
		}
	}
}
