package metrics

import (
	"sort"
	"strconv"
	"strings"

	"github.com/pgha/pgha/clock"
	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/healthapi"
	"github.com/prometheus/client_golang/prometheus"
)

// postgresStateIndex numbers PostgreSQL states for patroni_postgres_state
// in Patroni's order (the order of the dcs.State* constants); -1 if unknown.
func postgresStateIndex(state string) int {
	switch state {
	case dcs.StateInitializing:
		return 0
	case dcs.StateInitdbFailed:
		return 1
	case dcs.StateCustomBootstrap:
		return 2
	case dcs.StateCustomBootFailed:
		return 3
	case dcs.StateCreatingReplica:
		return 4
	case dcs.StateRunning:
		return 5
	case dcs.StateStarting:
		return 6
	case dcs.StateBootstrapStarting:
		return 7
	case dcs.StateStartFailed:
		return 8
	case dcs.StateRestarting:
		return 9
	case dcs.StateRestartFailed:
		return 10
	case dcs.StateStopping:
		return 11
	case dcs.StateStopped:
		return 12
	case dcs.StateStopFailed:
		return 13
	case dcs.StateCrashed:
		return 14
	}
	return -1
}

// gauge is one gauge computed from a snapshot.
type gauge struct {
	desc  *prometheus.Desc
	value func(s *healthapi.NodeState, c *collector) float64
}

