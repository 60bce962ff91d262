package healthapi

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"time"

	"github.com/pgha/pgha/dcs"
)

// StateSource supplies the node's current state. State must not block and
// must not do I/O: it is called on every request, including HAProxy checks
// several times a second. It returns nil before the first state is known,
// in which case every health check answers 503. The returned snapshot is
// shared and must not be modified by anyone once published.
type StateSource interface {
	State() *NodeState
}

// LiveSource is a [StateSource] that can refresh the WAL positions of its
// snapshot from PostgreSQL when asked. GET /patroni uses it when the
// handler's Source has it, as Patroni's API queries PostgreSQL on every
// request: a peer that measures its lag in a leader race must see where
// this node's WAL is now, not where it was at the last loop (with a 10 s
// loop_wait the difference is ten seconds of acknowledged commits).
// LiveState must return within ctx's deadline; nil means "use State".
type LiveSource interface {
	StateSource
	LiveState(ctx context.Context) *NodeState
}

// LiveStateTimeout bounds LiveState in GET /patroni; on timeout the
// cached snapshot is served.
const LiveStateTimeout = 500 * time.Millisecond

// StateCache is a [StateSource] holding the latest published snapshot. The
// producer calls Store after each loop; readers never wait. The zero value
// is ready to use and holds no state.
type StateCache struct {
	p atomic.Pointer[NodeState]
}

// Store publishes s. s must not be modified afterwards; publish a new value
// instead.
func (c *StateCache) Store(s *NodeState) { c.p.Store(s) }

// State returns the latest published snapshot, or nil.
func (c *StateCache) State() *NodeState { return c.p.Load() }

// Replication is one row of pg_stat_replication on a primary, as Patroni
// reports it in GET /patroni.
type Replication struct {
	Usename         string `json:"usename"`
	ApplicationName string `json:"application_name"`
	ClientAddr      string `json:"client_addr"`
	State           string `json:"state"`
	SyncState       string `json:"sync_state"`
	SyncPriority    int    `json:"sync_priority"`
}

// Histogram is a cumulative histogram snapshot kept by the producer, exposed
// as a Prometheus histogram.
type Histogram struct {
	// Count is the number of observations.
	Count uint64
	// Sum is the sum of all observations, in seconds.
	Sum float64
	// Buckets maps each upper bound (seconds) to the cumulative number of
	// observations less than or equal to it.
	Buckets map[float64]uint64
}

// NodeState is an immutable snapshot of what one node knows, published by
// the HA loop and read by every request. Zero values mean "unknown" or
// "absent" unless stated otherwise.
type NodeState struct {
	// Name is this member's name and Scope the cluster name; both label
	// every metric and appear in GET /patroni.
	Name  string
	Scope string

	// Role is what PostgreSQL currently is: dcs.RolePrimary,
	// dcs.RoleReplica, dcs.RoleStandbyLeader, dcs.RoleDemoted or
	// dcs.RoleUninitialized.
	Role string
	// PGState is PostgreSQL's state as published in the member key
	// (dcs.StateRunning, dcs.StateStarting, ...).
	PGState string
	// ServerVersion is server_version_num, e.g. 150004.
	ServerVersion int
	// PostmasterStartTime is pg_postmaster_start_time().
	PostmasterStartTime time.Time
	// SystemIdentifier is the database system identifier.
	SystemIdentifier string
	// Timeline is PostgreSQL's current timeline.
	Timeline int64

	// XLogLocation is the WAL flush position of a primary.
	XLogLocation int64
	// ReceivedLSN and ReplayedLSN are a replica's last received and last
	// replayed WAL positions.
	ReceivedLSN int64
	ReplayedLSN int64
	// ReplayedTimestamp is pg_last_xact_replay_timestamp().
	ReplayedTimestamp time.Time
	// ReplayPaused reports pg_is_wal_replay_paused().
	ReplayPaused bool
	// ReplicationState is the WAL receiver's state on a replica:
	// dcs.ReplicationStreaming, dcs.ReplicationArchiveRecovery, or "".
	ReplicationState string
	// LeaderLSN is the best known position of the leader's WAL, Patroni's
	// leader_optime: the larger of the status key's optime and the WAL
	// receiver's latest_end_lsn. Replication lag is LeaderLSN minus
	// ReplayedLSN; when zero, the cached cluster's status optime is used.
	LeaderLSN int64
	// Replication lists the standbys connected to this node.
	Replication []Replication

	// IsLeader reports that this node holds the leader term now: the lease
	// is valid by the local deadline. It alone decides /primary and
	// /leader, whatever PostgreSQL's state.
	IsLeader bool
	// StandbyCluster reports that the cluster replicates from another one.
	StandbyCluster bool
	// Paused reports maintenance mode.
	Paused bool
	// FailsafeActive reports that failsafe mode keeps this primary running
	// without the DCS.
	FailsafeActive bool
	// WatchdogFailed reports that the watchdog could not be activated.
	WatchdogFailed bool
	// PromoteVetoed reports that this node's pre-promote hook refused a
	// promotion less than a ttl ago (pgha's pre_promote_vetoed): like
	// watchdog_failed, it tells the other members not to wait for this
	// node in a leader race.
	PromoteVetoed bool

	// Tags are this member's tags.
	Tags dcs.Tags
	// PendingRestart and PendingRestartReason report settings that need a
	// restart; ScheduledRestart is the scheduled restart, raw JSON.
	PendingRestart       bool
	PendingRestartReason json.RawMessage
	ScheduledRestart     json.RawMessage

	// Cluster is the last DCS snapshot read successfully, used for /cluster,
	// /history, /config, /sync and /async. It may be stale; see DCSLastSeen.
	Cluster *dcs.Cluster
	// DCSLastSeen is when the DCS last answered. The cached Cluster counts
	// as valid until DCSLastSeen + TTL, as in Patroni.
	DCSLastSeen time.Time
	// TTL is the leader key's time to live (default 30 s when zero).
	TTL time.Duration
	// NextRun is when the HA loop is due to run next. /liveness fails once
	// NextRun + TTL (2×TTL unless running as primary) has passed, and
	// while it is zero (unless paused).
	NextRun time.Time

	// Term is the leader key's create revision while this node leads, the
	// fencing token of its term; 0 otherwise.
	Term int64
	// FailoversTotal counts failovers and switchovers this node has taken
	// part in, by reason, since the process started.
	FailoversTotal map[string]uint64
	// DCSErrorsTotal counts failed DCS operations since the process started.
	DCSErrorsTotal uint64
	// LoopDuration is the distribution of HA loop cycle durations.
	LoopDuration Histogram

	// SyncDegraded is set on a leader in synchronous mode (not strict)
	// when no standby is synchronous: commits are acknowledged by the
	// primary alone. SyncBlocking is set in strict mode when no
	// synchronous standby streams: commits wait.
	SyncDegraded bool
	SyncBlocking bool
}

