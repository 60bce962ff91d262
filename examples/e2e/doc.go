// Package e2e holds pgha's end-to-end tests: the example agent built as a
// binary and run as separate processes (three nodes, real PostgreSQL, an
// embedded three-member etcd and HAProxy, all on loopback, orchestrated by
// examples/internal/localcluster), a writer recording every write
// acknowledged through HAProxy's read-write port, and one fault per
// scenario: node crash, PostgreSQL crash (restart in place or failover, as
// configured), planned switchover, and the loss of an etcd member (a
// follower, then etcd's leader).
//
// The tests assert conditions with deadlines, never durations; the
// measured times are logged (go test -v). The failover benchmark
// (examples/failover-bench, make bench-failover) reports the same
// scenarios as figures.
//
// The package has no non-test code.
package e2e
