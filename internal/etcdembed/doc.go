// Package etcdembed starts embedded etcd servers (go.etcd.io/etcd/server/v3/embed)
// on loopback for tests and local demo clusters: one place for the embed
// configuration (fast raft timings, quiet logging), the readiness wait, the
// leader agreement check and the abrupt stop that internal/testutil and
// examples/internal/localcluster share. It has no dependency on package
// testing; callers keep their own lifecycle, fault injection and error
// reporting.
package etcdembed
