package failover_test

import (
	"testing"
	"time"

	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/failover/failovertest"
)

// TestTTLAloneCanBeLowered: with DemoteLead left at zero it follows TTL
// (min(600 ms, TTL/10)), so an embedder that lowers only TTL, to 2 s, gets
// Controllers that start, elect a leader and fail over.
func TestTTLAloneCanBeLowered(t *testing.T) {
	s := failover.DefaultSettings()
	s.TTL = 2 * time.Second
	s.LoopWait = 250 * time.Millisecond
	c := failovertest.NewCluster(t, failovertest.Options{Nodes: 3, Settings: s})
	leader, err := c.WaitLeader(20 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := leader.Crash(); err != nil {
		t.Fatal(err)
	}
	next, err := c.WaitLeader(20 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if next == leader {
		t.Fatal("the crashed leader still leads")
	}
}
