package pg

import (
	"context"
	"time"
)

// Instance is one PostgreSQL server as the HA loop sees it. pglocal.Local manages
// a data directory on this machine; an embedder may implement Instance for a
// container or a remote host (package pgtest is a simulated one). Every
// method that talks to the server or runs a program takes a context that
// bounds it.
//
// What the Controller relies on:
//
//   - Concurrency. State, Status and Slots may be called from several
//     goroutines at once, also while another method runs (the health API
//     reads positions live). Methods that change the server (Start, Stop,
//     Restart, Promote, Follow, Demote, Rewind, Clone, RemoveData,
//     Bootstrap) are called one at a time by the Controller, but an
//     instance must still serialize them itself if anything else may call
//     them. A fence ([Fencer]) may arrive during any of them and must win.
//   - Polling. State is called every ControllerOptions.PGPollInterval
//     (default 200 ms) and must not do I/O beyond checking the process;
//     Status is called once per HA cycle (every loop_wait, and at once
//     after an action) and by the health API's GET /patroni, each bounded
//     by a context of a few seconds.
//   - Status fields. State and Role always; on a primary FlushLSN and
//     Timeline; on a replica ReceiveLSN, ReplayLSN, Timeline and Receiver,
//     with LastMsgReceiptTime while streaming (the leader race uses its age
//     to tell a live upstream from a dead one). SystemID guards against
//     following a different cluster. Replication (pg_stat_replication) and
//     SynchronousStandbyNames matter in synchronous mode;
//     PendingRestart(Reason), PostmasterStart, ServerVersion and
//     ReplayTimestamp are published only. Zero means unknown.
//   - Optional interfaces, checked with a type assertion: [Fencer] and
//     [DeadlineFencer] (fencing), [ControlDataReader] (divergence and
//     hand-over checks), [ClusterConfigurer] (the cluster's parameters),
//     [LogicalSlotCreator] and [SlotAdvancer] (slots), [LogicalSlotCopier]
//     (permanent logical slots on replicas, kept for after a failover),
//     [DataDirMover] (a failed bootstrap's data set aside, not deleted).
type Instance interface {
	// State is the process state as last observed, without I/O beyond
	// checking that the postmaster still exists.
	State() ProcessState
	// Status returns a snapshot of the server. A stopped server is not an
	// error: the snapshot then carries only State.
	Status(ctx context.Context) (Status, error)

	// Bootstrap creates a new cluster in an empty data directory (initdb,
	// or opts.Method such as a restore from a backup; then roles, pg_hba
	// and opts.PostBootstrap) and leaves it running as a primary. After a
	// failure the server is stopped; what a custom method restored may be
	// left in the data directory (see [DataDirMover]).
	Bootstrap(ctx context.Context, opts BootstrapOptions) error
	// Clone creates a replica's data directory from an upstream with the
	// configured replica-creation methods, tried in order. The server is left
	// stopped; call Follow to start it.
	Clone(ctx context.Context, req CloneRequest) error
	// RemoveData deletes the contents of the stopped server's data directory,
	// the step before a re-clone.
	RemoveData(ctx context.Context) error

	// Start starts the server as its data directory says (primary, or
	// replica when standby.signal exists) and waits until it accepts
	// connections.
	Start(ctx context.Context) error
	// Stop stops the server in the given mode and waits for the postmaster
	// to exit. Stopping a stopped server is not an error.
	Stop(ctx context.Context, mode StopMode) error
	// Restart stops in the given mode and starts again.
	Restart(ctx context.Context, mode StopMode) error
	// Reload makes the server re-read its configuration files.
	Reload(ctx context.Context) error

	// Promote turns a running replica into a primary, waits until it
	// accepts writes and returns its new timeline.
	Promote(ctx context.Context) (timeline uint32, err error)
	// Follow makes the server a replica of cfg.Upstream (or a standby with
	// no upstream when cfg.Upstream is zero). A stopped server is started; a
	// running replica is re-pointed by reload where the server version
	// allows it, else restarted; a running primary is demoted with
	// cfg.DemoteMode.
	Follow(ctx context.Context, cfg FollowConfig) error
	// Demote stops a running server in the given mode and starts it as a
	// replica configured by cfg.
	Demote(ctx context.Context, mode StopMode, cfg FollowConfig) error

	// CheckDivergence decides whether the local data has diverged from the
	// upstream's timeline, so that it cannot simply follow it.
	CheckDivergence(ctx context.Context, upstream Upstream) (Divergence, error)
	// Rewind stops the server if needed and runs pg_rewind against
	// upstream. It returns ErrRewindImpossible (nothing changed) when the
	// data directory does not allow it and ErrRewindFailed when pg_rewind
	// failed; the fallback for both is RemoveData and Clone. The server is
	// left stopped; call Follow.
	Rewind(ctx context.Context, upstream Upstream) error

	// Slots lists the replication slots of the running server.
	Slots(ctx context.Context) ([]Slot, error)
	// CreateSlot creates a physical slot that reserves WAL at once; an
	// existing slot of that name is not an error.
	CreateSlot(ctx context.Context, name string) error
	// DropSlot drops a slot; a missing slot is not an error.
	DropSlot(ctx context.Context, name string) error
	// SetSynchronousStandbyNames sets synchronous_standby_names and waits
	// until the server reports the new value.
	SetSynchronousStandbyNames(ctx context.Context, s SyncStandbys) error
	// Checkpoint runs CHECKPOINT.
	Checkpoint(ctx context.Context) error
}

