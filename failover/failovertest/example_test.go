package failovertest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/failover/failovertest"
)

// Three Controllers in one process on the in-memory DCS and simulated
// PostgreSQL, in synchronous mode; the leader's host crashes, a replica
// takes over, and no acknowledged commit is lost. In a test, use
// NewCluster(t, ...) instead of Start and Close.
func Example() {
	settings := failovertest.Settings() // ttl 4 s, loop_wait 500 ms
	settings.SynchronousMode = failover.SyncOn
	c, err := failovertest.Start(context.Background(), failovertest.Options{Nodes: 3, Settings: settings})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	leader, err := c.WaitLeader(20 * time.Second)
	if err != nil {
		panic(err)
	}
	fmt.Println("leader:", leader.Name)

	// In synchronous mode a commit is acknowledged once a synchronous
	// standby has it; the leader names one a few cycles after the
	// replicas joined.
	if _, err := c.WaitSync(20 * time.Second); err != nil {
		panic(err)
	}
	for range 3 {
		if _, err := leader.Commit(100, 5*time.Second); err != nil {
			panic(err)
		}
	}

	if err := leader.Crash(); err != nil { // agent and server die together
		panic(err)
	}
	next, err := c.WaitLeader(20 * time.Second)
	if err != nil {
		panic(err)
	}
	fmt.Println("a replica took over:", next != leader)
	fmt.Println("acknowledged commits lost:", len(c.Network().LostCommits(next.Server)))
	// Output:
	// leader: n1
	// a replica took over: true
	// acknowledged commits lost: 0
}
