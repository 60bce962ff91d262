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
// TestNoStuckCluster (issue 13) runs, on a cluster in synchronous mode
// whose agents reach etcd through loopback fault proxies of their own,
// the faults after which a primary must exist again: only the primary's
// agent cut off from etcd with a replica outranking it (the primary fences
// before its lease can expire and gives the key up, the replica takes
// over, the old primary rejoins once the cut heals), a switchover
// requested while the candidate's WAL receiver reconnects (it completes or
// the old primary keeps running), and a node crash with loop_wait 10 in
// the config key (clamped with a warning, still a failover). Each requires
// no lost acknowledged write, never two nodes acknowledging writes at
// once, no demotion, promotion or restart beyond the fault's, and a
// primary within a bound.
//
// TestAgentFault (issue 14) freezes (SIGSTOP for 3 ttl) or kills
// (SIGKILL, restarted 3 ttl later) only the primary's agent while its
// PostgreSQL keeps running, with synchronous_mode off and quorum: the
// agent's fence keeper must stop the postmaster before the lease expires
// and before a new leader key appears, a replica must take over within
// 2 ttl, nothing acknowledged may be lost, no two nodes may acknowledge
// writes at once, and the old primary must rejoin as a replica once its
// agent is back.
//
// TestFailsafe (issue 14) runs failsafe mode: etcd's quorum lost for 2 ttl
// and for 30 s with failsafe_mode on (the primary keeps taking writes, no
// node is demoted, promoted or restarted) and off (the primary stops
// before its lease could expire, the cluster takes writes again once etcd
// has its quorum); only the primary cut off from etcd (the replicas
// confirm it and do not race; it takes the expired key again when the cut
// heals); only the replicas cut off (nothing happens).
//
// TestShortTTLVeto (issues 15 and 16) runs at ttl 4 s, below pgha's
// default, where the demote lead derives from the ttl (400 ms): the
// primary's agent frozen (fenced before the lease expires, as above), then
// the primary's node killed while the replica the candidate rule prefers
// (failover_priority 10) vetoes in pre_promote: it may take the leader key
// but must give it back unpromoted, and the other replica, which deferred
// to it, must take over; never two nodes acknowledging writes at once.
//
// TestQuorumPatroniTimings runs Patroni's default timings (ttl 30 s,
// loop_wait 10 s) in synchronous_mode quorum and kills the primary's node
// under write load: the race must read the replicas' WAL positions at the
// request, not a loop old, so no acknowledged write may be lost; never
// two nodes acknowledging writes at once.
//
// TestStandbyClusterFailover and TestStandbyClusterSiteSwitch run two
// clusters on one etcd, site B a standby cluster of site A with a WAL
// archive in a local directory: the standby leader dies and another
// member takes over following A; then a planned site switch with a writer
// running (A demoted by adding standby_cluster, B promoted once its
// standby leader replayed A's final position), losing nothing
// acknowledged.
//
// The tests assert conditions with deadlines, never durations; the
// measured times are logged (go test -v). The failover benchmark
// (examples/failover-bench, make bench-failover) reports the same
// scenarios as figures.
//
// The package has no non-test code.
package e2e
