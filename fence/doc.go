// Package fence stops a primary's PostgreSQL when its leader term runs out
// and the agent that holds the lease cannot: a small keeper process, separate
// from the agent, that the agent must confirm the term to before each
// deadline and that otherwise stops the postmaster in immediate mode
// (SIGQUIT). It needs no watchdog device.
//
// # Pieces
//
//   - [Process] names one process for its whole life (pid and start time),
//     so that a reused pid is never signalled; [Identify] reads it for a pid
//     and [LookupPostmaster] for the postmaster of a data directory, checking
//     postmaster.pid against /proc.
//   - [Start] starts a keeper and returns its [Keeper]: [Keeper.Arm] (stop this
//     process at this deadline unless confirmed again), [Keeper.Disarm],
//     [Keeper.Close], [Keeper.Alive].
//
// # The deadline rule
//
// Let D be the deadline given to Arm: the term's deadline, election's
// Term.Deadline(), read on Go's monotonic clock. Arm reads that clock (n),
// then CLOCK_BOOTTIME (b), and sends the keeper
//
//	k = b + (D − n)
//
// which is D on CLOCK_BOOTTIME, late by the gap between the two reads (tens
// of nanoseconds), never early. Both processes read the same kernel clock,
// so the time the message spends in the pipe does not matter, and neither
// do clock offsets or NTP (which slews both clocks alike and steps neither).
// The keeper stops the target at
//
//	D <= fire <= D + δ
//
// where δ is its wake-up latency, and PostgreSQL takes no more writes once
// its backends have handled the SIGQUIT the postmaster forwards to them
// (ε). election's rule puts D at least Margin − TTL·ρ before the moment any
// other node can take the lease; that slack (about 600 ms at the defaults)
// is where δ + ε must fit, the same slack the agent's own fencing uses.
// Measured on a two-core VM: δ 0.2 to 1 ms; a PostgreSQL 15 postmaster and
// all its children gone 6 ms after the signal. Neither is bounded in
// theory: a keeper starved of CPU or swapped out wakes late.
//
// CLOCK_BOOTTIME, unlike CLOCK_MONOTONIC, counts while the machine is
// suspended, as the lease in the DCS does; the keeper sleeps at most one
// second at a time, so it fires within a second of resuming if the deadline
// passed meanwhile.
//
// A healthy primary is never stopped: the keeper never fires before D, and
// when it wakes for D it first reads everything in its pipe. Each message
// is stamped with the agent's CLOCK_BOOTTIME when it was made: one made
// before D takes effect however late the keeper wakes; one made at or after
// D comes too late, and the target is stopped before it applies. With
// election's defaults the agent re-arms once a second with a deadline 5.4 s
// ahead, so each confirmation has about 4.4 s to spare.
//
// Within one arming, deadlines only move later: an Arm of the armed
// process with an earlier deadline is ignored (the term's deadline only
// grows; an earlier value can only be stale). Arming another process, or
// arming after Disarm, sets the deadline as given. After firing nothing is
// armed, and a Disarm does nothing.
//
// A process is armed, but the deadline is for the data directory when
// Options.DataDir is set: at a deadline whose armed postmaster has exited,
// the keeper stops the postmaster running in DataDir then, and Arm of the
// zero Process arms DataDir while none runs. An agent that restarts its
// primary in place arms the new postmaster only once its pid file exists;
// killed in between, it would otherwise leave that primary running past
// the term (the end-to-end test TestAgentFault found two primaries so).
//
// # What it covers, and what it cannot
//
// It covers an agent that is frozen (SIGSTOP, also of its whole process
// group: the keeper runs in a session of its own), wedged (a deadlock, a
// hung system call, a Controller starved by anything) or dead (SIGKILL, a
// crash, the OOM killer), while the postmaster keeps running, on a kernel
// that still schedules the keeper. If the postmaster has not exited
// Options.KillAfter after SIGQUIT (it was stopped, or ignores the signal),
// the keeper sends SIGKILL to it and to its children. PostgreSQL's own
// immediate shutdown already sends SIGKILL to children still alive after
// 5 s, so this is for a broken postmaster only; it needs the children too,
// as a backend whose postmaster died may still finish its transaction.
//
// Only a hardware or kernel watchdog (or fencing outside the machine)
// covers a whole-host freeze, a paused VM, a kernel hang, or the keeper
// killed as well (kill -9 of the keeper, a service manager that kills the
// agent's whole cgroup; PostgreSQL usually dies with it then). Nothing
// here helps a postmaster or backend in uninterruptible sleep, which
// SIGKILL does not end either. A keeper that is alive but stopped or wedged
// cannot fence; the agent notices at the first Arm after the keeper has
// left a message unread for KillAfter + 10 s (longer than a fence takes),
// kills it and starts another.
//
// # The keeper process
//
// The keeper is the running executable, re-executed through /proc/self/exe
// (the same binary even if its file has since been replaced by an upgrade)
// with PGHA_FENCE_KEEPER=1 in its environment. This package's init
// function checks that variable and, when it is set, runs the keeper and
// exits instead of returning: this is the one effect of importing the
// package, and what lets any binary that imports it (the agent, an
// embedder's binary, a test binary) start a keeper without any change to
// its main. The keeper runs after the package initializers that Go orders
// before this package's (those of its imports, and others; never main) and
// instead of the rest. A binary in which one of those earlier initializers
// exits, blocks or fails without main cannot host a keeper; Start then
// fails with [ErrKeeperFailed].
//
// The keeper is started with setsid(2), working directory /, stdin a pipe
// from the agent (its only input, one short line per message), fd 3 a pipe
// on which it reports that it runs, stdout /dev/null and stderr
// Options.KeeperLog; it calls itself "pgha-fence-keeper" in ps and
// "pgha-fence" in top. It ignores SIGTERM, SIGINT, SIGHUP and SIGPIPE, and
// exits when the agent's pipe is closed (the agent exited or called Close)
// and nothing is armed; when the pipe closes while armed, it keeps the
// deadline, fires at it unless the target has gone, then exits. It holds a
// pidfd on the armed process (Linux >= 5.3; older kernels check the start
// time before each signal), so it signals that process or none. It needs
// the right to signal the postmaster: run the agent as root or as the
// server's OS user.
//
// Cost: re-arming is one write(2) of about 50 bytes and one ioctl(2): 6 µs
// back to back, 30 to 150 µs of wall time when the write must wake the
// sleeping keeper. The keeper wakes for each message and at most once a
// second while armed, never while not. Measured on a two-core VM, re-armed
// every 100 ms (ten times the real rate): 0.2 % of one core, the cost of any
// Go program waking ten times a second there; 3.6 MB of private memory (its
// code pages are the agent's binary, shared with the agent).
//
// # Using it
//
// An agent starts one Keeper for the data directory it manages and then:
//
//   - when it wins a term with PostgreSQL running as primary (promoted,
//     started or adopted): Arm(LookupPostmaster(dataDir), term.Deadline());
//   - on every keepalive that moves the deadline: Arm again, with the same
//     Process and the new term.Deadline();
//   - when the postmaster is replaced while it leads: Arm the new Process;
//   - when PostgreSQL no longer runs as a primary by the agent's own doing
//     (demoted, stopped, fenced): Disarm, after it has stopped, never
//     before; a term that just runs out needs nothing: the keeper firing
//     on a postmaster the agent already stopped does nothing;
//   - at exit: Close, after PostgreSQL has stopped being primary.
//
// Arm returns [ErrNotRunning] when the postmaster is gone (nothing to
// protect) and [ErrKeeperFailed] when no keeper could be started; a keeper
// that died is replaced by the next Arm. Alive belongs in the agent's
// health report.
//
// An agent that dies and comes back within ttl cannot reach the keeper its
// predecessor armed (the pipe died with it): that keeper still stops the
// postmaster at the old deadline, and the new agent then restarts it in
// place (crash recovery, about a second of writes) if it still holds the
// term. This is the price of a fence that never trusts a silent agent; a
// hardware watchdog would reset the whole host instead.
package fence
