// Package pg controls one PostgreSQL instance for pgha's HA loop.
//
// [Instance] is the contract the failover package drives: bootstrap a new
// cluster, clone a replica, start and stop the server, promote it, make it
// follow an upstream, detect divergence from a new leader's timeline and
// rewind, manage physical replication slots and synchronous_standby_names,
// and report a [Status] snapshot. Embedders that run PostgreSQL in a
// container or on a remote host implement Instance themselves.
//
// Two optional interfaces extend Instance; callers check for them with a
// type assertion, so an Instance written before them keeps compiling.
// [Fencer] stops accepting writes at once, without queueing behind slow
// operations, so that a primary is down before its lease deadline even
// while a CHECKPOINT, a reload or a smart shutdown is in progress.
// [ControlDataReader] reads a cleanly stopped primary's shutdown checkpoint
// location, which a switchover candidate must have received before the
// lease moves. Local implements both.
//
// [Local] is the provided implementation: it manages a data directory on
// this machine with the PostgreSQL binaries and pgx v5. When the calling
// process is root it runs the server and every tool as an unprivileged OS
// user (default "postgres"), because PostgreSQL refuses to run as root.
//
// # Files Local owns
//
// Local never rewrites postgresql.conf, pg_hba.conf or postgresql.auto.conf.
// It writes its settings to pgha.conf (included once, at the end of
// postgresql.conf, so it wins over that file; ALTER SYSTEM still wins over
// it) and its authentication rules to pgha_hba.conf (selected with
// hba_file). Both are rewritten before every start, so a data directory
// copied from another member by pg_basebackup or pg_rewind gets this
// member's settings back. The server's log goes to LocalConfig.LogFile,
// outside the data directory so it is not copied to replicas.
//
// # Errors
//
// Callers branch on sentinel errors with errors.Is: [ErrNotRunning],
// [ErrAlreadyRunning], [ErrDataDirNotEmpty], [ErrNoDataDir],
// [ErrPortInUse], [ErrStartFailed], [ErrAuthFailed], [ErrBinaryNotFound],
// [ErrRewindImpossible], [ErrRewindFailed], [ErrSystemIDMismatch],
// [ErrNotReplica], [ErrInvalidConfig], [ErrFenced] and
// [ErrNotCleanlyStopped].
package pg
