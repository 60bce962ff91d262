package pg

import "context"

// BootstrapOptions say how a new cluster is created: initdb (the default)
// or a custom method such as a restore from a backup (Patroni's
// bootstrap.method), then an optional post-bootstrap command.
type BootstrapOptions struct {
	// Encoding of the new cluster. Default "UTF8". initdb only.
	Encoding string
	// Locale of the new cluster. Default "C". initdb only.
	Locale string
	// DataChecksums enables data page checksums (initdb -k). initdb only.
	DataChecksums bool
	// NoSync skips initdb's final fsync: faster, for tests. initdb only.
	NoSync bool
	// InitdbArgs are extra initdb arguments. initdb only.
	InitdbArgs []string
	// Method, when set, creates the data directory with a custom command
	// instead of initdb. A restore may run for hours: the Controller does
	// not bound a custom bootstrap by its start timeout.
	Method *BootstrapMethod
	// PostBootstrap, when set, is run once the new cluster runs as a
	// primary (after initdb or Method), with a libpq connection string of
	// the local superuser appended as its last argument (Patroni's
	// bootstrap.post_bootstrap, alias post_init). A non-zero exit fails the
	// bootstrap.
	PostBootstrap []string
}

// BootstrapMethod is a custom bootstrap method (Patroni's bootstrap.method
// naming a section with command, keep_existing_recovery_conf, no_params,
// recovery_conf and arbitrary options), typically a restore from a backup
// repository (pgBackRest, WAL-G, barman) to a point in time.
type BootstrapMethod struct {
	// Name is the method's name (its section under bootstrap), for logs.
	Name string
	// Command is the program and its arguments. It must create the data
	// directory; unless NoParams, --scope=<scope> and --datadir=<data
	// directory> are appended, then Options as --name=value.
	Command []string
	// Options are passed as --name=value after Patroni's own arguments,
	// sorted by name (Patroni passes the method section's other keys).
	Options map[string]string
	// NoParams leaves out --scope and --datadir.
	NoParams bool
	// KeepExistingRecoveryConf keeps the recovery.signal and the recovery
	// settings the command left (in postgresql.auto.conf, for example)
	// for the first start, and writes no RecoveryConf. Without it they
	// are removed before the start. Either way the recovery settings in
	// postgresql.auto.conf are removed once the server is a primary: its
	// replicas copy that file.
	KeepExistingRecoveryConf bool
	// RecoveryConf are recovery settings (restore_command,
	// recovery_target_name, recovery_target_time, recovery_target_action,
	// ...) written for the first start, with recovery.signal, so that
	// PostgreSQL replays the archive to the target and promotes. Ignored
	// with KeepExistingRecoveryConf. Without them the restored directory
	// starts as a primary after crash recovery from the WAL it holds.
	RecoveryConf map[string]string
}

// DataDirMover is implemented by instances that can set a data directory
// aside instead of deleting it: after a failed custom bootstrap the
// Controller moves what the command left (an operator's restore) out of
// the way, as Patroni does, so that a later attempt finds an empty data
// directory and nothing is destroyed.
type DataDirMover interface {
	// MoveDataDirAside renames the stopped server's data directory (for
	// example to <data directory>_<UTC timestamp>) and returns the new
	// path; "" and nil when there was nothing to move.
	MoveDataDirAside(ctx context.Context) (string, error)
}
