// Package etcd is the etcd v3 backend of [dcs.Store], built on
// go.etcd.io/etcd/client/v3.
//
// Keys live under [dcs.Prefix](namespace, scope), exactly where Patroni's
// etcd3 backend keeps them: "/service/<scope>/leader" holds the bare member
// name, "/service/<scope>/members/<name>" the member JSON, and so on, so
// patronictl, vip-manager and confd read a pgha cluster unchanged.
//
// # Mapping of the Store contract onto etcd
//
//   - Get is a linearizable range read of the prefix; the snapshot revision is
//     the response header revision.
//   - Grant creates an etcd lease. etcd counts TTLs in whole seconds, so the
//     requested TTL is rounded up: the lease never expires earlier than asked,
//     which keeps a caller's locally computed deadline on the safe side. etcd
//     may also raise it to its own minimum.
//   - KeepAlive is a single LeaseKeepAliveOnce round trip. pgha deliberately
//     does not use clientv3's background KeepAlive stream: package election
//     runs its own keepalives on its own schedule so that it knows when each
//     successful renewal was sent, which is what its safety deadline is
//     computed from. The stream's internal timers would hide that.
//   - Put and Delete with a [dcs.Cond] are transactions. Absent compares
//     CreateRevision == 0, ModRevision compares the key's mod revision, and
//     Leader compares both the value (the bare name) and the create revision
//     (the fencing token) of the leader key. A failed transaction is
//     [dcs.ErrConflict].
//   - Watch is a prefix watch with clientv3.WithRequireLeader, so a member
//     cut off from its quorum cancels the stream instead of going silent.
//     When the stream ends (compaction, lost leader, broken connection) the
//     store re-reads the prefix, delivers a [dcs.WatchResponse] carrying the
//     Snapshot, and watches again from its revision, with backoff, until the
//     context ends.
//
// # Never hanging
//
// Every call runs under min(ctx deadline, now + RequestTimeout). Errors that
// mean "could not reach a quorum in time" (deadline exceeded, unavailable,
// no leader, connection closed, raft timeouts) wrap [dcs.ErrUnavailable]; an
// unknown or expired lease wraps [dcs.ErrLeaseLost]; a failed comparison
// wraps [dcs.ErrConflict]. Other errors (authentication, permission, invalid
// requests) are wrapped as they are: retrying does not fix them.
//
// # Detecting a dead endpoint
//
// A per-call deadline bounds each call, but a gRPC connection to a silent
// endpoint stays "ready" until the transport notices, and every later call
// and the watch stream keep using it. New therefore enables gRPC keepalive:
// DialKeepAliveTime defaults to 10 s (the smallest interval grpc-go accepts;
// it raises anything lower to 10 s) and DialKeepAliveTimeout to 3 s. grpc-go
// also sets TCP_USER_TIMEOUT to the keepalive timeout, so a connection with
// unacknowledged data is dropped by the kernel after 3 s, and an idle silent
// one by the ping after at most about 13 s; the client then reconnects to
// another endpoint. Endpoint auto-sync (member discovery) is left off: the
// configured endpoints are used as given, which is what deployments behind a
// proxy or load balancer expect.
package etcd
