package etcd_test

import (
	"context"
	"log/slog"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/etcd"
)

// quietLogger keeps the etcd client's reconnect chatter out of test output
// unless it is a warning or worse.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// newStore builds a Store from cfg (logger defaulted) closed by t.Cleanup.
func newStore(t testing.TB, cfg etcd.Config) *etcd.Store {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	s, err := etcd.New(cfg)
	if err != nil {
		t.Fatalf("etcd.New(endpoints %v, scope %q): %v", cfg.Endpoints, cfg.Scope, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// hostPort turns "http://127.0.0.1:2379" into "127.0.0.1:2379".
func hostPort(t testing.TB, endpoint string) string {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatalf("parse endpoint %q: %v", endpoint, err)
	}
	return u.Host
}

// opCtx bounds one call made by a test.
func opCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustPut(t testing.TB, s dcs.Store, key, value string, lease dcs.LeaseID, cond dcs.Cond) int64 {
	t.Helper()
	rev, err := s.Put(opCtx(t), key, []byte(value), lease, cond)
	if err != nil {
		t.Fatalf("Put(%q, %q): %v", key, value, err)
	}
	return rev
}

func find(snap dcs.Snapshot, key string) (dcs.KV, bool) {
	for _, kv := range snap.KVs {
		if kv.Key == key {
			return kv, true
		}
	}
	return dcs.KV{}, false
}

// watcher reads a Store watch, ended and drained by t.Cleanup.
type watcher struct {
	t  testing.TB
	ch <-chan dcs.WatchResponse
}

func startWatch(t testing.TB, s dcs.Store, rev int64) *watcher {
	ctx, cancel := context.WithCancel(context.Background())
	ch := s.Watch(ctx, rev)
	t.Cleanup(func() {
		cancel()
		for range ch {
		}
	})
	return &watcher{t: t, ch: ch}
}

// next returns the next response, failing after timeout or on a closed
// channel.
func (w *watcher) next(timeout time.Duration) dcs.WatchResponse {
	w.t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case r, ok := <-w.ch:
		if !ok {
			w.t.Fatal("watch channel closed")
		}
		return r
	case <-timer.C:
		w.t.Fatalf("no watch response within %v", timeout)
	}
	return dcs.WatchResponse{}
}

// until reads responses until match accepts one, failing after timeout; it
// returns every response read.
func (w *watcher) until(timeout time.Duration, match func(dcs.WatchResponse) bool) []dcs.WatchResponse {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	var got []dcs.WatchResponse
	for {
		left := time.Until(deadline)
		if left <= 0 {
			w.t.Fatalf("no matching watch response within %v; got %+v", timeout, got)
		}
		r := w.next(left)
		got = append(got, r)
		if match(r) {
			return got
		}
	}
}

// hasEvent reports whether r carries a put of key=value.
func hasEvent(r dcs.WatchResponse, key, value string) bool {
	for _, ev := range r.Events {
		if ev.Type == dcs.EventPut && ev.KV.Key == key && string(ev.KV.Value) == value {
			return true
		}
	}
	return false
}

// snapshotHas reports whether r is a resync whose snapshot has key=value.
func snapshotHas(r dcs.WatchResponse, key, value string) bool {
	if r.Snapshot == nil {
		return false
	}
	kv, ok := find(*r.Snapshot, key)
	return ok && string(kv.Value) == value
}
