// Package pgtest is a simulated PostgreSQL for testing control planes built
// on pg.Instance (such as failover.Controller) without running PostgreSQL:
// the in-memory part that a consensus library ships for its users' tests.
//
// A [Network] holds simulated servers, each a [Server] that implements
// pg.Instance, pg.Fencer, pg.DeadlineFencer (the out-of-agent fence keeper,
// which stops a primary at its term's deadline whatever its agent does) and
// pg.ControlDataReader and has an Inspect method
// that satisfies failover.DataDirInspector (pass the Server as both
// Options.Instance and Options.DataDir). Servers find each other by
// pg.Upstream address, so Follow, Clone, Rewind and CheckDivergence work
// against the server the control plane names.
//
// # What is modelled
//
// Each server's WAL is a list of timeline segments, as a timeline history
// file describes it: timeline 1 up to a switch point, timeline 2 from there,
// and so on. Behind every segment is a hidden branch identity drawn from
// the Network, so that two servers that both promoted themselves to
// timeline 2 hold different WAL even though PostgreSQL (and
// CheckDivergence, which mirrors pglocal.Local) cannot tell them apart. The
// branch identity is what streaming and [Server.Has] use: a replica
// streams only when its WAL is a prefix of its upstream's, which is the
// truth that a real walreceiver would find out the hard way.
//
// WAL moves only in [Network.Step], never in the background: a test
// decides when replication happens, and the same calls give the same
// result every time. A control plane test that runs the Controller's
// goroutines calls Step from its own loop or ticker.
//
// [Server.Commit] appends a commit record on a primary and returns a
// [Commit] that is acknowledged once synchronous_standby_names is
// satisfied (FIRST k or ANY k, with PostgreSQL's release rules), and whose
// outcome becomes unknown when the primary goes away first.
// [Network.LostCommits] lists acknowledged commits missing from a server:
// the count a failover test must keep at zero.
//
// Clone honours pg.CloneRequest.Methods: basebackup copies the upstream,
// and [Server.AddRestoreMethod] defines no_leader methods that copy a
// backup server's data without an upstream (a standby cluster's
// create_replica_methods); [Server.CloneRequests] records what was asked.
//
// Promotion starts a new timeline at the replay position and writes an
// end-of-recovery record; a clean (smart or fast) stop of a primary writes
// a shutdown checkpoint and sends it to the connected replicas before
// exiting, as walsenders do; an immediate stop, a crash or a fence writes
// nothing, and the next start or CheckDivergence of that former primary
// runs crash recovery, which writes a checkpoint on the old timeline (this
// is why a crashed primary always needs pg_rewind).
//
// # What is not modelled
//
// Replay is instantaneous (replay LSN equals receive LSN); there is no WAL
// archive, no WAL recycling (a rewind never lacks WAL), no replication
// lag inside a step unless Network.SetBandwidth bounds it (by default a
// reachable replica catches up fully in one step), no
// configuration files, restarts pending or server versions beyond a
// number, no logical slots and no data beyond WAL positions. Cascading
// replication works but may take several steps to propagate. Network
// faults are per server (Isolate), not per link.
//
// # Concurrency
//
// All servers of a Network share one mutex: every method is atomic with
// respect to every other, which is what lets Step move WAL between servers
// consistently. Methods never block, so a ctx only matters when it is
// already done.
package pgtest
