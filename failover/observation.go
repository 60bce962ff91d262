package failover

import (
	"time"

	"github.com/pgha/pgha/dcs"
)

// PGState is the life-cycle state of the local postmaster. The strings are
// Patroni's member states and those of pg.ProcessState.
type PGState string

// PostgreSQL process states.
const (
	PGStopped     PGState = "stopped"
	PGStarting    PGState = "starting"
	PGRunning     PGState = "running"
	PGStopping    PGState = "stopping"
	PGCrashed     PGState = "crashed"
	PGStartFailed PGState = "start failed"
)

// Role is the replication role of the local server.
type Role string

// Roles, spelled as in member keys.
const (
	RoleUnknown Role = ""
	RolePrimary Role = "primary"
	RoleReplica Role = "replica"
)

// Divergence is the outcome of the last divergence check against a leader.
type Divergence int

// Divergence states.
const (
	// DivergenceUnknown: not checked against the current leader.
	DivergenceUnknown Divergence = iota
	// DivergenceNone: the local data can follow the leader as is.
	DivergenceNone
	// DivergenceDiverged: the local data has WAL the leader's timeline
	// does not; it must be rewound or re-cloned.
	DivergenceDiverged
)

// LocalStatus is what the node knows about its own PostgreSQL, reduced to
// what the decision needs. The Controller fills it from pg.Status and its
// own bookkeeping.
type LocalStatus struct {
	// DataEmpty is set when the data directory holds no cluster: the node
	// must bootstrap or clone.
	DataEmpty bool
	State     PGState
	// Role is the role of the running server (RoleUnknown when stopped).
	Role Role
	// WasPrimary is set when the data directory last ran as a primary
	// (pg_controldata "in production" and no standby.signal): a stopped
	// former primary.
	WasPrimary bool
	Timeline   int64
	// FlushLSN (primary), ReceiveLSN and ReplayLSN (replica), in bytes.
	FlushLSN   int64
	ReceiveLSN int64
	ReplayLSN  int64
	// ReplicationState is the WAL receiver state, dcs.ReplicationStreaming
	// or dcs.ReplicationArchiveRecovery or "".
	ReplicationState string
	// LastWALReceiptAt is when the WAL receiver last heard from its
	// upstream (pg_stat_wal_receiver.last_msg_receipt_time); zero if never.
	LastWALReceiptAt time.Time
	// Following is the member this replica is configured to follow, "" for
	// none.
	Following string
	// SystemID is the database system identifier, "" when unknown.
	SystemID string
	// CrashedAt is when the postmaster was found dead without having been
	// stopped by the agent; zero if it has not crashed since it last ran.
	CrashedAt time.Time
	// DownSince is when the server was first seen not running in the
	// current outage, whatever the cause (crash, fence, stop); zero while
	// it runs. Each outage has its own: running again clears it.
	DownSince time.Time
	// LastStartAttempt is when the agent last tried to start the server.
	LastStartAttempt time.Time
	// Divergence is the result of the last divergence check, made against
	// DivergenceLeader.
	Divergence       Divergence
	DivergenceLeader string
	// RewindFailed is set when pg_rewind against the current leader failed.
	RewindFailed bool
	// CloneFromLeader is set after POST /reinitialize with from_leader
	// until the next clone: that clone copies from the leader, not from a
	// clonefrom member.
	CloneFromLeader bool
}

// Running reports whether the postmaster runs.
func (l LocalStatus) Running() bool { return l.State == PGRunning }

// IsPrimary reports whether a running primary accepts writes here.
func (l LocalStatus) IsPrimary() bool { return l.Running() && l.Role == RolePrimary }

// position returns the local server as a candidate position observed at now.
func (l LocalStatus) position(name string, now time.Time) Position {
	p := Position{
		Name:             name,
		State:            string(l.State),
		Role:             string(l.Role),
		ReceiveLSN:       l.ReceiveLSN,
		ReplayLSN:        l.ReplayLSN,
		Timeline:         l.Timeline,
		ReplicationState: l.ReplicationState,
		ObservedAt:       now,
		Source:           SourceLocal,
	}
	if l.Role == RolePrimary {
		p.ReceiveLSN, p.ReplayLSN = l.FlushLSN, l.FlushLSN
	}
	return p
}

// Term is this node's leadership as the election reports it.
type Term struct {
	// Held is set while the election says this node holds the leader key.
	Held bool
	// Revision is the leader key's create revision (the fencing token); 0
	// when unknown.
	Revision int64
	// Deadline is the local instant before which the node must have
	// stopped acting as primary.
	Deadline time.Time
	// Acquired is when the term was won (or its key adopted); zero when
	// unknown.
	Acquired time.Time
	// Failsafe is set when the deadline rests on the members' failsafe
	// confirmations rather than on the lease: the leader key may have
	// expired meanwhile, and the Controller creates it again.
	Failsafe bool
}

// Observation is everything [Decide] looks at. It holds no clock: Now is
// the time of the decision.
type Observation struct {
	Now  time.Time
	Name string
	Tags dcs.Tags
	// Cluster is the latest DCS snapshot, nil when the DCS could not be
	// read (unreachable).
	Cluster *dcs.Cluster
	// ClusterAt is when Cluster was read (zero means Now).
	ClusterAt time.Time
	Local     LocalStatus
	Term      Term
	// Peers are the positions gathered for this decision by bounded peer
	// queries (unreachable peers included, marked Unreachable), and
	// PeersQueried says that they were gathered after ClusterAt. Decisions
	// that need fresh positions return ActionQueryPeers until it is set.
	Peers        []Position
	PeersQueried bool
	// LeaderVanishedAt is when this node first saw the cluster without a
	// leader key in the current leaderless period; zero when unknown. The
	// false-failover guard is bounded from it and does not postpone
	// anything when it is unknown.
	LeaderVanishedAt time.Time
	// CanBootstrap is set when this node may initialize a new cluster (it
	// has a bootstrap configuration).
	CanBootstrap bool
	// BootstrapOwner is set when this node won the initialize race and its
	// bootstrap has not been published yet.
	BootstrapOwner bool
	// FailsafeLeader is the primary that, cut off from the DCS, last had
	// this node confirm it as leader (POST /failsafe), and FailsafeUntil
	// the end of that confirmation; while it stands this node does not
	// race for the leader key.
	FailsafeLeader string
	FailsafeUntil  time.Time
	// WatchdogFailed is set when watchdog.mode is required and this node
	// could not arm the watchdog: it would not promote, so it does not
	// race.
	WatchdogFailed bool
	// PromoteVetoed is set when the pre-promote hook refused a promotion
	// here less than a ttl ago: the node does not race.
	PromoteVetoed bool
	// Settings are the effective settings (see Settings.WithConfig).
	Settings Settings
}
