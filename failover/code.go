package failover

// Code is the stable reason code of a [Decision], suitable as a metric
// label; Decision.Reason carries the human explanation.
type Code string

// Safety: a primary without a valid term.
const (
	// CodeDeadlineNear: the term deadline is within DemoteLead; stop writes
	// now so that they have stopped before it passes (a replica holding the
	// term does not promote).
	CodeDeadlineNear Code = "term_deadline_near"
	// CodeDeadlinePassed: the term deadline passed while running as primary.
	CodeDeadlinePassed Code = "term_deadline_passed"
	// CodeTermLost: the snapshot shows the leader key gone or held by
	// another term.
	CodeTermLost Code = "term_lost"
	// CodeOtherLeader: running as primary while another node holds the key.
	CodeOtherLeader Code = "other_leader"
	// CodePrimaryWithoutTerm: running as primary with no leader key at all.
	CodePrimaryWithoutTerm Code = "primary_without_term"
	// CodeNoTermNoDCS: running as primary, no term, DCS unreachable.
	CodeNoTermNoDCS Code = "primary_without_term_dcs_unreachable"
	// CodeReclaimTerm: the leader key holds this node's name but the term
	// is not held: reclaim it (nobody else can hold it meanwhile).
	CodeReclaimTerm Code = "reclaim_term"
	// CodePausedPrimaryAcquire: paused, no leader key, this node runs a
	// primary: take the key (Patroni's pause behaviour).
	CodePausedPrimaryAcquire Code = "paused_primary_acquire"
)

// Settings and DCS.
const (
	// CodeInvalidSettings: the settings do not validate; nothing but the
	// safety rules runs.
	CodeInvalidSettings Code = "invalid_settings"
	// CodeDCSUnreachable: no snapshot; wait (a leader keeps its term until
	// its deadline rule fires).
	CodeDCSUnreachable Code = "dcs_unreachable"
	// CodeSnapshotBehindTerm: the snapshot predates this node's term.
	CodeSnapshotBehindTerm Code = "snapshot_behind_term"
)

// Bootstrap and data directory.
const (
	CodeBootstrapRace       Code = "bootstrap_race"
	CodeWaitBootstrap       Code = "wait_bootstrap"
	CodeFinishBootstrap     Code = "finish_bootstrap"
	CodeEmptyDataRelease    Code = "empty_data_release"
	CodeClone               Code = "clone"
	CodeWaitCloneSource     Code = "wait_clone_source"
	CodeSystemIDMismatch    Code = "system_id_mismatch"
	CodeSetInitialize       Code = "set_initialize"
	CodeNoInitializeReplica Code = "no_initialize_replica"
)

// PostgreSQL not running.
const (
	CodeStarting          Code = "starting"
	CodeStartTimeout      Code = "primary_start_timeout"
	CodeRestartPrimary    Code = "restart_primary"
	CodeRestartNoFailover Code = "restart_primary_no_candidate"
	CodeStartBackoff      Code = "start_backoff"
	CodeCrashRelease      Code = "crash_release"
	CodeStartReplica      Code = "start_replica"
)

// Pause.
const (
	CodePausedLeader     Code = "paused_leader"
	CodePausedRelease    Code = "paused_release"
	CodePausedNoStart    Code = "paused_no_start"
	CodePausedNoRace     Code = "paused_no_race"
	CodePausedNoClone    Code = "paused_no_clone"
	CodePausedNeedsNamed Code = "paused_needs_named_candidate"
)

// Leader.
const (
	CodePromote               Code = "promote"
	CodeLeaderHealthy         Code = "leader_healthy"
	CodeSwitchover            Code = "switchover"
	CodeSwitchoverScheduled   Code = "switchover_scheduled"
	CodeSwitchoverStale       Code = "switchover_stale"
	CodeSwitchoverNoCandidate Code = "switchover_no_candidate"
	CodeFailoverNotForMe      Code = "failover_key_other_leader"
	CodeFailoverFulfilled     Code = "failover_key_fulfilled"
)

// Replica following a leader, rejoin.
const (
	CodeFollowLeader         Code = "follow_leader"
	CodeFollowing            Code = "following_leader"
	CodeCheckDivergence      Code = "check_divergence"
	CodeRewind               Code = "rewind"
	CodeWaitLeaderCheckpoint Code = "wait_leader_checkpoint"
	CodeReclone              Code = "reclone"
	CodeDivergedStuck        Code = "diverged_no_rewind"
)

// Leader race.
const (
	CodeRaceGuard           Code = "race_postponed_streaming"
	CodePrimaryAlive        Code = "race_postponed_primary_alive"
	CodeNeedPeers           Code = "query_peers"
	CodeRaceAcquire         Code = "race_acquire"
	CodeManualFailover      Code = "manual_failover"
	CodeWaitManualCandidate Code = "wait_manual_candidate"
	CodeNotBest             Code = "not_best_candidate"
	CodeIneligible          Code = "ineligible"
	CodeNoFailover          Code = "nofailover"
	CodeNoCandidate         Code = "no_eligible_candidate"
	CodeNoLeaderNotRunning  Code = "no_leader_not_running"
)

// Failsafe mode.
const (
	// CodeFailsafeLeader: no leader key, but a primary cut off from the
	// DCS confirmed itself as leader through this node (POST /failsafe)
	// less than a ttl ago: not racing.
	CodeFailsafeLeader Code = "failsafe_leader"
	// CodeNotInFailsafe: failsafe mode is on and the failsafe key does not
	// list this node: it may not race (the primary did not ask it).
	CodeNotInFailsafe Code = "not_in_failsafe"
	// CodeFailsafeReacquire: the DCS is back after a failsafe stretch and
	// the primary took the expired leader key again.
	CodeFailsafeReacquire Code = "failsafe_reacquire"
)

// CodeWatchdogFailed: watchdog.mode is required and the watchdog could not
// be armed on this node: it does not race (it would not promote).
const CodeWatchdogFailed Code = "watchdog_failed"

// CodePromoteVetoed: the pre-promote hook refused a promotion here less
// than a ttl ago: this node does not race, so another member can take
// over.
const CodePromoteVetoed Code = "promote_vetoed"

// Standby cluster (standby_cluster in the dynamic configuration).
const (
	// CodeStandbyLeader: this node holds the term in a standby cluster and
	// follows the remote.
	CodeStandbyLeader Code = "standby_leader"
	// CodeStandbyLeaderFollow: the standby leader is (re-)pointed at the
	// remote.
	CodeStandbyLeaderFollow Code = "standby_leader_follow"
	// CodeDemoteCluster: standby_cluster was added to a primary cluster's
	// configuration: the primary stops (fast) and follows the remote,
	// keeping the term.
	CodeDemoteCluster Code = "demote_cluster"
	// CodeStandbySwitchover: the standby leader hands the leader key over
	// for a switchover or manual failover inside the standby cluster: it
	// stops, releases the key without waiting for a shutdown checkpoint
	// (every member replays the remote's WAL), and restarts as a replica of
	// the candidate, which takes the key and follows the remote.
	CodeStandbySwitchover Code = "standby_switchover"
	// CodeStandbyBootstrap: this node cloned the remote to start a
	// standby cluster and takes the leader key as its standby leader.
	CodeStandbyBootstrap Code = "standby_bootstrap"
)
