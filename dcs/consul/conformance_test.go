package consul_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/consul"
	"github.com/pgha/pgha/dcs/dcstest"
	"github.com/pgha/pgha/internal/testutil"
)

// newStore opens a store closed by t.Cleanup.
func newStore(t testing.TB, cfg consul.Config) *consul.Store {
	t.Helper()
	s, err := consul.New(cfg)
	if err != nil {
		t.Fatalf("consul.New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// backend describes stores on agent a for the conformance suite: each
// NewStore gets its own scope, NewStoreOn a second client on the same one.
func backend(a *testutil.Consul) dcstest.Backend {
	var mu sync.Mutex
	n := 0
	scopes := map[dcs.Store]string{}
	open := func(t *testing.T, scope string) dcs.Store {
		s := newStore(t, consul.Config{Address: a.Addr(), Scope: scope})
		mu.Lock()
		scopes[s] = scope
		mu.Unlock()
		return s
	}
	return dcstest.Backend{
		NewStore: func(t *testing.T) dcs.Store {
			mu.Lock()
			n++
			scope := fmt.Sprintf("conformance-%d", n)
			mu.Unlock()
			return open(t, scope)
		},
		NewStoreOn: func(t *testing.T, s dcs.Store) dcs.Store {
			mu.Lock()
			scope, ok := scopes[s]
			mu.Unlock()
			if !ok {
				t.Fatalf("NewStoreOn: store %p was not made by this backend", s)
			}
			return open(t, scope)
		},
		NewUnreachableStore: func(t *testing.T, timeout time.Duration) dcs.Store {
			p := testutil.NewProxy(t, a.Addr())
			p.Blackhole()
			return newStore(t, consul.Config{Address: p.Addr(), Scope: "unreachable", RequestTimeout: timeout})
		},
		// The agent's session_ttl_min is lowered to 1s for the tests.
		TTL: time.Second,
		// Consul invalidates a session 2×TTL after its last renewal (the
		// TTL is a lower bound), then deletes its keys through raft.
		ExpiryTolerance: 1500 * time.Millisecond,
		// Blocking queries diffed into events: no replay, changes between
		// two reads collapsed.
		NoHistory: true,
	}
}

// TestConformance runs the suite on a server that keeps its state in a
// data directory, so that Disrupt can restart it: reads, writes, sessions
// and open watches must come back.
func TestConformance(t *testing.T) {
	a := testutil.StartConsul(t, false)
	b := backend(a)
	b.Disrupt = func(t *testing.T) {
		start := time.Now()
		a.Restart(t)
		t.Logf("consul server restarted in %v", time.Since(start).Round(time.Millisecond))
	}
	dcstest.Run(t, b)
}
