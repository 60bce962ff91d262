// Package e2e holds pgha's end-to-end tests: the example agent built as a
// binary and run as separate processes (three nodes, real PostgreSQL, an
// embedded three-member etcd and HAProxy, all on loopback, orchestrated by
// examples/internal/localcluster), a writer recording every write
// acknowledged through HAProxy's read-write port, and one fault per
// scenario: node crash, PostgreSQL crash (restart in place or failover, as
// configured), planned switchover, and the loss of an etcd member (a
// follower, then etcd's leader).
//
// TestNoFalseFailover (issue 13) runs on its own cluster whose etcd
// members use etcd's own raft timings (100 ms heartbeat, 1 s election)
// and records more: writers through HAProxy and directly on every node,
// and every node's PostgreSQL state. It loses etcd's raft leader, then the
// member the primary's agent talks to once made raft leader, and requires
// no leader change, demotion or new timeline, no lost acknowledged write,
// never two nodes acknowledging writes at once, and writes acknowledged
// within a bound of the fault.
//
// The tests assert conditions with deadlines, never durations; the
// measured times are logged (go test -v). The failover benchmark
// (examples/failover-bench, make bench-failover) reports the same
// scenarios as figures.
//
// The package has no non-test code.
package e2e
