package etcd_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/dcstest"
	"github.com/pgha/pgha/dcs/etcd"
	"github.com/pgha/pgha/internal/testutil"
)

// backend describes stores on cluster c for the conformance suite. Every
// NewStore gets its own scope; NewStoreOn opens a second client on the same
// scope.
func backend(c *testutil.EtcdCluster) dcstest.Backend {
	var mu sync.Mutex
	n := 0
	scopes := map[dcs.Store]string{}
	open := func(t *testing.T, scope string) dcs.Store {
		s := newStore(t, etcd.Config{Endpoints: c.Endpoints(), Scope: scope})
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
			p := testutil.NewProxy(t, hostPort(t, c.Endpoint(0)))
			p.Blackhole()
			return newStore(t, etcd.Config{Endpoints: []string{p.URL()}, Scope: "unreachable", RequestTimeout: timeout})
		},
		// 2 s is above etcd's minimum lease TTL for the test cluster's
		// election timeout (1 s), and a whole number of seconds.
		TTL: 2 * time.Second,
		// etcd checks for expired leases every 500 ms and revokes them
		// through raft.
		ExpiryTolerance: time.Second,
	}
}

// TestConformanceThreeMembers runs the suite on a 3-member cluster whose
// raft leader is killed mid-suite: the store must go on working once etcd
// has elected another leader.
func TestConformanceThreeMembers(t *testing.T) {
	c := testutil.StartEtcd(t, 3)
	b := backend(c)
	b.Disrupt = func(t *testing.T) {
		leader := c.WaitLeader(t)
		t.Logf("killing etcd leader member %d", leader)
		c.Kill(t, leader)
	}
	dcstest.Run(t, b)
}

// TestConformanceOneMember runs the suite on a single-member cluster.
func TestConformanceOneMember(t *testing.T) {
	dcstest.Run(t, backend(testutil.StartEtcd(t, 1)))
}
