// Package dcstest is the conformance suite every [dcs.Store] backend runs:
// leader races, lease expiry, term-guarded writes, compare-and-swap,
// ordered watches, consistent reads, bounded calls against an unreachable
// store and race-free concurrent use. A backend's test calls [Run] with a
// [Backend] describing how to make stores and how time passes.
//
// The suite waits by polling with deadlines. On a backend with a virtual
// clock (Backend.Advance set) it moves that clock instead of waiting, so it
// runs in a fraction of a second; on real-time backends its deadlines are
// generous enough for a loaded two-core machine.
package dcstest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
)

// Backend describes the store under test.
type Backend struct {
	// NewStore returns a store on a fresh cluster prefix unique to this call,
	// closed by t.Cleanup.
	NewStore func(t *testing.T) dcs.Store
	// NewStoreOn returns another client on the SAME prefix as s (a second
	// node of the same cluster), closed by t.Cleanup.
	NewStoreOn func(t *testing.T, s dcs.Store) dcs.Store
	// NewUnreachableStore returns a store whose backend never answers
	// (blackholed), with the given request timeout.
	NewUnreachableStore func(t *testing.T, timeout time.Duration) dcs.Store
	// TTL is the lease TTL the suite uses (the backend's practical minimum,
	// e.g. 2s for etcd).
	TTL time.Duration
	// ExpiryTolerance is how late after TTL a lease may expire on this
	// backend.
	ExpiryTolerance time.Duration
	// Advance moves a virtual clock (memory with clock.Fake); nil for
	// real-time backends, then the suite waits.
	Advance func(d time.Duration)
	// Disrupt, when non-nil, is called once mid-suite (e.g. kill the etcd
	// leader member); the suite then checks that the store keeps working
	// (with retries bounded by a deadline).
	Disrupt func(t *testing.T)
	// NoHistory declares a backend without a change history (Consul): its
	// watch may start with a Snapshot when rev is in the past and may
	// collapse the changes between two of its reads (see dcs.Store.Watch).
	// The watch tests then check order, consistency with the writes and
	// convergence to Get instead of the exact sequence of events.
	NoHistory bool
}

// Timing constants of the suite. They are deadlines, not expectations: a
// healthy backend answers far sooner.
const (
	// opTimeout bounds every single call the suite makes.
	opTimeout = 30 * time.Second
	// waitTimeout bounds every poll for a condition.
	waitTimeout = 30 * time.Second
	// pollInterval is how often a condition is re-checked.
	pollInterval = 20 * time.Millisecond
	// longTTL is the lease TTL of tests that must not see leases expire.
	longTTL = 120 * time.Second
	// unreachableSlack is how late past its deadline a call to an
	// unreachable store may return.
	unreachableSlack = 5 * time.Second
)

// Run runs the conformance suite against b.
func Run(t *testing.T, b Backend) {
	if b.NewStore == nil || b.NewStoreOn == nil || b.NewUnreachableStore == nil {
		t.Fatal("dcstest: Backend.NewStore, NewStoreOn and NewUnreachableStore are required")
	}
	if b.TTL <= 0 {
		t.Fatalf("dcstest: Backend.TTL must be positive, got %v", b.TTL)
	}
	if b.ExpiryTolerance < 0 {
		t.Fatalf("dcstest: Backend.ExpiryTolerance must not be negative, got %v", b.ExpiryTolerance)
	}
	tests := []struct {
		name string
		fn   func(*testing.T, Backend)
	}{
		{"InvalidInput", testInvalidInput},
		{"GetConsistent", testGetConsistent},
		{"CompareAndSwap", testCompareAndSwap},
		{"LeaderRace", testLeaderRace},
		{"GuardedRelease", testGuardedRelease},
		{"GuardedWrite", testGuardedWrite},
		{"LeaseLost", testLeaseLost},
		{"LeaseRebind", testLeaseRebind},
		{"WatchOrder", testWatchOrder},
		{"WatchReplay", testWatchReplay},
		{"Disrupt", testDisrupt},
		{"LeaseExpiry", testLeaseExpiry},
		{"Unreachable", testUnreachable},
		{"Concurrent", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, b) })
	}
}

