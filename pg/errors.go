package pg

import "errors"

// Sentinel errors. Operations wrap them with detail; test with errors.Is.
var (
	// ErrNotRunning means the operation needs a running server and there is none.
	ErrNotRunning = errors.New("pg: server is not running")
	// ErrAlreadyRunning means a postmaster is already running on the data
	// directory (Start, Bootstrap, Clone, RemoveData refuse).
	ErrAlreadyRunning = errors.New("pg: server is already running")
	// ErrDataDirNotEmpty means Bootstrap or Clone found an existing, non-empty
	// data directory and left it untouched.
	ErrDataDirNotEmpty = errors.New("pg: data directory is not empty")
	// ErrNoDataDir means there is no initialized data directory to start.
	ErrNoDataDir = errors.New("pg: data directory is not initialized")
	// ErrPortInUse means the configured listen address and port are taken by
	// another process; nothing was started.
	ErrPortInUse = errors.New("pg: port is already in use")
	// ErrStartFailed means the postmaster exited while starting; the error
	// carries the tail of the server log.
	ErrStartFailed = errors.New("pg: server failed to start")
	// ErrAuthFailed means PostgreSQL rejected the credentials.
	ErrAuthFailed = errors.New("pg: authentication failed")
	// ErrBinaryNotFound means a required PostgreSQL program is missing from
	// the configured BinDir.
	ErrBinaryNotFound = errors.New("pg: PostgreSQL binary not found")
	// ErrRewindImpossible means pg_rewind cannot be used on this data
	// directory (neither wal_log_hints nor data checksums were on). Nothing
	// was changed; the fallback is to re-clone (RemoveData, then Clone).
	ErrRewindImpossible = errors.New("pg: rewind impossible")
	// ErrRewindFailed means pg_rewind ran and failed. The data directory may
	// be unusable; the fallback is to re-clone. When the target's own WAL
	// needed by the rewind is gone ("could not find previous WAL record")
	// the error says so.
	ErrRewindFailed = errors.New("pg: rewind failed")
	// ErrSystemIDMismatch means the upstream belongs to a different cluster
	// (another database system identifier); only a re-clone can fix that.
	ErrSystemIDMismatch = errors.New("pg: system identifier differs from upstream")
	// ErrNotReplica means the operation needs a server in recovery.
	ErrNotReplica = errors.New("pg: server is not a replica")
	// ErrInvalidConfig means a configuration or request field is invalid; the
	// message names the field.
	ErrInvalidConfig = errors.New("pg: invalid configuration")
	// ErrFenced means Fence stopped the server under an operation: the
	// server was fenced while the operation was starting it, or the
	// operation was called before a Fence and would have started the server
	// as a primary after it. The server was left stopped.
	ErrFenced = errors.New("pg: server was fenced")
	// ErrNotCleanlyStopped means the data directory's last checkpoint is not
	// the shutdown checkpoint of a cleanly stopped primary (the server is
	// running, crashed, was stopped in immediate mode or fenced, or was a
	// replica); the error names the cluster state seen.
	ErrNotCleanlyStopped = errors.New("pg: not a cleanly stopped primary")
)

// ErrFenceKeeperDisabled is returned by pglocal.Local.ArmFence when
// pglocal.Config.DisableFenceKeeper is set.
var ErrFenceKeeperDisabled = errors.New("pg: fence keeper disabled")
