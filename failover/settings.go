package failover

import (
	"errors"
	"fmt"
	"time"

	"github.com/pgha/pgha/dcs"
)

// ErrInvalidSettings is wrapped by every error [Settings.Validate] returns.
var ErrInvalidSettings = errors.New("failover: invalid settings")

// Synchronous modes, as in Patroni's synchronous_mode.
const (
	SyncOff    = "off"
	SyncOn     = "on"
	SyncQuorum = "quorum"
)

// Settings are the knobs of the decision rules. Names follow Patroni where
// the concept exists. Start from [DefaultSettings], overlay the cluster's
// dynamic configuration with [Settings.WithConfig], and check the result
// with [Settings.Validate]; a zero Settings is not valid.
type Settings struct {
	// TTL is the leader lease time to live (Patroni ttl). Default 6 s,
	// election.DefaultTTL: the lease is renewed on its own goroutine, so
	// it need not cover a whole loop as Patroni's 30 s does.
	TTL time.Duration
	// LoopWait is the period of the HA loop (Patroni loop_wait); the loop
	// also runs on DCS and PostgreSQL events. Default 1 s.
	LoopWait time.Duration
	// PrimaryStartTimeout bounds how long a crashed primary that still holds
	// the term is restarted in place before the term is released so that a
	// replica can take over; 0 releases at once when a failover is possible.
	// Default 15 s (Patroni: 300 s).
	PrimaryStartTimeout time.Duration
	// MaximumLagOnFailover is the most WAL, in bytes, that a candidate may
	// lack relative to the reference position (see the package doc) and
	// still be promoted automatically. Default 1 MiB.
	MaximumLagOnFailover int64
	// SynchronousMode is SyncOff, SyncOn or SyncQuorum ("" means off). When
	// on, only members listed in the sync key may be promoted automatically.
	SynchronousMode string
	// SynchronousModeStrict (synchronous_mode_strict) makes commits wait
	// when no synchronous standby is available instead of running
	// asynchronously (see the package doc).
	SynchronousModeStrict bool
	// SynchronousNodeCount (synchronous_node_count, default 1) is how many
	// standbys acknowledge each commit: in priority mode the number of
	// synchronous standbys, in quorum mode the k of ANY k. It is capped at
	// the number of eligible standbys.
	SynchronousNodeCount int
	// CheckTimeline also excludes candidates whose timeline is unknown
	// (a known timeline behind the cluster's is always excluded).
	CheckTimeline bool
	// UsePgRewind lets a diverged former primary rejoin by pg_rewind.
	UsePgRewind bool
	// RemoveDataOnRewindFailure re-clones a node whose rewind failed.
	RemoveDataOnRewindFailure bool
	// RemoveDataOnDivergedTimelines re-clones a diverged node that cannot
	// rewind.
	RemoveDataOnDivergedTimelines bool

	// RacePostponeMax bounds the false-failover guard: after the leader key
	// vanished, a replica still receiving WAL from the old primary (or
	// seeing a peer that still runs as primary) postpones the race, but
	// never for longer than this. 0 disables the guard. Default 6 s (one
	// default TTL).
	RacePostponeMax time.Duration
	// StreamingFreshness is how recent the last message from the upstream
	// must be for the WAL receiver to count as "still receiving". Default
	// 2 s. The receipt time is the receiver's last_msg_receipt_time, which
	// keepalives refresh; with pgha's wal_receiver_timeout of 2 s they come
	// about once a second on an idle cluster (see the package doc).
	StreamingFreshness time.Duration
	// MaxPositionAge is how old an observed WAL position may be before the
	// member is treated as unknown (not eligible, not counted in the lag
	// reference). Default 10 s.
	MaxPositionAge time.Duration
	// DemoteLead is how long before its term deadline a primary fences
	// itself: the time an immediate stop needs to end every backend, which
	// never waits behind other PostgreSQL operations. Zero (the default)
	// derives it from TTL: min(600 ms, TTL/10), so that TTL alone can be
	// lowered. Must be below TTL, and the election timings must ride out
	// three failed keepalives with it on top
	// (election.Options.CheckRideThrough). NewController fixes the
	// derived value for the Controller's life.
	DemoteLead time.Duration
	// PeerQueryTimeout is the bound the Controller applies to each peer
	// query of the leader race (all peers in parallel, no retries), so the
	// race costs at most this much wall-clock time. Default 1 s; must be at
	// most TTL/2.
	PeerQueryTimeout time.Duration
	// FailsafeMode (failsafe_mode) keeps a primary that cannot reach the
	// DCS running for as long as every member confirms it as leader over
	// the REST API (POST /failsafe), instead of stopping it before its
	// lease can expire; see the package doc. Off by default, as in
	// Patroni.
	FailsafeMode bool
	// StrictOptimeLag measures lag against the leader's last published
	// optime even after the leader is gone, as Patroni does. Off by
	// default: see the package doc for why.
	StrictOptimeLag bool
	// StandbyCluster, when active, makes this a standby cluster: the
	// leader follows the remote and never promotes (see [StandbyCluster]).
	// [Settings.ApplyConfig] sets it from the config key's
	// standby_cluster; the Controller starts from the bootstrap
	// configuration's, so that a standby cluster's first leader does not
	// promote before the config key is written.
	StandbyCluster *StandbyCluster
}