// ctx returns a context for one test, ended when the test ends.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// call runs one store call with opTimeout.
func call[T any](ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	return f(ctx)
}

func mustGet(t *testing.T, ctx context.Context, s dcs.Store) dcs.Snapshot {
	t.Helper()
	snap, err := call(ctx, s.Get)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return snap
}

func mustGrant(t *testing.T, ctx context.Context, s dcs.Store, ttl time.Duration) dcs.LeaseID {
	t.Helper()
	id, err := call(ctx, func(ctx context.Context) (dcs.LeaseID, error) { return s.Grant(ctx, ttl) })
	if err != nil {
		t.Fatalf("Grant(%v): %v", ttl, err)
	}
	if id == 0 {
		t.Fatalf("Grant(%v) returned lease 0", ttl)
	}
	return id
}

func put(ctx context.Context, s dcs.Store, key, value string, lease dcs.LeaseID, cond dcs.Cond) (int64, error) {
	return call(ctx, func(ctx context.Context) (int64, error) { return s.Put(ctx, key, []byte(value), lease, cond) })
}

func mustPut(t *testing.T, ctx context.Context, s dcs.Store, key, value string, lease dcs.LeaseID, cond dcs.Cond) int64 {
	t.Helper()
	rev, err := put(ctx, s, key, value, lease, cond)
	if err != nil {
		t.Fatalf("Put(%q, %q, lease %d, %+v): %v", key, value, lease, cond, err)
	}
	if rev <= 0 {
		t.Fatalf("Put(%q) returned revision %d", key, rev)
	}
	return rev
}

func del(ctx context.Context, s dcs.Store, key string, cond dcs.Cond) error {
	_, err := call(ctx, func(ctx context.Context) (struct{}, error) { return struct{}{}, s.Delete(ctx, key, cond) })
	return err
}

func keepAlive(ctx context.Context, s dcs.Store, id dcs.LeaseID) error {
	_, err := call(ctx, func(ctx context.Context) (struct{}, error) { return struct{}{}, s.KeepAlive(ctx, id) })
	return err
}

func revoke(ctx context.Context, s dcs.Store, id dcs.LeaseID) error {
	_, err := call(ctx, func(ctx context.Context) (struct{}, error) { return struct{}{}, s.Revoke(ctx, id) })
	return err
}

// find returns the key's KV in snap.
func find(snap dcs.Snapshot, key string) (dcs.KV, bool) {
	for _, kv := range snap.KVs {
		if kv.Key == key {
			return kv, true
		}
	}
	return dcs.KV{}, false
}

// mustKV reads key and fails unless it exists.
func mustKV(t *testing.T, ctx context.Context, s dcs.Store, key string) dcs.KV {
	t.Helper()
	kv, ok := find(mustGet(t, ctx, s), key)
	if !ok {
		t.Fatalf("key %q missing", key)
	}
	return kv
}

// mustAbsent reads and fails if key exists.
func mustAbsent(t *testing.T, ctx context.Context, s dcs.Store, key string) {
	t.Helper()
	if kv, ok := find(mustGet(t, ctx, s), key); ok {
		t.Fatalf("key %q exists (value %q, create rev %d), want absent", key, kv.Value, kv.CreateRevision)
	}
}

// eventually polls cond until it reports done or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %s", timeout, what, detail)
		}
		<-tick.C
	}
}

// watchLog collects the responses of one watch. A goroutine drains the
// backend's channel into an unbounded queue as they come, so the test never
// holds a watcher up, however long it takes to read them.
type watchLog struct {
	t      *testing.T
	mu     sync.Mutex
	queue  []dcs.WatchResponse
	closed bool
	notify chan struct{} // signalled after each change of queue or closed
}

