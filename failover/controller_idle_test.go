package failover_test

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/memory"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/internal/testutil"
)

// countingStore counts the calls made through it: "Get", "KeepAlive",
// "Put <key>", "Delete <key>", ...
type countingStore struct {
	dcs.Store
	mu sync.Mutex
	n  map[string]int
}

func newCountingStore(s dcs.Store) *countingStore {
	return &countingStore{Store: s, n: map[string]int{}}
}

func (s *countingStore) count(what string) {
	s.mu.Lock()
	s.n[what]++
	s.mu.Unlock()
}

func (s *countingStore) counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.n)
}

func (s *countingStore) Get(ctx context.Context) (dcs.Snapshot, error) {
	s.count("Get")
	return s.Store.Get(ctx)
}

func (s *countingStore) KeepAlive(ctx context.Context, id dcs.LeaseID) error {
	s.count("KeepAlive")
	return s.Store.KeepAlive(ctx, id)
}

func (s *countingStore) Put(ctx context.Context, key string, value []byte, lease dcs.LeaseID, cond dcs.Cond) (int64, error) {
	s.count("Put " + key)
	return s.Store.Put(ctx, key, value, lease, cond)
}

func (s *countingStore) Delete(ctx context.Context, key string, cond dcs.Cond) error {
	s.count("Delete " + key)
	return s.Store.Delete(ctx, key, cond)
}

// cycles returns how many loop cycles c has run.
func cycles(c *failover.Controller) uint64 {
	if s := c.State(); s != nil {
		return s.LoopDuration.Count
	}
	return 0
}

// waitCycles waits until c has run n more cycles.
func waitCycles(t *testing.T, c *failover.Controller, n uint64) {
	t.Helper()
	want := cycles(c) + n
	testutil.Eventually(t, time.Duration(n+5)*time.Second, func() error {
		if got := cycles(c); got < want {
			return fmt.Errorf("%d cycles, want %d", got, want)
		}
		return nil
	}, "loop cycles")
}

// TestControllerIdleCost: an idle leader at the default settings reads
// its cluster view from the watch (a full read at most once a ttl) and
// writes nothing while nothing changes (issue 15 item 6); what changes
// behind its back is seen through the watch and put right.
func TestControllerIdleCost(t *testing.T) {
	mc, store := memStore(t)
	cs := newCountingStore(store)
	other := mc.Store(dcs.Prefix("", "unit"), memory.StoreOptions{})
	inst := newFakePG()
	c, _ := runController(t, baseOptions(cs, inst))
	waitLeading(t, c)
	inst.setIdle(true)
	waitCycles(t, c, 2) // the last positions are written

	before := cs.counts()
	const idleCycles = 5 // < ttl (6 s) at loop_wait 1 s
	waitCycles(t, c, idleCycles)
	after := cs.counts()
	for _, tc := range []struct {
		what string
		max  int
	}{
		{"Get", 1}, // at most the full read once a ttl
		{"Put " + dcs.MemberKey("n1"), 0},
		{"Put " + dcs.KeyStatus, 0},
		{"Put " + dcs.KeyLeader, 0},
	} {
		if got := after[tc.what] - before[tc.what]; got > tc.max {
			t.Errorf("%s: %d calls over %d idle cycles, want at most %d (all calls: before %v, after %v)",
				tc.what, got, idleCycles, tc.max, before, after)
		}
	}
	if got := after["KeepAlive"] - before["KeepAlive"]; got == 0 {
		t.Errorf("no keepalive over %d idle cycles", idleCycles)
	}

	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		key   string
		check func(*dcs.Cluster) error
	}{
		{"member key deleted behind its back", dcs.MemberKey("n1"), func(cl *dcs.Cluster) error {
			if cl.Member("n1") == nil {
				return fmt.Errorf("no member key")
			}
			return nil
		}},
		{"status key deleted behind its back", dcs.KeyStatus, func(cl *dcs.Cluster) error {
			if cl.Status == nil {
				return fmt.Errorf("no status key")
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := other.Delete(ctx, tc.key, dcs.Cond{}); err != nil {
				t.Fatal(err)
			}
			// Sooner than the ttl's full read: the watch delivered it.
			testutil.Eventually(t, 3*time.Second, func() error { return tc.check(read(t, other)) }, "key written again")
		})
	}

	t.Run("leader key deleted behind its back", func(t *testing.T) {
		token := c.State().Term
		if token == 0 {
			t.Fatalf("not leading: %+v", c.State())
		}
		if err := other.Delete(ctx, dcs.KeyLeader, dcs.Cond{}); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 3*time.Second, func() error {
			if s := c.State(); s.IsLeader && s.Term == token {
				return fmt.Errorf("still leads with term %d", token)
			}
			if d := c.LastDecision(); d.Code == "" {
				return fmt.Errorf("no decision yet")
			}
			t.Logf("after the delete: %s", c.LastDecision().Reason)
			return nil
		}, "the lost term noticed")
	})
}