// ProcessState is the life-cycle state of the postmaster. The strings are
// Patroni's member "state" values.
type ProcessState string

// Process states.
const (
	StateStopped     ProcessState = "stopped"
	StateStarting    ProcessState = "starting"
	StateRunning     ProcessState = "running"
	StateStopping    ProcessState = "stopping"
	StateCrashed     ProcessState = "crashed"
	StateStartFailed ProcessState = "start failed"
)

// StopMode is a pg_ctl shutdown mode.
type StopMode string

// Shutdown modes. Smart waits for clients to disconnect, fast disconnects
// them and checkpoints, immediate aborts without a checkpoint (crash
// recovery on the next start).
const (
	StopSmart     StopMode = "smart"
	StopFast      StopMode = "fast"
	StopImmediate StopMode = "immediate"
)

// Role is the replication role of a running server.
type Role string

// Roles, spelled as in Patroni member keys.
const (
	RoleUnknown Role = ""
	RolePrimary Role = "primary"
	RoleReplica Role = "replica"
)

// ReceiverState describes how a replica gets WAL, as Patroni's
// "replication_state".
type ReceiverState string

// WAL receiver states.
const (
	ReceiverNone      ReceiverState = ""
	ReceiverStreaming ReceiverState = "streaming"
	ReceiverArchive   ReceiverState = "in archive recovery"
)

// Status is a snapshot of a server. Fields other than State are zero when
// the server is not running.
type Status struct {
	State ProcessState
	Role  Role
	// Timeline is the current timeline of a primary. On a replica it is the
	// timeline of the last WAL received (pg_stat_wal_receiver.received_tli)
	// while a WAL receiver runs, else the timeline of the last WAL record
	// replayed (IDENTIFY_SYSTEM on a local replication connection), never
	// the last restartpoint's, which lags behind after a promotion
	// elsewhere. See replayTimeline for why not a timeline history file.
	Timeline        uint32
	SystemID        uint64 // database system identifier
	ServerVersion   int    // server_version_num, e.g. 150004
	PostmasterStart time.Time
	PendingRestart  bool // some changed setting needs a restart
	// PendingRestartReason names each setting waiting for a restart with
	// its running and its configured value; set only with PendingRestart
	// (and left nil by instances that cannot tell).
	PendingRestartReason map[string]PendingChange

	FlushLSN LSN // primary: pg_current_wal_flush_lsn()

	ReceiveLSN       LSN // replica: last WAL received and flushed
	ReplayLSN        LSN // replica: last WAL replayed
	ReplayTimestamp  time.Time
	Receiver         ReceiverState
	ReceiverUpstream string // replica: sender host from pg_stat_wal_receiver
	ReceiverPort     int    // replica: sender port from pg_stat_wal_receiver

	// The fields below come from pg_stat_wal_receiver and are set only
	// while Receiver is ReceiverStreaming; zero otherwise.
	//
	// LastMsgReceiptTime is when (local clock) the last message from the
	// upstream arrived: WAL or a keepalive. On an idle cluster the upstream
	// sends nothing unasked; the receiver asks for a keepalive after
	// wal_receiver_timeout/2 of silence (pgha's default wal_receiver_timeout
	// of 2 s makes that at most about 1 s; PostgreSQL's 60 s default makes
	// it 30 s). PostgreSQL sets it to the receiver's start time before the
	// first message, which is why it is not reported outside streaming.
	LastMsgReceiptTime time.Time
	// LastMsgSendTime is when the upstream sent the last message, by the
	// upstream's clock.
	LastMsgSendTime time.Time
	// LatestEndLSN is the upstream's end of WAL as of its last message.
	LatestEndLSN LSN
	// LatestEndTime is when (upstream's clock) the upstream sent the
	// message in which LatestEndLSN last advanced.
	LatestEndTime time.Time

	SynchronousStandbyNames string
	Replication             []Replication // primary or cascading replica: pg_stat_replication
}

