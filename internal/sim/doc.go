// Package sim is a deterministic, single-threaded discrete-event simulation
// of a pgha cluster: 3–5 nodes, each a simulated PostgreSQL and a node agent
// that runs the real [failover.Decide] and [failover.SelectCandidate]
// against the real dcs/memory store on a [clock.Fake], under random faults
// drawn from a seed. A seed fully determines the run: the same seed yields a
// byte-identical event log.
//
// # How it stays deterministic
//
// Every piece of activity is an event in one priority queue ordered by
// (virtual time, sequence number). An agent's two loops (lease keepalive and
// HA loop) are coroutines (iter.Pull): they run only when the scheduler
// resumes them, one at a time, and give control back whenever they wait
// (a loop_wait sleep, a DCS round trip, a pg_rewind). The memory store is
// called synchronously from whichever coroutine runs; after each clock
// advance the scheduler calls memory.Cluster.ExpireNow, so lease expiry
// happens at a fixed point whatever the store's own goroutine does.
//
// DCS unreachability uses the store handle's own fault
// (memory.Store.SetFault with Unavailable). A slow DCS is modelled by the
// agent waiting the delay on the virtual clock before its call is applied
// (and timing out unapplied at or beyond the request timeout), because the
// store's Delay fault blocks on a clock timer that a single-threaded
// simulation could not advance while blocked.
//
// # What "acts as writable primary" means
//
// A node accepts writes at instant t when its PostgreSQL runs as a primary
// and its agent answers health checks saying so: the agent is up, not
// frozen, and holds a term whose local deadline is after t. That is what a
// router (HAProxy checking /primary) and the agent's own write refusal at
// the deadline enforce; a frozen agent answers nothing, so its primary is
// not routed to. Clients write only to such a node. How long a PostgreSQL
// keeps running as primary without a term is checked separately (an agent
// that runs must demote it within a bound).
//
// # Invariants (checked after every event)
//
//  1. Writable intervals of different nodes never overlap, and a running
//     agent does not leave its PostgreSQL running as primary without a
//     valid term for longer than ttl + 3·loop_wait.
//  2. A promotion happens only with a valid term (ground truth: the leader
//     key names the node with the term's revision) that was acquired by a
//     race decision in which SelectCandidate deemed the node eligible and
//     best, and the lag it measured holds against ground truth: no node
//     that answered the peer query held more than maximum_lag_on_failover
//     bytes of the old lineage that the candidate lacks. (A node that
//     already served as writable primary under the same term and demoted
//     offline may promote again under it.)
//  3. Liveness: once faults stop, within a bound, exactly one node is a
//     writable primary and every other node runs as a replica streaming
//     from it on its timeline.
//  4. Data loss at each promotion: every acknowledged commit that the new
//     timeline does not contain is reported; the part that a surviving
//     node still held must be within maximum_lag_on_failover (what only the
//     dead primary had is lost whoever is promoted, as the failover package
//     documents).
//
// # Commit acknowledgement
//
// Client commits are acknowledged by a pluggable rule (ackRule), chosen by
// Config.SyncMode (which must equal Settings.SynchronousMode):
//
//   - off: asynchronous replication, ack at primary flush;
//   - on / quorum: synchronous replication as PostgreSQL does it. The
//     primary's simulated synchronous_standby_names (FIRST k or ANY k over
//     names) holds each commit until k named standbys streaming from it
//     have flushed it (an empty value acks at once); waiting commits are
//     re-evaluated when a standby receives WAL or the value changes, and
//     fail unanswered when their server stops.
//
// In synchronous mode the simulated agent does what the Controller does:
// as leader it runs failover.PlanSync every cycle (sync key written with
// the term guard and compare-and-swap, GUC set in the planned order,
// catch-up measured against the flush position when the value changed),
// and before promoting it writes the sync key naming itself alone. Races
// use the real SelectCandidate with the sync key. [SyncConfigForSeed]
// draws priority or quorum mode, strict or not, synchronous_node_count 1
// or 2 and sometimes a nosync member. On top of invariants 1–3:
//
//  5. No acknowledged commit is ever lost in synchronous mode: a promotion
//     whose new timeline lacks one fails the run, and at the end every
//     acknowledged commit is in the final primary's WAL (commits
//     acknowledged late by a former primary included).
//
// TestSyncCheckerCatchesDefects shows the check is not vacuous: agents
// that decide races as if synchronous mode were off lose acknowledged
// commits within a few hundred seeds.
package sim
