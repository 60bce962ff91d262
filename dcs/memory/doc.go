// Package memory is a complete in-memory [dcs.Store] with an injectable
// clock, for tests and deterministic simulation. It behaves like etcd where
// pgha depends on it and passes the same conformance suite (dcs/dcstest).
//
// A [Cluster] is one shared DCS: a key space with a global revision, leases
// and a bounded event history. [Cluster.Store] hands out client handles,
// each scoped to a key prefix and each with its own request timeout and
// fault controls ([Store.SetFault]), so one simulated node can be cut off
// from the DCS, or see it slow, while the others are fine.
//
// # Revisions
//
// As in etcd, the cluster revision starts at 1 and every write (a Put, a
// Delete that removes a key, a lease revocation or expiry that removes keys)
// increments it by one. A key records the revision that created it and the
// one that last modified it; the leader key's create revision is the
// fencing token of a term. All keys deleted by one lease revocation share
// one revision. Grants and keepalives do not change the revision.
//
// # Time and lease expiry
//
// A lease expires when the cluster clock reaches its deadline: TTL after the
// grant or the last keepalive. Expiry is applied in two places, both in
// deadline order (ties by lease ID), so the outcome does not depend on
// goroutine scheduling:
//
//   - at the start of every call on any Store of the cluster (and in
//     [Cluster.ExpireNow]): every lease whose deadline is at or before
//     clock.Now() is revoked before the call does anything else;
//   - by a background goroutine that keeps one timer armed on the clock for
//     the earliest deadline, so watchers see the deletes without any call.
//
// With a [clock.Fake], after Advance returns the expired keys are gone for
// every subsequent call, and their delete events are queued to watchers no
// later than that call or [Cluster.ExpireNow]; the background timer (one
// pending timer on the fake clock while any lease exists) usually does it
// first. Simulations that want the events at a precise point call
// ExpireNow right after Advance.
//
// # Watches
//
// A watch replays retained history after the requested revision, then
// follows new writes. Each watcher has a bounded buffer: a writer never
// blocks on a slow reader; when the buffer overflows, the backlog is dropped
// and the watcher receives one [dcs.WatchResponse] with a Snapshot instead
// (a resync), as it does when the requested revision is older than the
// retained history (compaction).
package memory
