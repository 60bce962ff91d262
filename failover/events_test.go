package failover_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/failover/failovertest"
	"github.com/pgha/pgha/internal/testutil"
)

// TestReplicaEvents: OnEvent reports a replica's life too: cloned from the
// leader, then started following it, with the role it started as; the
// leader's start says primary.
func TestReplicaEvents(t *testing.T) {
	var mu sync.Mutex
	started := map[int][]string{} // node → roles of its started events
	nodes, _ := fsClusterWith(t, 2, false, failovertest.Options{}, func(i int, o *failover.ControllerOptions) {
		next := o.OnEvent
		o.OnEvent = func(e failover.Event) {
			if e.Kind == failover.EventStarted {
				mu.Lock()
				started[i] = append(started[i], e.Role)
				mu.Unlock()
			}
			next(e)
		}
	})
	r := nodes[1]
	testutil.Eventually(t, 10*time.Second, func() error {
		k := r.events.kinds()
		c, s := slices.Index(k, failover.EventCloned), slices.Index(k, failover.EventStarted)
		if c < 0 || s < c {
			return fmt.Errorf("events %v", k)
		}
		return nil
	}, "cloned, then started")
	mu.Lock()
	defer mu.Unlock()
	if got := started[1]; len(got) == 0 || got[0] != "replica" {
		t.Errorf("the replica's started events have roles %q, want replica", got)
	}
	for _, role := range started[0] {
		if role != "primary" {
			t.Errorf("the bootstrapping leader's started events have roles %q, want primary", started[0])
		}
	}
}
