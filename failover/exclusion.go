package failover

// Exclusion is the typed reason a member is not an eligible candidate. The
// string values are stable and suitable as metric labels.
type Exclusion string

// Exclusion reasons, in the order the checks run: a member gets the first
// that applies.
const (
	// Eligible is the empty reason of an eligible member.
	Eligible Exclusion = ""
	// ExclNotMember: a position was observed for a name without a member key.
	ExclNotMember Exclusion = "not_member"
	// ExclExcluded: the caller excluded the member (the current or former
	// leader in a switchover).
	ExclExcluded Exclusion = "excluded"
	// ExclUnreachable: the bounded peer query failed.
	ExclUnreachable Exclusion = "unreachable"
	// ExclDeclines: the member says it would not promote now (watchdog
	// required but failed, or its pre-promote hook refused).
	ExclDeclines Exclusion = "declines"
	// ExclNotRunning: PostgreSQL is not running there.
	ExclNotRunning Exclusion = "not_running"
	// ExclStale: the newest observation is older than MaxPositionAge.
	ExclStale Exclusion = "stale_position"
	// ExclNoFailover: tag nofailover, or failover_priority <= 0.
	ExclNoFailover Exclusion = "nofailover"
	// ExclTimelineBehind: the member's timeline is behind the cluster's.
	ExclTimelineBehind Exclusion = "timeline_behind"
	// ExclTimelineUnknown: check_timeline is on and the timeline is unknown.
	ExclTimelineUnknown Exclusion = "timeline_unknown"
	// ExclNoSync: synchronous mode is active and the member has tag nosync.
	ExclNoSync Exclusion = "nosync"
	// ExclNotSync: synchronous mode is active and the sync key does not list
	// the member.
	ExclNotSync Exclusion = "not_sync"
	// ExclSyncQuorum: quorum mode, and the member cannot prove it holds
	// every acknowledged commit: it sees fewer than quorum other listed
	// standbys (and not the sync leader), or one of those it sees has
	// more WAL than it.
	ExclSyncQuorum Exclusion = "sync_quorum"
	// ExclLag: the member lacks more than maximum_lag_on_failover bytes of
	// the reference position.
	ExclLag Exclusion = "lag"
)