// DefaultSettings returns the documented defaults.
func DefaultSettings() Settings {
	return Settings{
		TTL:                  6 * time.Second,
		LoopWait:             1 * time.Second,
		PrimaryStartTimeout:  15 * time.Second,
		MaximumLagOnFailover: 1 << 20,
		SynchronousMode:      SyncOff,
		SynchronousNodeCount: 1,
		RacePostponeMax:      6 * time.Second,
		StreamingFreshness:   2 * time.Second,
		MaxPositionAge:       10 * time.Second,
		PeerQueryTimeout:     1 * time.Second,
	}
}

// WithConfig returns s with the values set in the cluster's dynamic
// configuration applied and clamped: ttl, loop_wait,
// primary_start_timeout, maximum_lag_on_failover, synchronous_mode,
// synchronous_mode_strict, synchronous_node_count, check_timeline,
// failsafe_mode, standby_cluster and postgresql.use_pg_rewind. It is [Settings.ApplyConfig] without the
// warnings. A nil config changes nothing.
func (s Settings) WithConfig(c *dcs.ClusterConfig) Settings {
	s, _ = s.ApplyConfig(c)
	return s
}

// Validate reports every invalid field, each named as in the configuration.
// The error wraps [ErrInvalidSettings].
func (s Settings) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}
	if s.TTL <= 0 {
		bad("ttl", "must be positive, got %v", s.TTL)
	}
	if s.LoopWait <= 0 {
		bad("loop_wait", "must be positive, got %v", s.LoopWait)
	} else if s.TTL > 0 && s.LoopWait >= s.TTL {
		bad("loop_wait", "must be below ttl (%v), got %v", s.TTL, s.LoopWait)
	}
	if s.PrimaryStartTimeout < 0 {
		bad("primary_start_timeout", "must be >= 0, got %v", s.PrimaryStartTimeout)
	}
	if s.MaximumLagOnFailover < 0 {
		bad("maximum_lag_on_failover", "must be >= 0 bytes, got %d", s.MaximumLagOnFailover)
	}
	switch s.SynchronousMode {
	case "", SyncOff, SyncOn, SyncQuorum:
	default:
		bad("synchronous_mode", "must be off, on or quorum, got %q", s.SynchronousMode)
	}
	if s.SynchronousNodeCount < 0 {
		bad("synchronous_node_count", "must be >= 1 (0 means the default 1), got %d", s.SynchronousNodeCount)
	}
	if s.RacePostponeMax < 0 {
		bad("race_postpone_max", "must be >= 0 (0 disables the guard), got %v", s.RacePostponeMax)
	}
	if s.RacePostponeMax > 0 && s.StreamingFreshness <= 0 {
		bad("streaming_freshness", "must be positive while the race guard is on, got %v", s.StreamingFreshness)
	}
	if s.MaxPositionAge <= 0 {
		bad("max_position_age", "must be positive, got %v", s.MaxPositionAge)
	}
	if s.DemoteLead < 0 || (s.TTL > 0 && s.DemoteLead >= s.TTL) {
		bad("demote_lead", "must be >= 0 and below ttl (%v), got %v", s.TTL, s.DemoteLead)
	}
	if s.PeerQueryTimeout <= 0 || (s.TTL > 0 && s.PeerQueryTimeout > s.TTL/2) {
		bad("peer_query_timeout", "must be positive and at most ttl/2 (%v), got %v", s.TTL/2, s.PeerQueryTimeout)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidSettings, errors.Join(errs...))
	}
	return nil
}

// maxDemoteLead is the derived DemoteLead's upper bound: an immediate stop
// ends every backend well within it on any machine pgha was measured on.
const maxDemoteLead = 600 * time.Millisecond

// demoteLead is DemoteLead, or the value derived from TTL when it is zero.
func (s Settings) demoteLead() time.Duration {
	if s.DemoteLead > 0 {
		return s.DemoteLead
	}
	return min(maxDemoteLead, s.TTL/10)
}

// syncActive reports whether synchronous mode restricts candidates: the mode
// is on (or quorum) and the sync key names a leader.
func (s Settings) syncActive(c *dcs.Cluster) bool {
	if s.SynchronousMode != SyncOn && s.SynchronousMode != SyncQuorum {
		return false
	}
	return c != nil && c.Sync != nil && c.Sync.Leader != ""
}