func startWatch(t *testing.T, ctx context.Context, s dcs.Store, rev int64) *watchLog {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	ch := s.Watch(ctx, rev)
	w := &watchLog{t: t, notify: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for resp := range ch {
			w.mu.Lock()
			w.queue = append(w.queue, resp)
			w.mu.Unlock()
			w.signal()
		}
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		w.signal()
	}()
	t.Cleanup(func() {
		cancel()
		<-done // the backend closes its channel once ctx ends
	})
	return w
}

func (w *watchLog) signal() {
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// recv returns the next response; ok is false when the watch closed.
// It fails the test when timer fires first.
func (w *watchLog) recv(timer *time.Timer, what func() string) (dcs.WatchResponse, bool) {
	w.t.Helper()
	for {
		w.mu.Lock()
		if len(w.queue) > 0 {
			resp := w.queue[0]
			w.queue = w.queue[1:]
			w.mu.Unlock()
			return resp, true
		}
		closed := w.closed
		w.mu.Unlock()
		if closed {
			return dcs.WatchResponse{}, false
		}
		select {
		case <-w.notify:
		case <-timer.C:
			w.t.Fatalf("timed out after %v waiting for %s", waitTimeout, what())
		}
	}
}

// next returns the next n events, failing on a resync snapshot, a closed
// channel or the deadline.
func (w *watchLog) next(n int) []dcs.Event {
	w.t.Helper()
	var out []dcs.Event
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for len(out) < n {
		resp, ok := w.recv(timer, func() string {
			return fmt.Sprintf("%d watch events, got %d: %s", n, len(out), fmtEvents(out))
		})
		if !ok {
			w.t.Fatalf("watch closed after %d of %d events: %s", len(out), n, fmtEvents(out))
		}
		if resp.Snapshot != nil {
			w.t.Fatalf("unexpected resync snapshot at revision %d after %d of %d events", resp.Snapshot.Revision, len(out), n)
		}
		for _, ev := range resp.Events {
			if resp.Revision < ev.KV.ModRevision {
				w.t.Errorf("response revision %d below event revision %d", resp.Revision, ev.KV.ModRevision)
			}
		}
		out = append(out, resp.Events...)
	}
	if len(out) > n {
		w.t.Fatalf("got %d watch events, want %d: %s", len(out), n, fmtEvents(out))
	}
	return out
}

// converge applies responses to v until v equals want (a Get made after
// the last write), failing on a response v rejects, a closed channel or the
// deadline.
func (w *watchLog) converge(v *view, want dcs.Snapshot) {
	w.t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		diff := v.diff(want)
		if diff == "" && w.applyQueued(v) == 0 {
			// Equal with nothing queued: a queued response could still
			// break the equality (a bug, or changes that cancel out).
			w.t.Logf("watch converged to Get at revision %d (%d snapshots, %d events applied)", want.Revision, v.snapshots, v.events)
			return
		}
		if diff == "" {
			continue
		}
		resp, ok := w.recv(timer, func() string {
			return fmt.Sprintf("the watch to converge to Get at revision %d: %s", want.Revision, diff)
		})
		if !ok {
			w.t.Fatalf("watch closed before converging to Get at revision %d: %s", want.Revision, diff)
		}
		if err := v.apply(resp); err != nil {
			w.t.Fatalf("watch response: %v", err)
		}
	}
}

// applyQueued applies the responses already received to v and returns
// how many there were.
func (w *watchLog) applyQueued(v *view) int {
	w.t.Helper()
	w.mu.Lock()
	queued := w.queue
	w.queue = nil
	w.mu.Unlock()
	for _, resp := range queued {
		if err := v.apply(resp); err != nil {
			w.t.Fatalf("watch response: %v", err)
		}
	}
	return len(queued)
}

func fmtEvents(evs []dcs.Event) string {
	s := ""
	for _, ev := range evs {
		s += fmt.Sprintf("[%v %s=%q rev %d] ", ev.Type, ev.KV.Key, ev.KV.Value, ev.KV.ModRevision)
	}
	return s
}

// term returns the leader term that a successful create of the leader key
// by name at rev started.
func term(name string, rev int64) *dcs.Leader {
	return &dcs.Leader{Name: name, Revision: rev}
}
