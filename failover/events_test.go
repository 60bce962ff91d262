package failover_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/internal/testutil"
)

// TestReplicaEvents: OnEvent reports a replica's life too: cloned from the
// leader, then started following it.
func TestReplicaEvents(t *testing.T) {
	nodes, _ := fsCluster(t, 2, false)
	r := nodes[1]
	testutil.Eventually(t, 10*time.Second, func() error {
		k := r.events.kinds()
		c, s := slices.Index(k, failover.EventCloned), slices.Index(k, failover.EventStarted)
		if c < 0 || s < c {
			return fmt.Errorf("events %v", k)
		}
		return nil
	}, "cloned, then started")
}
