// Package sim is the fault simulation of whole pgha clusters: 3 to 5 real
// failover.Controllers, each with its real election.Candidate, its health
// API (healthapi) and a simulated PostgreSQL (pg/pgtest), over one
// in-memory DCS (dcs/memory), under faults drawn from a seed, with the
// safety and liveness invariants checked on the real state at every step.
// There is no model of the agent here: what runs is the code users run.
//
// # Virtual time
//
// A run lives in a testing/synctest bubble. Every goroutine of the run (the
// Controllers' loops, lease keepalives, term guards, watches and peer
// queries) is in the bubble, and time is the bubble's virtual clock: it
// moves only when every goroutine is blocked, so a run of several virtual
// minutes takes a fraction of a second, and the timings are pgha's own
// (ttl 6 s and loop_wait 1 s, pgha's defaults, in half the runs; a short
// set and Patroni's 30 s / 10 s in the others). The bubble also proves that
// every goroutine a Controller starts ends when it stops: a leaked one
// fails the test.
//
// The driver wakes every Config.Step (10 ms): it lets the bubble settle,
// moves WAL (pgtest.Network.Step, with a bandwidth bound so that a replica
// that reconnects catches up over time), has one client per node write a
// commit to that node if its server runs as primary (so writes reach a
// stale primary whose agent is frozen, as they would from clients still
// connected to it), starts and heals faults, and checks the invariants.
//
// # Faults
//
// Crash of a node (agent and PostgreSQL) and of PostgreSQL alone; an agent
// killed (PostgreSQL keeps running) or frozen as by SIGSTOP while its
// PostgreSQL keeps accepting writes (every call of the agent and every
// request to its API waits at a gate; the out-of-agent fence, pgtest's
// model of the fence keeper, still fires); the DCS cut off from one node
// (calls refused, or hanging until their timeout), or from all (quorum
// loss); DCS calls slowed by up to 3 s for one node or all; every lease's
// TTL restarted, as etcd does when its raft leader changes; partitions between agents (peer queries fail
// while the DCS works), of one node from all or between two; a server cut
// off from replication, so that replicas fall behind; switchover and
// manual failover requests through the Controller's Manager API; and
// changes of the config key mid-run (ttl, loop_wait, failsafe_mode, and
// synchronous_mode in runs that start asynchronous); a whole machine
// suspended (agent, PostgreSQL, replication and clients all stop) and
// resumed with its monotonic clock behind by the sleep while its wall
// clock and its fence keeper's CLOCK_BOOTTIME are not, or with every clock
// caught up as after a paused VM; and a machine's wall clock stepped by up
// to 5 min either way. Each node reads its own clock (nodeClock): the
// agent's times carry a monotonic and a wall reading as on a real machine,
// and a deadline reaches the fence keeper as time left. Runs draw the cluster
// size, the timing set, synchronous_mode (off, on, quorum; strict or not),
// failsafe_mode and a nofailover member from the seed.
//
// # Invariants
//
//   - At most one PostgreSQL accepts writes: no two servers run as primary
//     at the same step.
//   - No acknowledged write is lost in synchronous mode, at any promotion
//     and at the end.
//   - In asynchronous mode, what a promotion loses of what a surviving node
//     held (one whose agent runs, is not frozen and can reach the promoted
//     node's agent, that is one the race's peer query could hear) is at
//     most maximum_lag_on_failover. Losses of what only the dead primary
//     had are counted (Stats.MaxLoss), as the failover package documents.
//   - Liveness during the run: once no fault is active, a primary holds the
//     leader key within Config.LivenessBound.
//   - No leader key names a node whose PostgreSQL does not run as primary
//     for longer than Config.KeyBound.
//
// TestMutationsCaught runs deliberately broken Controllers
// (internal/mutation), one per invariant plus failsafe mode satisfied by a
// majority, and requires each to be caught within 200 seeds and the
// catching seed to hold without the defect.
//
// # Replaying a seed
//
// A seed fixes the configuration, the fault schedule and each node's
// network latency (distinct per node, 0.2 to 2 ms, applied to its DCS
// calls, its watch and its peer queries), and virtual time makes every
// timer exact. Goroutines runnable at the same virtual instant still
// interleave as the Go scheduler decides; the distinct latencies make
// that rare, so about 17 seeds in 20 replay with the same outcome (the
// driver's view: faults, promotions, leader key changes, violations;
// Result.LogHash), and TestReplay keeps it so. -sim.seed=S runs seed S
// with the full event log and the agents' logs on stdout; -sim.replays=N
// runs it up to N times until it fails again. A seed that runs for two
// minutes of real time is a livelock (a Controller busy at one virtual
// instant): the test prints the logs' tail and panics with every
// goroutine's stack.
//
// # What is not simulated
//
// A monotonic clock that jumps (Linux's does not) or a machine whose
// clocks all miss a suspend (nothing could fence it, Patroni included),
// the hardware watchdog (tested with a fake device in package watchdog and
// failover), etcd and Consul themselves (their behaviour beyond lease
// renewal is tested against real servers in dcs/etcd, dcs/consul and the
// end-to-end tests), real PostgreSQL (pgtest replays instantly, has no WAL
// archive and no restarts pending), and HTTP over sockets.
package sim
