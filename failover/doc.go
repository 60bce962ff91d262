// Package failover is pgha's HA decision engine: what one node should do,
// given what it observes, and which member should become primary.
//
// Both halves are pure functions with no I/O, goroutines or clock reads, so
// they are table-tested and driven by the deterministic simulation:
//
//   - [SelectCandidate] ranks the members that may become primary and says
//     why every other member may not.
//   - [Decide] maps an [Observation] (cluster snapshot, local PostgreSQL
//     status, the node's term, time, peer positions, [Settings]) to one
//     [Decision]: an [Action] with a stable [Code] and a human reason.
//
// [Controller] runs them against real dcs, election and pg implementations
// (see "The Controller" below).
//
// # Candidate selection
//
// A member is eligible when, checked in this order (the first failure is
// its [Exclusion]): it has a member key; the caller did not exclude it (the
// leader being switched away from); its newest observation is a successful
// peer query or member key saying PostgreSQL runs, made at most
// MaxPositionAge ago; it is not tagged nofailover (failover_priority <= 0);
// its timeline is not behind the cluster timeline (history), and with
// check_timeline it is known; in synchronous mode (sync key with a leader)
// it is listed in the sync key and not tagged nosync, and in quorum mode
// it proves it holds every acknowledged commit (see "Synchronous
// replication"); and its lag is at most maximum_lag_on_failover. Eligible members are ordered by
// failover_priority (higher first), received LSN (max of receive and
// replay), replay LSN, then name, a total order, so the choice never
// depends on input order. For each member the newest observation wins:
// peer answers and the local server over the member key read earlier.
//
// # What lag is measured against
//
// Patroni measures lag against the status key's optime: the leader's flush
// position as of its last heartbeat, up to loop_wait stale and frozen when
// the leader dies. Under write load every replica can then be more than
// maximum_lag_on_failover behind a position that no surviving node has,
// and the cluster stays leaderless. pgha measures lag against the
// reference position
//
//	R = max( received LSN of every live observed node (running, reachable,
//	         fresh, timeline not behind), whether or not it is eligible,
//	         the caller's KnownLSN (e.g. a shutdown checkpoint),
//	         the status optime, but only while a leader key exists )
//
// and a candidate is eligible when R - received <= maximum_lag_on_failover.
// The meaning for data loss: promoting the candidate discards at most
// maximum_lag_on_failover bytes of WAL that some surviving node still holds.
// WAL that only the dead primary had is lost whoever is promoted; its
// amount, as far as the status key shows, is reported as
// [CandidateResult.Unrecoverable] and never blocks a failover (set
// StrictOptimeLag for Patroni's behaviour). While the leader is alive (a
// switchover) its published optime and its own position bound the lag as
// in Patroni. A nofailover replica that is ahead raises R: the candidate
// would lose WAL that replica holds, so the bound applies to it too.
//
// A manual failover to a named member (failover key with only "member",
// no leader key) is the one override: the named member passes the lag rule
// whatever its lag, and the verdict and decision say so (Overridden). It
// overrides sync membership only with allow_data_loss (see "Synchronous
// replication"), and never nofailover, the timeline rule or health;
// a named member that fails those is ignored and the normal race runs.
//
// # Decision rules
//
// Decide tries these in order; the first that applies decides.
//
//  1. Safety, before anything (even pause and invalid settings), for a
//     server running as primary: past its term deadline → demote
//     immediate; within DemoteLead of it → demote offline (fast stop,
//     no DCS); snapshot shows the key gone or held by another term →
//     demote immediate; no term and the DCS unreachable → demote offline;
//     no term, key names me → acquire (reclaim); key held by another →
//     demote immediate; no key: the bootstrap owner acquires, a paused
//     cluster's primary acquires (Patroni's pause rule, if its timeline and
//     system identifier fit), otherwise demote immediate and race as a
//     replica. A primary therefore never keeps accepting writes without a
//     valid term (invariants 1 and 4), pause included: that is stricter
//     than Patroni, which tolerates parallel primaries while paused.
//  2. Invalid settings → wait. No snapshot (DCS unreachable) → the leader
//     keeps its term until rule 1 fires (in failsafe mode the Controller
//     extends the term first while every member confirms it); others
//     wait.
//  3. Data directory: empty → the holder releases; paused → wait; no
//     initialize key → bootstrap race (nodes with a bootstrap configuration
//     and without nofailover), else wait; otherwise clone from a running
//     clonefrom member (most WAL, then name) or the leader. Missing
//     initialize key with data → publish it from a leader or former
//     primary; a replica waits. System identifier mismatch → wait.
//  4. Server not running: starting → wait, but a leader starting beyond
//     primary_start_timeout demotes and releases when a replica can take
//     over. A leader's crashed server is restarted in place until
//     primary_start_timeout after the crash, or after the term was won
//     when that is later (0: at once), then the term is released if a
//     replica is eligible. Non-leaders: paused → leave it;
//     leader elsewhere → divergence check (former primary or other
//     timeline), rewind or re-clone if diverged, then start as its replica;
//     no leader → start as a replica to take part in the race. A failed
//     start is retried after loop_wait.
//  5. Holding the term with a running server in a standby cluster
//     ([StandbyCluster], standby_cluster in the config key, or in the
//     bootstrap configuration until the key exists): the standby leader
//     never promotes (the one term holder that runs no primary, as in
//     Patroni; it stops at its deadline like a primary, and a replica
//     takes over as standby leader); it follows the remote (again when the section
//     changed), a primary is demoted (DemoteCluster: fast stop, the term
//     kept, then it follows the remote; not while paused), and a failover
//     key is handled as a primary handles it (below), except that the
//     hand-over ([CodeStandbySwitchover]) waits for no shutdown
//     checkpoint: the standby leader stops, releases the term and follows
//     the candidate, which takes the key and follows the remote. A
//     crashed standby leader restarts following the remote. Its first
//     member clones the remote instead of running initdb, then takes the
//     key. Synchronous mode is off there.
//     Otherwise a replica promotes (paused:
//     releases unless it is the named candidate; within DemoteLead of the
//     deadline it waits for a renewal instead); a primary handles the
//     failover key (see below), else nothing to do.
//  6. Leader elsewhere: check divergence when the timelines differ; rewind
//     (use_pg_rewind, after the leader's post-promotion checkpoint) or
//     re-clone (remove_data_directory_on_*) if diverged; follow the leader,
//     or the replicatefrom member when it runs.
//  7. No leader key: the race. A primary cut off from the DCS that this
//     node confirmed in failsafe mode less than a ttl ago, or a failsafe
//     key that does not list this node → wait (see Failsafe mode). Paused
//     → only the named candidate of a manual failover acquires. nofailover → no race. A named candidate
//     that is eligible (lag waived) acquires, others wait for it. Then the
//     false-failover guard (below), then peer positions are required
//     (ActionQueryPeers), then [SelectCandidate] over member keys, peers and
//     the local server: this node acquires if it is eligible and best or
//     tied-best (only the name separates them; the atomic create decides).
//     The former leader of a switchover never races.
//
// Switchover (the failover key as seen by the leader): a key for another
// leader, naming me, or empty is cleared; while paused only an unscheduled
// switchover to a named member is allowed; scheduled_at in the future →
// wait until it; more than 1.5×loop_wait past → cleared as stale;
// otherwise, with fresh peer positions, the named member (or the best one)
// must be eligible (lag rule applies; the leader is alive) → demote
// graceful and hand over; else the key is cleared with the reason. The
// winner of a race clears the failover key after acquiring.
//
// Tags: nofailover and failover_priority act through eligibility; clonefrom
// chooses clone sources; nosync excludes a member in synchronous mode;
// replicatefrom chooses the upstream; noloadbalance only affects health
// checks and never a decision.
//
// # Synchronous replication
//
// synchronous_mode (off, on, quorum), synchronous_mode_strict and
// synchronous_node_count come from the config key ([Settings.WithConfig]).
// The leader manages them every cycle with [PlanSync], one step at a
// time: it chooses the synchronous standbys among the standbys streaming
// from it (pg_stat_replication) that have a running member key and are
// not tagged nosync (sync_priority 0 counts as nosync), ordered by
// sync_priority, then already synchronous, then flush LSN, then name.
// Priority mode (on) sets synchronous_standby_names to FIRST n (the first
// n = synchronous_node_count, capped at what streams), so every listed
// standby confirms each commit; quorum mode sets ANY k over all of them
// (k = synchronous_node_count, capped).
//
// The sync key (leader L, sync_standby V, quorum q) always claims: every
// acknowledged commit is on at least |V| − q members of V. It is written
// with the term guard and compare-and-swap on its revision. Names go into
// the GUC before the key and leave the key before the GUC. When the GUC
// changes, the primary's flush LSN is recorded once the server reports
// the new value; a standby counts as synchronous (enters the key) only
// after its flush LSN in pg_stat_replication reached that position, since
// commits before it may have been acknowledged without it. Before a
// promotion in synchronous mode the new leader writes the key naming
// itself with no standby, then chooses standbys as above.
//
// Who may be promoted automatically: priority mode, only the sync key's
// leader or a listed standby. Quorum mode (R + W > N): with W = |V| − q
// the copies in V of every acknowledged commit, a listed standby may be
// promoted when it observes, live and fresh, the key's leader or at least
// R = q + 1 members of V counting itself (R + W = |V| + 1 > |V|, so one
// of them holds every acknowledged commit), and none of those has
// received more WAL than it ([ExclSyncQuorum] otherwise). A manual
// failover to any other member needs the failover key's extra field
// allow_data_loss (true), written by [Controller.Failover] when the
// request allows data loss (POST /failover {"allow_data_loss": true}) and
// no leader runs: the decision and its verdict say that
// acknowledged commits may be lost. Switchovers and [Controller.Failover]
// to a member that is not a synchronous standby are refused with the
// reason.
//
// With no eligible standby streaming, non-strict mode removes the
// standbys from the key and then clears the GUC: commits are
// acknowledged by the primary alone, only the old leader may be promoted,
// and [Controller.SyncStatus], healthapi.NodeState.SyncDegraded (metric
// pgha_sync_degraded) and a warning log say so. Strict mode keeps the
// last synchronous standbys in the GUC (or Patroni's placeholder
// [SyncPlaceholder] when none is known): commits WAIT, they do not fail,
// until a standby streams and confirms them; SyncStatus().Blocking,
// NodeState.SyncBlocking (pgha_sync_blocking) and a warning log say so.
//
// A replica whose PostgreSQL is about to stop (Manager restart and
// reinitialize) first publishes nosync in its member key and waits up to
// 2 × loop_wait for the leader to drop it from the sync key, so commits
// do not hang on it. A replica's ExitHandOver leaves its server running
// and streaming, so it needs no such step: the leader drops it once its
// member key expires.
//
// # False-failover guard and what the race costs
//
// An agent that stalls while PostgreSQL is fine lets its lease expire
// although the primary still serves. A replica whose WAL receiver is
// streaming and heard from its upstream within StreamingFreshness therefore
// postpones the race, and so does any replica while a peer answers that it
// runs a primary. Both postponements are bounded from LeaderVanishedAt (the
// Controller records when it first saw no leader key): the streaming guard
// by RacePostponeMax, the live-primary guard by max(RacePostponeMax, TTL);
// the decision's WaitUntil says when the bound (or the freshness) expires.
// When the primary really died its WAL stops at once, so a real failover
// is delayed by at most StreamingFreshness, and never beyond the bound.
// With LeaderVanishedAt unknown nothing is postponed. Nor does the
// streaming guard wait for an upstream that is the failover key's former
// leader publishing itself as a running replica: after a switchover it
// restarts as a replica and may stream to its old replicas (cascading),
// which says nothing of a leader behind a failed agent; without this a
// switchover to the best member (none named) waited out RacePostponeMax.
//
// Peer positions are gathered by the Controller when a decision asks for
// them (ActionQueryPeers): one query per member with an API URL, all in
// parallel, each bounded by PeerQueryTimeout (default 2 s, at most TTL/2),
// no retries; a peer that does not answer in time is marked Unreachable and
// treated as dead for that race. The race therefore costs at most one
// PeerQueryTimeout of wall-clock time plus one atomic create, however many
// peers are dead.
//
// The Controller sets LastWALReceiptAt from the WAL receiver's
// last_msg_receipt_time (pg.Status.LastMsgReceiptTime), which counts
// keepalives as well as WAL, so the streaming guard also holds on an idle
// cluster: the receiver asks for a keepalive after wal_receiver_timeout/2
// of silence. A primary that really died answers nothing, so the time
// stops at once. Should the time be missing while the receiver streams,
// the Controller falls back to the last time it saw the received LSN
// advance, which does not protect an idle cluster (the live-primary guard
// still does, through peer answers).
//
// # The Controller
//
// [Controller.Run] loops until its context ends. A cycle reads the DCS
// snapshot (see Reading the DCS below), the local pg.Status and the term, asks [Decide],
// queries the peers' GET /patroni in parallel when the decision asks for
// it (each bounded by PeerQueryTimeout), decides again, and performs the
// action: acquire (election.Candidate.TryAcquire), promote (then history
// and status, guarded by the term), demote, follow, rewind, clone, start,
// bootstrap (win initialize with create-if-absent, pg Bootstrap, publish
// the system identifier and the config key; a failed bootstrap deletes
// initialize, sets the data directory aside through pg.DataDirMover and
// ends Run with [ErrBootstrapFailed]), clear the failover key
// (compare-and-swap). Cycles run on DCS watch events (leader, failover,
// config, initialize, sync, history), on changes of the postmaster's state
// (polled every 200 ms), at a decision's WaitUntil, at once after an action,
// and at least every loop_wait. After each cycle the member key is
// published and the leader writes the status optime, each only when its
// value changed, it needs a new lease, or the cluster view shows the key
// gone or different (as Patroni's touch_member: nothing is rewritten only
// because time passed); the leader creates the replicas' slots and writes
// the config key if missing, and a healthapi.NodeState snapshot is stored
// ([Controller.State]).
//
// # Reading the DCS
//
// The Controller holds a watch on the cluster prefix and applies what it
// delivers to a snapshot (dcs.Snapshot.Apply) before it wakes the loop. A
// cycle reads that view instead of the DCS when the view can stand in for
// a full read: a watch follows it; no store call of this node (a
// keepalive, a guarded write, a race) failed, and the node deleted no key,
// since the last full read began; it shows this node's own writes; a store
// call succeeded within 2 keepalive intervals plus a request timeout; the
// last full read (a Get, or the resync the store's watch makes after a
// break) is less than one ttl old; and the previous cycle did not act.
// Otherwise the cycle reads the DCS (Store.Get), as it did every loop_wait
// before. An idle three-node cluster at the defaults thus makes its lease
// keepalives (3/s) and one full read per node and ttl (0.5/s) against
// 8.8/s before.
//
// Safety does not rest on the view. Acquisition is create-if-absent;
// every write of a leader is guarded by its term (the leader key's value
// and create revision) and a lost guard ends the term; a leader's
// deadline comes from its own keepalives; and a new leader acts only on a
// snapshot at or after its term's revision (CodeSnapshotBehindTerm),
// which, applied in order from the watch, holds every write the previous
// leader made (the sync key in particular). A stale view can delay a
// reaction, not make an unsafe one. What it can delay: a change the watch
// fails to deliver without any sign (no resync, no failed call) is seen at
// the next full read, within one ttl; a healthy watch delivers in
// milliseconds, sooner than a read at the next tick would.
//
// The lease is renewed by the election's own goroutine, never behind slow
// PostgreSQL or DCS work; a failed renewal is retried within a quarter of
// the keepalive interval. A second goroutine per term fences: when the term
// ends, or its deadline comes within DemoteLead without a renewal, it
// publishes a non-leader state at once and stops a running primary
// immediately, restarting it as a replica without upstream, even while the
// loop is blocked in a slow call. [Controller.State] also checks the
// term's deadline when it is read, so /primary answers 503 from that
// moment whatever the loop is doing. When the Instance is a
// pg.DeadlineFencer (pglocal.Local, through package fence's keeper process) the
// same goroutine keeps it armed with the term's deadline, so a primary
// whose agent is frozen, wedged or killed is stopped at the deadline too;
// it is disarmed only once the server is confirmed demoted or stopped.
//
// Every path out of leadership is clean: a node that stops running a
// primary (fenced, demoted near its deadline, term lost) gives up the
// leader key with a resign guarded by its term, or, with the DCS
// unreachable, by abandoning the lease, so the race can run and a replica
// that outranks the old primary is never left following a key nobody
// serves. The lease is never resigned while the old primary's stop is
// unconfirmed (a failed status or stop on exit, a failed stop in a
// switchover): the node then keeps the key until the lease expires and
// says so at error level. A crash timestamp belongs to one outage: the
// server running again clears it.
//
// On exit (ExitHandOver) a leader checkpoints, stops fast (connected
// replicas receive everything up to the shutdown checkpoint before the
// postmaster exits), waits briefly for a replica to report that WAL,
// writes status and resigns. A switchover does the same and then follows
// the new leader; if the candidate does not confirm the WAL within max(2
// loop_wait, 5 PeerQueryTimeout) the old primary keeps its term and the
// key is cleared. The standby leader of a standby cluster stops and
// resigns without waiting for a confirmation, and restarts as a replica of
// the candidate: it runs no primary, so there are no commits of its own to
// lose, and the candidate streams the remote's WAL itself once it leads.
//
// The Controller also implements healthapi.Manager: switchover and
// failover write the failover key as Patroni does and wait for a new
// leader (2 × max(10 s, loop_wait)); restart and reload act on pg;
// reinitialize wipes a replica, which the loop then clones again; the
// config key is read and written with compare-and-swap. Values in the
// config key are clamped with a warning ([Settings.ApplyConfig]), so no
// value written there disables failover.
//
// # Failsafe mode
//
// With Settings.FailsafeMode (failsafe_mode in the config key), a primary
// that cannot reach the DCS does not stop at its term deadline as long as
// every member that could take the leader key confirms it as leader. Each
// cycle in which the DCS could not be read (or the lease went unrenewed for
// half its life) it sends POST /failsafe to all of them in parallel, each
// bounded by min(2 s, ttl/4); when all accept, its term is extended
// (election.Term.Extend) to s + ttl − margin, s being when the round was
// sent, and the out-of-agent fence is re-armed at that deadline. One
// refusal or silence and the term keeps its old deadline: the primary
// fences as without failsafe mode. A member confirms by recording the
// primary as leader until its answer + the longer of the two ttls, which
// is later than the primary's extension ends; while that record stands it
// does not race for the leader key and is not promoted, whatever its own
// DCS view says. A member that runs as primary itself, or whose fresh DCS
// view names another leader, refuses.
//
// Who must confirm: the members of the failsafe key, which the leader keeps
// in the DCS while failsafe mode is on (every member, itself included), or
// every member last seen while that key is empty. A node missing from a
// non-empty failsafe key may not race: the primary would not have asked it.
//
// Why every member and not a quorum: a primary cut off from the DCS cannot
// know which members can still reach it. A member that did not confirm may
// be on the DCS's side of the partition, see the leader key expire, win the
// race and be promoted while the old primary keeps writing; a majority of
// confirmations does not prevent that, only the confirmation of everyone
// who could win the race does. Patroni draws the same conclusion. The cost
// is availability: with failsafe mode on, a DCS outage that coincides with
// the loss of any member stops the primary as it would without failsafe
// mode.
//
// When the DCS answers again, the term goes back to its lease: if the lease
// survived (etcd's quorum was lost, and a new etcd leader extends every
// lease), keepalives renew it; if the lease expired and the key went (the
// primary alone was cut off), the primary creates the key again on a new
// lease before any guarded write, while the members still hold their
// confirmations. A key held by another member ends the term at once.
//
// # Timing
//
// Defaults: ttl 6 s (election: keepalive every 1 s, request timeout
// 500 ms, margin 600 ms, so the term deadline is 5.4 s after the last
// successful keepalive was sent), loop_wait 1 s, PeerQueryTimeout 1 s,
// DemoteLead 600 ms (min(600 ms, ttl/10) unless set), primary_start_timeout
// 15 s, RacePostponeMax 6 s,
// StreamingFreshness 2 s. A ttl from the config key is applied live, with
// the election timings scaled from it (keepalive ttl/6, request timeout
// ttl/12, margin ttl/10), unless the rule below would fail with them: then
// it is named in a warning and the ttl in effect stays.
//
// DCS blips: a primary fences at s + ttl − margin − DemoteLead = s + 4.8 s,
// where s is when the last keepalive that succeeded was sent. A renewal
// lands at most 2 × request timeout + keepalive/4 after the DCS answers
// again, so the primary rides out any outage shorter than
//
//	ttl − margin − DemoteLead − 2·request timeout − keepalive/4 = 3.55 s
//
// (more than three consecutive failed keepalives: an etcd leader election,
// the loss of the member it talks to, a slow fsync) without fencing.
// [NewController] refuses timings for which this is under three keepalive
// intervals (election.Options.CheckRideThrough).
//
// Old primary cut off for longer (or its agent stalled while its process
// runs): it stops acting as primary at s + 4.8 s; the lease cannot expire
// before s + 6 s on the store, and another node must then still acquire
// and promote. 1.2 s separate the fence from the earliest expiry, for an
// immediate stop that waits on nothing else.
//
// Primary host dies (worst case): detection ≤ ttl = 6 s after the last
// renewal (plus any extension etcd grants when its own leader changes) +
// watch delivery and cycle start (usually milliseconds; ≤ loop_wait = 1 s
// after a watch break the store or a failed call shows, ≤ ttl for one
// that shows none, see Reading the DCS) + peer queries ≤ PeerQueryTimeout = 1 s +
// acquire ≤ 1 s + pg_promote (≈ 0.1–1 s) = about 10 s, typically 6–7 s;
// plus routing (an HAProxy check interval and fall count). The streaming
// guard adds nothing here (the WAL stopped with the host); in the worst
// case of a stalled agent over a primary still streaming WAL it adds at
// most RacePostponeMax = 6 s.
//
// PostgreSQL crash on the primary: noticed within 200 ms, restarted in
// place for up to primary_start_timeout = 15 s, then the term is released
// and a replica wins the race within about 2 s (peer queries, acquire,
// promote). With primary_start_timeout 0 the failover takes well under
// 1 s in the integration test.
//
// Planned switchover: CHECKPOINT + fast stop + confirmation + resign +
// acquire + promote, well under 1 s on an idle test cluster.
package failover
