// Package pg is the contract between pgha's HA loop and one PostgreSQL server.
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
// lease moves. pglocal.Local implements both.
//
// Package pglocal provides the implementation for a data directory on this
// machine (pglocal.Local, with the PostgreSQL binaries and pgx); package
// pgtest a simulated one for tests. Package pg itself holds only the
// contract and its types, so a program that imports failover does not
// link a PostgreSQL driver.
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
