package etcd_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/etcd"
	"github.com/pgha/pgha/internal/testutil"
)

// TestErrorMapping checks, against a real etcd, which sentinel each kind of
// failure carries: a lost comparison is a conflict (never "unavailable"), a
// dead lease is lost, an unreachable or unanswering store is unavailable,
// and bad input is none of them.
func TestErrorMapping(t *testing.T) {
	c := testutil.StartEtcd(t, 1)
	s := newStore(t, etcd.Config{Endpoints: c.Endpoints(), Scope: "errors"})
	ctx := opCtx(t)

	lr := mustPut(t, s, dcs.KeyLeader, "a", 0, dcs.Cond{Absent: true})
	cr := mustPut(t, s, dcs.KeyConfig, "{}", 0, dcs.Cond{})
	mustPut(t, s, dcs.KeyConfig, `{"ttl":20}`, 0, dcs.Cond{ModRevision: cr})
	dead, err := s.Grant(ctx, 30*time.Second)
	if err != nil {
		t.Fatalf("Grant: %v", err)
	}
	if err := s.Revoke(ctx, dead); err != nil {
		t.Fatalf("Revoke: %v", err)
	}

	blackholed := testutil.NewProxy(t, hostPort(t, c.Endpoint(0)))
	blackholed.Blackhole()
	silent := newStore(t, etcd.Config{Endpoints: []string{blackholed.URL()}, Scope: "errors", RequestTimeout: 300 * time.Millisecond})
	refused := testutil.NewProxy(t, hostPort(t, c.Endpoint(0)))
	refused.Refuse()
	down := newStore(t, etcd.Config{Endpoints: []string{refused.URL()}, Scope: "errors", RequestTimeout: 300 * time.Millisecond})
	closed := newStore(t, etcd.Config{Endpoints: c.Endpoints(), Scope: "errors"})
	if err := closed.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()

	put := func(s dcs.Store, key string, lease dcs.LeaseID, cond dcs.Cond) func() error {
		return func() error { _, err := s.Put(ctx, key, []byte("v"), lease, cond); return err }
	}
	tests := []struct {
		name string
		op   func() error
		want error // nil: an error carrying no sentinel
	}{
		{"create-if-absent on an existing key", put(s, dcs.KeyLeader, 0, dcs.Cond{Absent: true}), dcs.ErrConflict},
		{"compare-and-swap with a stale revision", put(s, dcs.KeyConfig, 0, dcs.Cond{ModRevision: cr}), dcs.ErrConflict},
		{"write guarded by another name", put(s, dcs.KeySync, 0, dcs.Cond{Leader: &dcs.Leader{Name: "b", Revision: lr}}), dcs.ErrConflict},
		{"write guarded by another term", put(s, dcs.KeySync, 0, dcs.Cond{Leader: &dcs.Leader{Name: "a", Revision: lr - 1}}), dcs.ErrConflict},
		{"guarded delete of an absent key", func() error { return s.Delete(ctx, dcs.KeyFailover, dcs.Cond{ModRevision: 5}) }, dcs.ErrConflict},
		{"keepalive of a revoked lease", func() error { return s.KeepAlive(ctx, dead) }, dcs.ErrLeaseLost},
		{"keepalive of a never granted lease", func() error { return s.KeepAlive(ctx, 0x1234567) }, dcs.ErrLeaseLost},
		{"put bound to a revoked lease", put(s, dcs.MemberKey("a"), dead, dcs.Cond{}), dcs.ErrLeaseLost},
		{"conditional put bound to a revoked lease", put(s, dcs.KeyFailsafe, dead, dcs.Cond{Absent: true}), dcs.ErrLeaseLost},
		{"get from a blackholed endpoint", func() error { _, err := silent.Get(ctx); return err }, dcs.ErrUnavailable},
		{"put to a blackholed endpoint", put(silent, dcs.KeyStatus, 0, dcs.Cond{}), dcs.ErrUnavailable},
		{"keepalive to a blackholed endpoint", func() error { return silent.KeepAlive(ctx, dead) }, dcs.ErrUnavailable},
		{"get from a refusing endpoint", func() error { _, err := down.Get(ctx); return err }, dcs.ErrUnavailable},
		{"grant on a refusing endpoint", func() error { _, err := down.Grant(ctx, time.Minute); return err }, dcs.ErrUnavailable},
		{"call on a closed store", func() error { _, err := closed.Get(ctx); return err }, dcs.ErrUnavailable},
		{"call with a canceled context", func() error { _, err := s.Get(canceled); return err }, dcs.ErrUnavailable},
		{"empty key", put(s, "", 0, dcs.Cond{}), nil},
		{"key escaping the prefix", put(s, "../other/leader", 0, dcs.Cond{}), nil},
		{"absolute key", put(s, "/service/other/leader", 0, dcs.Cond{}), nil},
		{"zero TTL", func() error { _, err := s.Grant(ctx, 0); return err }, nil},
	}
	sentinels := []error{dcs.ErrConflict, dcs.ErrUnavailable, dcs.ErrLeaseLost, dcs.ErrNotFound}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.op()
			if err == nil {
				t.Fatal("succeeded, want an error")
			}
			for _, s := range sentinels {
				if errors.Is(err, s) != (s == tc.want) {
					t.Errorf("error %q: errors.Is(%v) = %v", err, s, errors.Is(err, s))
				}
			}
		})
	}
	if _, err := s.Get(canceled); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a canceled context = %v, want it to wrap context.Canceled", err)
	}
	// Nothing was written by the failed calls.
	snap, err := s.Get(ctx)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if len(snap.KVs) != 2 {
		t.Errorf("snapshot after failed writes %+v, want leader and config only", snap.KVs)
	}
}
