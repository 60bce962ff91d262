// Package election is lease-based leader election on a [dcs.Store], with
// leadership as a value: a [Term] carries the leader key as won (member name,
// fencing token, lease) and a local deadline after which its holder must not
// act as leader, whatever the store client says.
//
// It works unchanged on every backend because it uses only the Store
// interface: the leader key ([dcs.KeyLeader], value = bare member name, as
// Patroni writes it) is created with Put(..., Cond{Absent: true}) bound to
// the candidate's lease; the revision of that create is the fencing token;
// every write on behalf of the leader carries Cond{Leader: term} ([Term.Cond],
// [Term.Put]).
//
// # Pieces
//
//   - [New] returns a [Candidate], which grants one lease and renews it on its
//     own goroutine and schedule, independent of callers. The caller binds the
//     member key to the same lease ([Candidate.Lease]).
//   - [Candidate.TryAcquire] makes one attempt; [Candidate.Campaign] blocks,
//     woken by a watch on the leader key and re-checking every RetryInterval.
//   - [Term]: Valid(now), Deadline, Done, Err, Lost (report a guarded write
//     that failed), Resign (retry-safe, guarded by the term).
//   - [Observe] reports every leader change including "no leader", surviving
//     broken watches; [Current] reads the leader once.
//
// # The deadline rule
//
// Let s be the clock reading taken just before sending the last keepalive
// (or grant) that later succeeded. The store processed it at some p >= s and
// set the lease to expire TTL after p, measured on its own clock; leases are
// only ever extended by the store (etcd refreshes all leases when its own
// leader changes), so no other candidate can create the leader key before
// s + TTL·(1−ρ), where ρ bounds the rate difference between the two clocks.
// The holder's deadline is
//
//	deadline = s + TTL − Margin,   Margin >= TTL/10
//
// which is strictly earlier as long as ρ < Margin/TTL: 10 %, against the
// 0.05 % an NTP-disciplined clock can slew. The rest of the margin is slack
// for timer latency and for the holder to stop acting (fence PostgreSQL)
// after Done fires. Using the receive time instead of the send time would be
// wrong: the store may have renewed the lease at any moment of the round
// trip. A keepalive that succeeds after the deadline has passed does not
// revive the term.
//
// Only the clocks' rates matter, not their offsets: each side measures TTL
// as a duration on its own clock. Retries inside the store client only move
// the real send time later, which is on the safe side, and so does a backend
// rounding the TTL up (dcs/etcd rounds to whole seconds upwards).
//
// The rule cannot cover what is not expiry: an operator revoking the lease or
// deleting the key, a backend that rounds a TTL down, or a store defect that
// shortens leases or renews them where it should not (an etcd member that
// lost leadership without knowing it answering a renewal; etcd releases have
// also had lease-checkpoint bugs restoring an older remaining TTL). Fencing
// is the second line: a guarded write then fails with [dcs.ErrConflict] and
// [Term.Lost] ends the term. Also, Linux's monotonic clock stops while the machine is
// suspended, so Valid compares the wall clock too (a forward wall-clock step
// may end a term early; that is the safe side).
//
// Done is a notification; the authority is [Term.Valid], which compares the
// clock with the deadline itself, so a process that was stopped sees its term
// invalid the instant it runs again, before any timer fires.
//
// # Timing options
//
// A failed keepalive is retried after [Options.RetryBackoff] (from
// KeepAliveInterval/20, doubling, at most KeepAliveInterval/4) instead of
// at the next interval, so the lease is renewed within a fraction of a
// second of the store's recovery. [Options.Validate] enforces, besides
// Margin >= TTL/10, that a holder rides out an outage of three keepalive
// intervals:
//
//	OutageTolerance(lead) = TTL − Margin − lead − 2·RequestTimeout − KeepAliveInterval/4
//	OutageTolerance(0) >= 3 × KeepAliveInterval
//
// counted from the send time of the last keepalive that succeeded: worst
// case, a keepalive sent just before the store recovers hangs until its
// timeout, and the retry needs up to another timeout to answer. The
// failover package checks the same rule with its demote lead as lead
// ([Options.CheckRideThrough]). Defaults: TTL 6 s, keepalive every 1 s,
// request timeout 500 ms, margin 600 ms, campaign re-check and observer
// re-read every 2 s. The deadline sits 5.4 s after a keepalive is sent;
// with the failover package's 600 ms demote lead a primary rides out a
// 3.55 s outage (an etcd leader election with its default 1 s election
// timeout, the loss of the member it talks to, a slow disk sync), and a
// dead holder is replaced at most 6 s (plus any etcd lease extension)
// after its last renewal. A holder sends one keepalive per second (TTL/6).
//
// Patroni needs ttl >= 20 s (default 30) because one loop reads the cluster,
// renews the lock and decides, and each of the two DCS calls may take up to
// retry_timeout: loop_wait + 2·retry_timeout must fit in ttl, or another node
// could acquire the lock while the old primary still believes it leads.
// Here renewal runs on its own schedule, never behind slow work (a hung
// pg_ctl, a slow cluster read), and the end of leadership is a local,
// monotonic deadline computed from the send time, checked on every use. So
// TTL only has to cover a few keepalive round trips plus the margin, and can
// be five times shorter. Guarding against false failovers is left to the
// failover layer rather than to a long TTL.
//
// # Traps avoided
//
// Compared with etcd's concurrency.Election: acquisition is one atomic
// create, so there is no phantom leader after a lost session; the end of a
// term does not depend on the client learning of lease expiry; Observe
// reports deletions and survives broken or compacted watches; Resign keeps
// the term ended locally even when the store call fails, and a retry repeats
// the guarded delete.
package election