// WALPosition is Patroni's xlog_location: the flush LSN of a primary, the
// larger of receive and replay LSN of a replica.
func (s Status) WALPosition() LSN {
	if s.Role == RolePrimary {
		return s.FlushLSN
	}
	return max(s.ReceiveLSN, s.ReplayLSN)
}

// Replication is one row of pg_stat_replication.
type Replication struct {
	PID             int
	User            string
	ApplicationName string
	ClientAddr      string
	State           string // startup, catchup, streaming, backup, stopping
	SyncState       string // async, potential, sync, quorum
	SyncPriority    int
	SentLSN         LSN
	WriteLSN        LSN
	FlushLSN        LSN
	ReplayLSN       LSN
}

// Upstream is a server to replicate, clone or rewind from. Credentials come
// from the local configuration (the replication and rewind roles are the
// same cluster-wide, as in Patroni).
type Upstream struct {
	Host string // host name, IP address or unix socket directory
	Port int
	// Member is the cluster member behind Host:Port when the Controller
	// knows it ("" otherwise): for logs, and for instances that address
	// members by name rather than by address.
	Member string
}

// IsZero reports whether no upstream is set.
func (u Upstream) IsZero() bool { return u.Host == "" }

// FollowConfig says what a replica follows.
type FollowConfig struct {
	// Upstream to stream from; zero for a standby with no upstream (a
	// demoted node that does not know the new leader yet).
	Upstream Upstream
	// SlotName is primary_slot_name on the upstream; empty for none.
	// Usually SlotName(this member's name).
	SlotName string
	// ApplicationName identifies this replica on the upstream (and in
	// synchronous_standby_names); defaults to the member name.
	ApplicationName string
	// Restart forces a restart even where a reload would do.
	Restart bool
	// DemoteMode is the stop mode used when the server is a running primary
	// (default fast).
	DemoteMode StopMode
	// Recovery are recovery settings for this follow only
	// (restore_command, archive_cleanup_command, recovery_min_apply_delay):
	// the standby leader of a standby cluster takes them from the
	// cluster's standby_cluster section. They override the instance's own
	// recovery configuration; nil or empty leaves it as it is.
	Recovery map[string]string
	// TargetSessionAttrs is target_session_attrs in primary_conninfo
	// ("read-write" when Upstream.Host lists several hosts, so that the
	// replica streams from the one that is a primary); "" for none.
	TargetSessionAttrs string
}

// CloneRequest says how to create a replica's data directory.
type CloneRequest struct {
	// Upstream to copy from; may be zero only when some method has NoLeader.
	Upstream Upstream
	// Replace allows Clone to wipe an existing data directory first.
	// Without it a non-empty data directory is an ErrDataDirNotEmpty error.
	Replace bool
	// Methods, when non-empty, are the only replica-creation methods
	// tried, in this order, instead of the instance's configured order
	// (Patroni's standby_cluster.create_replica_methods, which creates the
	// first member of a standby cluster). Each name must be one the
	// instance defines (pglocal: its replica methods, its standby-only
	// methods, or the built-in basebackup); a name it does not define is
	// an ErrInvalidConfig error returned before anything is changed. With
	// a zero Upstream only methods that run without a leader (no_leader)
	// can succeed.
	Methods []string
}

// Divergence is the result of CheckDivergence.
type Divergence struct {
	Diverged         bool
	Reason           string // why it diverged or why not, for logs
	LocalTimeline    uint32
	LocalLSN         LSN // checkpoint (former primary) or replay/minimum recovery (replica)
	UpstreamTimeline uint32
	SwitchPoint      LSN // where the upstream's history left the local timeline
}

// Slot is a replication slot.
type Slot struct {
	Name       string
	Type       string // physical or logical
	Active     bool
	RestartLSN LSN
	// Database and Plugin are set for a logical slot.
	Database string
	Plugin   string
	// ConfirmedFlushLSN is the position a logical slot's consumer has
	// confirmed (zero for a physical slot).
	ConfirmedFlushLSN LSN
	// CatalogXmin is the oldest transaction whose catalog rows a logical
	// slot (or the hot standby feedback a physical slot carries) holds on
	// the server; 0 when none.
	CatalogXmin uint32
}