// collector exposes a StateSource as metrics, computed at scrape time.
type collector struct {
	src          healthapi.StateSource
	clock        clock.Clock
	gauges       []gauge
	failovers    *prometheus.Desc
	dcsErrors    *prometheus.Desc
	loopDuration *prometheus.Desc
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func newCollector(src healthapi.StateSource, clk clock.Clock, version string) *collector {
	c := &collector{src: src, clock: clk}
	nodeLabels := []string{"scope", "name"}
	g := func(name, help string, f func(s *healthapi.NodeState, c *collector) float64) {
		c.gauges = append(c.gauges, gauge{desc: prometheus.NewDesc(name, help, nodeLabels, nil), value: f})
	}
	versionNum := float64(semverNumber(version))
	g("patroni_version", "Patroni semver without periods.",
		func(*healthapi.NodeState, *collector) float64 { return versionNum })
	isPrimary := func(s *healthapi.NodeState) bool { return s.Role == dcs.RolePrimary || s.Role == dcs.RoleMaster }
	g("patroni_postgres_running", "Value is 1 if Postgres is running, 0 otherwise.",
		func(s *healthapi.NodeState, _ *collector) float64 { return b2f(s.Running()) })
	g("patroni_postmaster_start_time", "Epoch seconds since Postgres started.",
		func(s *healthapi.NodeState, _ *collector) float64 {
			if s.PostmasterStartTime.IsZero() || !s.Running() {
				return 0
			}
			return float64(s.PostmasterStartTime.UnixNano()) / 1e9
		})
	g("patroni_primary", "Value is 1 if this node is the leader, 0 otherwise.",
		func(s *healthapi.NodeState, _ *collector) float64 { return b2f(isPrimary(s) && s.Running()) })
	g("patroni_xlog_location", "Current location of the Postgres transaction log, 0 if this node is not the leader.",
		func(s *healthapi.NodeState, _ *collector) float64 {
			if !isPrimary(s) || !s.Running() {
				return 0
			}
			return float64(s.XLogLocation)
		})
	g("patroni_standby_leader", "Value is 1 if this node is the standby_leader, 0 otherwise.",
		func(s *healthapi.NodeState, _ *collector) float64 {
			return b2f(s.Role == dcs.RoleStandbyLeader && s.Running())
		})
	g("patroni_replica", "Value is 1 if this node is a replica, 0 otherwise.",
		func(s *healthapi.NodeState, _ *collector) float64 {
			return b2f(s.Role == dcs.RoleReplica && s.Running())
		})
	g("patroni_sync_standby", "Value is 1 if this node is a sync standby, 0 otherwise.",
		func(s *healthapi.NodeState, _ *collector) float64 { return b2f(s.SyncStandby()) })
	g("patroni_quorum_standby", "Value is 1 if this node is a quorum standby, 0 otherwise.",
		func(s *healthapi.NodeState, _ *collector) float64 { return b2f(s.QuorumStandby()) })
	g("pgha_sync_degraded", "Value is 1 if this leader runs synchronous_mode without a synchronous standby (commits are not replicated synchronously), 0 otherwise.",
		func(s *healthapi.NodeState, _ *collector) float64 { return b2f(s.SyncDegraded) })
	g("pgha_sync_blocking", "Value is 1 if this leader runs strict synchronous_mode and no synchronous standby streams (commits wait), 0 otherwise.",
		func(s *healthapi.NodeState, _ *collector) float64 { return b2f(s.SyncBlocking) })
	g("patroni_xlog_received_location", "Current location of the received Postgres transaction log, 0 if this node is not a replica.",
		func(s *healthapi.NodeState, _ *collector) float64 { return replicaOnly(s, s.ReceivedLSN) })
	g("patroni_xlog_replayed_location", "Current location of the replayed Postgres transaction log, 0 if this node is not a replica.",
		func(s *healthapi.NodeState, _ *collector) float64 { return replicaOnly(s, s.ReplayedLSN) })
	g("patroni_xlog_replayed_timestamp", "Current timestamp of the replayed Postgres transaction log, 0 if null.",
		func(s *healthapi.NodeState, _ *collector) float64 {
			if s.ReplayedTimestamp.IsZero() || isPrimary(s) {
				return 0
			}
			return float64(s.ReplayedTimestamp.UnixNano()) / 1e9
		})
	g("patroni_xlog_paused", "Value is 1 if the Postgres xlog is paused, 0 otherwise.",
		func(s *healthapi.NodeState, _ *collector) float64 { return b2f(s.ReplayPaused && !isPrimary(s)) })
	g("patroni_postgres_streaming", "Value is 1 if Postgres is streaming, 0 otherwise.",
		func(s *healthapi.NodeState, _ *collector) float64 {
			return b2f(!isPrimary(s) && s.Running() && s.ReplicationState == dcs.ReplicationStreaming)
		})
	g("patroni_postgres_in_archive_recovery", "Value is 1 if Postgres is replicating from archive, 0 otherwise.",
		func(s *healthapi.NodeState, _ *collector) float64 {
			return b2f(!isPrimary(s) && s.Running() && s.ReplicationState == dcs.ReplicationArchiveRecovery)
		})
	g("patroni_postgres_server_version", "Version of Postgres (if running), 0 otherwise.",
		func(s *healthapi.NodeState, _ *collector) float64 {
			if !s.Running() {
				return 0
			}
			return float64(s.ServerVersion)
		})
	g("patroni_cluster_unlocked", "Value is 1 if the cluster is unlocked, 0 if locked.",
		func(s *healthapi.NodeState, c *collector) float64 { return b2f(s.ClusterUnlocked(c.clock.Now())) })
	g("patroni_failsafe_mode_is_active", "Value is 1 if failsafe mode is active, 0 if inactive.",
		func(s *healthapi.NodeState, _ *collector) float64 { return b2f(s.FailsafeActive) })
	g("patroni_failsafe_mode_enabled", "Value is 1 if failsafe mode is enabled in the configuration, 0 otherwise.",
		func(s *healthapi.NodeState, _ *collector) float64 { return b2f(s.FailsafeEnabled()) })
	g("patroni_failsafe_member", "Value is 1 if this node is a member of the failsafe topology, 0 otherwise.",
		func(s *healthapi.NodeState, _ *collector) float64 { return b2f(s.FailsafeMember()) })
	g("patroni_postgres_timeline", "Postgres timeline of this node (if running), 0 otherwise.",
		func(s *healthapi.NodeState, _ *collector) float64 {
			if !s.Running() {
				return 0
			}
			return float64(s.Timeline)
		})
	g("patroni_dcs_last_seen", "Epoch timestamp when DCS was last contacted successfully by Patroni.",
		func(s *healthapi.NodeState, _ *collector) float64 {
			if s.DCSLastSeen.IsZero() {
				return 0
			}
			return float64(s.DCSLastSeen.Unix())
		})
	g("patroni_pending_restart", "Value is 1 if the node needs a restart, 0 otherwise.",
		func(s *healthapi.NodeState, _ *collector) float64 { return b2f(s.PendingRestart) })
	g("patroni_is_paused", "Value is 1 if auto failover is disabled, 0 otherwise.",
		func(s *healthapi.NodeState, _ *collector) float64 { return b2f(s.Paused) })
	g("patroni_postgres_state", "Numeric representation of Postgres state (index in Patroni's list of states), -1 if unknown.",
		func(s *healthapi.NodeState, _ *collector) float64 {
			return float64(postgresStateIndex(s.PGState))
		})
	g("patroni_failover_priority", "Value is used to determine the failover candidate; 0 means never.",
		func(s *healthapi.NodeState, _ *collector) float64 { return float64(s.Tags.FailoverPriority()) })
	g("pgha_term", "Fencing token (leader key create revision) of the term this node leads, 0 if it does not lead.",
		func(s *healthapi.NodeState, _ *collector) float64 { return float64(s.Term) })
	g("pgha_is_leader", "Value is 1 while this node holds the leader lease by its local deadline.",
		func(s *healthapi.NodeState, _ *collector) float64 { return b2f(s.IsLeader) })
	g("pgha_replay_lag_bytes", "Bytes by which WAL replay trails the leader's known position, 0 on the leader.",
		func(s *healthapi.NodeState, _ *collector) float64 {
			if isPrimary(s) {
				return 0
			}
			return float64(s.ReplayLag())
		})
	c.failovers = prometheus.NewDesc("pgha_failovers_total", "Failovers and switchovers this node took part in, by reason.",
		[]string{"scope", "name", "reason"}, nil)
	c.dcsErrors = prometheus.NewDesc("pgha_dcs_errors_total", "Failed DCS operations.", nodeLabels, nil)
	c.loopDuration = prometheus.NewDesc("pgha_loop_duration_seconds", "Duration of HA loop cycles.", nodeLabels, nil)
	return c
}

func replicaOnly(s *healthapi.NodeState, v int64) float64 {
	if s.Role == dcs.RolePrimary || s.Role == dcs.RoleMaster {
		return 0
	}
	return float64(v)
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, g := range c.gauges {
		ch <- g.desc
	}
	ch <- c.failovers
	ch <- c.dcsErrors
	ch <- c.loopDuration
}

// Collect implements prometheus.Collector. Nothing is reported before the
// first state is published. Bad label values become invalid metrics, which
// the registry reports as a scrape error instead of panicking.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.State()
	if s == nil {
		return
	}
	lv := []string{s.Scope, s.Name}
	emit := func(m prometheus.Metric, err error, desc *prometheus.Desc) {
		if err != nil {
			m = prometheus.NewInvalidMetric(desc, err)
		}
		ch <- m
	}
	for _, g := range c.gauges {
		m, err := prometheus.NewConstMetric(g.desc, prometheus.GaugeValue, g.value(s, c), lv...)
		emit(m, err, g.desc)
	}
	reasons := make([]string, 0, len(s.FailoversTotal))
	for r := range s.FailoversTotal {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		m, err := prometheus.NewConstMetric(c.failovers, prometheus.CounterValue, float64(s.FailoversTotal[r]), s.Scope, s.Name, r)
		emit(m, err, c.failovers)
	}
	m, err := prometheus.NewConstMetric(c.dcsErrors, prometheus.CounterValue, float64(s.DCSErrorsTotal), lv...)
	emit(m, err, c.dcsErrors)
	h := s.LoopDuration
	m, err = prometheus.NewConstHistogram(c.loopDuration, h.Count, h.Sum, h.Buckets, lv...)
	emit(m, err, c.loopDuration)
}

// semverNumber renders "4.0.2" (a leading "v" and any "-suffix" or
// "+build" allowed) as Patroni's patroni_version does, 40002: major,
// minor and patch two digits each; 0 for a version that is not one.
func semverNumber(v string) int {
	v = strings.TrimPrefix(v, "v")
	if i := strings.IndexAny(v, "-+ "); i >= 0 {
		v = v[:i]
	}
	parts := strings.Split(v, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return 0
	}
	n := 0
	for i := range 3 {
		x := 0
		if i < len(parts) {
			var err error
			if x, err = strconv.Atoi(parts[i]); err != nil || x < 0 || x > 99 {
				return 0
			}
		}
		n = n*100 + x
	}
	return n
}
