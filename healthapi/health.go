package healthapi

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/pgha/pgha/dcs"
)

// check is one health endpoint's rule.
type check int

const (
	checkPrimary check = iota
	checkLeader
	checkStandbyLeader
	checkReplica
	checkReadOnly
	checkSync
	checkQuorum
	checkAsync
	checkReadOnlySync
	checkReadOnlyQuorum
	checkHealth
	checkLiveness
	checkReadiness
	checkStreaming
)

// healthCheckFor maps a request path to its check. Paths are matched exactly
// (after dropping one trailing slash), with Patroni's aliases.
func healthCheckFor(path string) (check, bool) {
	switch path {
	case "/", "/primary", "/master", "/read-write":
		return checkPrimary, true
	case "/leader":
		return checkLeader, true
	case "/standby-leader", "/standby_leader":
		return checkStandbyLeader, true
	case "/replica":
		return checkReplica, true
	case "/read-only":
		return checkReadOnly, true
	case "/sync", "/synchronous":
		return checkSync, true
	case "/quorum":
		return checkQuorum, true
	case "/async", "/asynchronous":
		return checkAsync, true
	case "/read-only-sync", "/read-only-synchronous":
		return checkReadOnlySync, true
	case "/read-only-quorum":
		return checkReadOnlyQuorum, true
	case "/health":
		return checkHealth, true
	case "/liveness":
		return checkLiveness, true
	case "/readiness":
		return checkReadiness, true
	case "/streaming":
		return checkStreaming, true
	}
	return 0, false
}

// evaluate answers one health check from a snapshot: true means 200.
func evaluate(s *NodeState, c check, q healthQuery, now time.Time) bool {
	if s == nil {
		return false
	}
	switch c {
	case checkPrimary:
		return leaderLike(s, now, dcs.RolePrimary) && !s.StandbyCluster
	case checkLeader:
		return leaderLike(s, now, dcs.RolePrimary) || leaderLike(s, now, dcs.RoleStandbyLeader)
	case checkStandbyLeader:
		return isStandbyLeader(s, now)
	case checkReplica:
		return replicaOK(s, q)
	case checkReadOnly:
		return s.IsLeader || replicaOK(s, q)
	case checkSync:
		return s.dcsValid(now) && s.SyncStandby() && replicaOK(s, q)
	case checkQuorum:
		return s.dcsValid(now) && s.QuorumStandby() && replicaOK(s, q)
	case checkAsync:
		return s.dcsValid(now) && !s.SyncStandby() && !s.QuorumStandby() && replicaOK(s, q)
	case checkReadOnlySync:
		return s.IsLeader && !s.StandbyCluster || s.dcsValid(now) && s.SyncStandby() && replicaOK(s, q)
	case checkReadOnlyQuorum:
		return s.IsLeader && !s.StandbyCluster || s.dcsValid(now) && s.QuorumStandby() && replicaOK(s, q)
	case checkHealth:
		return s.Running()
	case checkLiveness:
		return live(s, now)
	case checkReadiness:
		return ready(s, q, now)
	case checkStreaming:
		q.replicationState = dcs.ReplicationStreaming
		return !s.ReplayPaused && replicaOK(s, q)
	}
	return false
}

// leaderLike reports whether the node holds the lock; while paused without
// a valid DCS view, Patroni answers from PostgreSQL's role instead.
func leaderLike(s *NodeState, now time.Time, role string) bool {
	if s.IsLeader {
		return role != dcs.RoleStandbyLeader || s.StandbyCluster
	}
	if s.Paused && !s.dcsValid(now) {
		switch role {
		case dcs.RolePrimary:
			return s.Role == dcs.RolePrimary || s.Role == dcs.RoleMaster
		case dcs.RoleStandbyLeader:
			return s.Role == dcs.RoleStandbyLeader
		}
	}
	return false
}

func isStandbyLeader(s *NodeState, now time.Time) bool {
	if !s.StandbyCluster {
		return s.Paused && !s.dcsValid(now) && s.Role == dcs.RoleStandbyLeader
	}
	if s.Role != dcs.RoleReplica && s.Role != dcs.RoleStandbyLeader {
		return false
	}
	return leaderLike(s, now, dcs.RoleStandbyLeader)
}

// replicaOK is Patroni's /replica rule: a running replica, not excluded
// from load balancing, within ?lag, in ?replication_state, matching tags.
func replicaOK(s *NodeState, q healthQuery) bool {
	if s.Role != dcs.RoleReplica || !s.Running() || s.Tags.Bool(dcs.TagNoLoadBalance) {
		return false
	}
	if q.maxLag >= 0 && s.ReplayLag() > q.maxLag {
		return false
	}
	if q.replicationState != "" && s.ReplicationState != q.replicationState {
		return false
	}
	for k, want := range q.tags {
		v, ok := s.Tags[k]
		if !ok || tagString(v) != want {
			return false
		}
	}
	return true
}

// tagString renders a tag value the way Patroni compares it with a query
// value: strings as they are, other JSON values lower-cased.
func tagString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case bool:
		return strconv.FormatBool(t)
	case json.Number:
		return t.String()
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case int:
		return strconv.Itoa(t)
	case int64:
		return strconv.FormatInt(t, 10)
	case nil:
		return "none"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.ToLower(string(b))
}

// live is Patroni's /liveness: the HA loop ran recently enough.
func live(s *NodeState, now time.Time) bool {
	if s.Paused {
		return true
	}
	if s.NextRun.IsZero() {
		return false
	}
	threshold := s.ttl()
	if !(s.Running() && s.Role == dcs.RolePrimary) {
		threshold *= 2
	}
	return now.Before(s.NextRun.Add(threshold))
}

// ready is Patroni's /readiness: the leader, or a streaming replica within
// the lag threshold (default maximum_lag_on_failover).
func ready(s *NodeState, q healthQuery, now time.Time) bool {
	if s.IsLeader {
		return true
	}
	if !s.Running() || s.ReplicationState != dcs.ReplicationStreaming {
		return false
	}
	if !s.dcsValid(now) && s.ReceivedLSN == 0 && !s.FailsafeActive {
		return false
	}
	limit := q.maxLag
	if limit < 0 {
		limit = s.maxLagOnFailover()
	}
	lag := s.ReplayLag()
	if q.writeMode {
		lag = s.receiveLag()
	}
	return lag <= limit
}