// LogicalSlotCreator is implemented by instances that can create logical
// replication slots (pglocal.Local does); the Controller needs it for the
// permanent logical slots of the cluster's configuration.
type LogicalSlotCreator interface {
	// CreateLogicalSlot creates a logical slot with the output plugin in
	// database on the running primary; an existing slot of that name is
	// not an error.
	CreateLogicalSlot(ctx context.Context, name, plugin, database string) error
}

// SlotAdvancer is implemented by instances that can move a physical slot
// forward (pglocal.Local does). The primary keeps a slot for a cascading replica
// that streams from another member; nothing consumes it, so the Controller
// advances it to the replica's published position lest it hold WAL
// forever.
type SlotAdvancer interface {
	// AdvanceSlot moves the slot's restart position forward to lsn (never
	// back, never past the server's own position).
	AdvanceSlot(ctx context.Context, name string, lsn LSN) error
}

// SyncMethod selects priority (FIRST) or quorum (ANY) synchronous replication.
type SyncMethod string

// Synchronous replication methods.
const (
	SyncFirst SyncMethod = "FIRST"
	SyncAny   SyncMethod = "ANY"
)

// SyncStandbys is a synchronous_standby_names value. An empty Names list
// clears the setting (asynchronous replication).
type SyncStandbys struct {
	Method SyncMethod // default FIRST
	Num    int        // number of synchronous standbys, 1..len(Names)
	Names  []string   // application names
}

// Fencer is an optional interface of an [Instance]: stop accepting writes
// now, whatever else is in progress. It exists because the HA loop must
// stop a primary before its lease deadline (the first safety invariant),
// and Stop and Demote can queue behind slow work on the same server (a
// CHECKPOINT, a reload that waits for a setting, a clone, a rewind, a smart
// shutdown waiting for clients): a fence that waits its turn can run past
// the deadline. Check for it with a type assertion; an Instance without it
// is fenced with Stop or Demote in immediate mode.
type Fencer interface {
	// Fence shuts the server down immediately (no shutdown checkpoint:
	// crash recovery on the next start) without waiting for any operation
	// in progress, and waits, bounded by ctx, until the server has exited.
	// A server that is not running is already fenced: nil. Afterwards the
	// server is stopped on purpose, not crashed, and an operation that was
	// called before Fence does not start it again as a primary.
	Fence(ctx context.Context) error
}

// ControlDataReader is an optional interface of an [Instance]: read the
// stopped server's control file. It exists for switchover by construction
// (the fifth safety invariant): the old primary stops cleanly, and the
// lease moves only once the candidate has received the old primary's
// shutdown checkpoint, which only the old primary's control file names.
type ControlDataReader interface {
	// ShutdownCheckpoint returns the location of the shutdown checkpoint
	// record of a cleanly stopped primary, as its control file names it:
	// where the record starts. The record is the last WAL the primary
	// wrote, so compare with >, not >=: a replica that received all of it
	// reports a receive LSN beyond this location (the record's end). When
	// the last checkpoint is not a primary's shutdown checkpoint (the server
	// is running, crashed, was stopped in immediate mode or fenced, or was a
	// replica) it returns an error wrapping ErrNotCleanlyStopped that names
	// the cluster state seen.
	ShutdownCheckpoint(ctx context.Context) (LSN, error)
}

// DeadlineFencer is an optional interface of an [Instance]: a fence that
// does not need a live agent (DESIGN §3 invariant 8). The HA loop arms it
// with its term's deadline while it leads and re-arms it on every renewal;
// if the agent is frozen, wedged or dead and the deadline passes without a
// re-arm, something outside the agent stops the server in immediate mode
// before the lease can expire and another node be promoted. pglocal.Local
// implements it with a fence keeper process (package fence).
type DeadlineFencer interface {
	// ArmFence makes the server stop at deadline (a time on this
	// machine's clock) unless ArmFence is called again with a later one,
	// or DisarmFence first. The arm is for the data directory, not one
	// process: a server restarted in place before the deadline, or
	// started after an arm while it was not running, is stopped at it
	// too, so that an agent that dies right after a restart leaves no
	// primary unfenced.
	ArmFence(deadline time.Time) error
	// DisarmFence cancels the armed stop; call it once the server no
	// longer runs as a primary.
	DisarmFence() error
}