// defaultTTL is Patroni's default ttl.
const defaultTTL = 30 * time.Second

// defaultMaxLagOnFailover is Patroni's default maximum_lag_on_failover.
const defaultMaxLagOnFailover = 1 << 20

func (s *NodeState) ttl() time.Duration {
	if s.TTL > 0 {
		return s.TTL
	}
	return defaultTTL
}

// Running reports whether PostgreSQL runs (state "running").
func (s *NodeState) Running() bool { return s.PGState == dcs.StateRunning }

// dcsValid reports whether the cached cluster view may still be trusted.
func (s *NodeState) dcsValid(now time.Time) bool {
	return s.Cluster != nil && !s.DCSLastSeen.IsZero() && now.Before(s.DCSLastSeen.Add(s.ttl()))
}

// ClusterUnlocked mirrors Patroni's cluster_unlocked at now: no
// trustworthy view of the DCS, or no leader in it.
func (s *NodeState) ClusterUnlocked(now time.Time) bool {
	return !s.dcsValid(now) || s.Cluster.Leader == nil
}

// syncMode returns the cluster's synchronous mode, "off" when unknown.
func (s *NodeState) syncMode() string {
	if s.Cluster == nil {
		return "off"
	}
	return s.Cluster.Config.SyncMode()
}

// isSyncMember reports whether this node is listed as a synchronous standby
// (not as the sync leader) in the cached sync key.
func (s *NodeState) isSyncMember() bool {
	if s.Cluster == nil || s.Cluster.Sync == nil || s.Cluster.Sync.Leader == s.Name {
		return false
	}
	return s.Cluster.Sync.IsSync(s.Name)
}

// SyncStandby reports a synchronous standby in synchronous_mode on.
func (s *NodeState) SyncStandby() bool {
	return s.syncMode() == "on" && s.isSyncMember()
}

// QuorumStandby reports a listed standby in synchronous_mode quorum.
func (s *NodeState) QuorumStandby() bool {
	return s.syncMode() == "quorum" && s.isSyncMember()
}

// leaderLSN returns the best known leader WAL position.
func (s *NodeState) leaderLSN() int64 {
	l := s.LeaderLSN
	if s.Cluster != nil && s.Cluster.Status != nil && s.Cluster.Status.Optime > l {
		l = s.Cluster.Status.Optime
	}
	return l
}

// ReplayLag is how far, in bytes, replay trails the leader.
func (s *NodeState) ReplayLag() int64 { return max(0, s.leaderLSN()-s.ReplayedLSN) }

// receiveLag is how far, in bytes, the WAL receiver trails the leader.
func (s *NodeState) receiveLag() int64 { return max(0, s.leaderLSN()-s.ReceivedLSN) }

// maxLagOnFailover is the cluster's maximum_lag_on_failover.
func (s *NodeState) maxLagOnFailover() int64 {
	if s.Cluster != nil && s.Cluster.Config != nil && s.Cluster.Config.MaximumLagOnFailover != nil {
		return *s.Cluster.Config.MaximumLagOnFailover
	}
	return defaultMaxLagOnFailover
}

// FailsafeEnabled reports failsafe_mode in the cached config.
func (s *NodeState) FailsafeEnabled() bool {
	return s.Cluster != nil && s.Cluster.Config != nil && s.Cluster.Config.FailsafeMode != nil && *s.Cluster.Config.FailsafeMode
}

// FailsafeMember reports that this node is listed in the cached failsafe
// key, i.e. a primary cut off from the DCS would ask it for confirmation.
// The key counts only while failsafe mode is on, as for GET /failsafe: a
// leftover key from an earlier period means nothing.
func (s *NodeState) FailsafeMember() bool {
	if !s.FailsafeEnabled() {
		return false
	}
	_, ok := s.Cluster.Failsafe[s.Name]
	return ok
}
