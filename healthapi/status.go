package healthapi

import (
	"encoding/json"
	"time"

	"github.com/pgha/pgha/dcs"
)

// pgTime is how PostgreSQL prints a timestamptz, which Patroni passes on.
const pgTime = "2006-01-02 15:04:05.999999-07:00"

// statusDoc is the GET /patroni document, with Patroni's field names.
type statusDoc struct {
	State               string          `json:"state"`
	PostmasterStartTime string          `json:"postmaster_start_time,omitempty"`
	Role                string          `json:"role"`
	ServerVersion       int             `json:"server_version,omitempty"`
	XLog                any             `json:"xlog,omitempty"`
	Timeline            int64           `json:"timeline,omitempty"`
	Replication         []Replication   `json:"replication,omitempty"`
	ReplicationState    string          `json:"replication_state,omitempty"`
	SyncStandby         bool            `json:"sync_standby,omitempty"`
	QuorumStandby       bool            `json:"quorum_standby,omitempty"`
	Pause               bool            `json:"pause,omitempty"`
	ClusterUnlocked     bool            `json:"cluster_unlocked,omitempty"`
	FailsafeActive      bool            `json:"failsafe_mode_is_active,omitempty"`
	DCSLastSeen         int64           `json:"dcs_last_seen,omitempty"`
	Tags                dcs.Tags        `json:"tags,omitempty"`
	SystemIdentifier    string          `json:"database_system_identifier,omitempty"`
	PendingRestart      bool            `json:"pending_restart,omitempty"`
	PendingReason       json.RawMessage `json:"pending_restart_reason,omitempty"`
	ScheduledRestart    json.RawMessage `json:"scheduled_restart,omitempty"`
	WatchdogFailed      bool            `json:"watchdog_failed,omitempty"`
	PromoteVetoed       bool            `json:"pre_promote_vetoed,omitempty"`
	Patroni             patroniDoc      `json:"patroni"`
}

type patroniDoc struct {
	Version string `json:"version"`
	Scope   string `json:"scope"`
	Name    string `json:"name"`
}

type primaryXLog struct {
	Location int64 `json:"location"`
}

type replicaXLog struct {
	ReceivedLocation  int64   `json:"received_location"`
	ReplayedLocation  int64   `json:"replayed_location"`
	ReplayedTimestamp *string `json:"replayed_timestamp"`
	Paused            bool    `json:"paused"`
}

// buildStatus renders s as Patroni's status document. With PostgreSQL not
// running only state, role and the node flags are reported, as Patroni does.
func buildStatus(s *NodeState, version string, now time.Time) statusDoc {
	if s == nil {
		return statusDoc{State: "unknown", Role: dcs.RoleUninitialized, ClusterUnlocked: true,
			Patroni: patroniDoc{Version: version}}
	}
	d := statusDoc{
		State:            s.PGState,
		Role:             s.Role,
		Pause:            s.Paused,
		ClusterUnlocked:  s.ClusterUnlocked(now),
		FailsafeActive:   s.FailsafeActive,
		Tags:             s.Tags,
		SystemIdentifier: s.SystemIdentifier,
		PendingRestart:   s.PendingRestart,
		PendingReason:    validRaw(s.PendingRestartReason),
		ScheduledRestart: validRaw(s.ScheduledRestart),
		WatchdogFailed:   s.WatchdogFailed,
		PromoteVetoed:    s.PromoteVetoed,
		Patroni:          patroniDoc{Version: version, Scope: s.Scope, Name: s.Name},
	}
	if d.State == "" {
		d.State = "unknown"
	}
	if d.Role == dcs.RoleMaster {
		d.Role = dcs.RolePrimary
	}
	if !s.DCSLastSeen.IsZero() {
		d.DCSLastSeen = s.DCSLastSeen.Unix()
	}
	if !s.Running() {
		return d
	}
	if !s.PostmasterStartTime.IsZero() {
		d.PostmasterStartTime = s.PostmasterStartTime.Format(pgTime)
	}
	d.ServerVersion = s.ServerVersion
	d.Timeline = s.Timeline
	if s.Role == dcs.RolePrimary || s.Role == dcs.RoleMaster {
		d.XLog = primaryXLog{Location: s.XLogLocation}
		d.Replication = s.Replication
	} else {
		x := replicaXLog{ReceivedLocation: s.ReceivedLSN, ReplayedLocation: s.ReplayedLSN, Paused: s.ReplayPaused}
		if !s.ReplayedTimestamp.IsZero() {
			ts := s.ReplayedTimestamp.Format(pgTime)
			x.ReplayedTimestamp = &ts
		}
		d.XLog = x
		d.ReplicationState = s.ReplicationState
		d.Replication = s.Replication // a cascading replica has standbys too
	}
	d.SyncStandby = s.SyncStandby()
	d.QuorumStandby = s.QuorumStandby()
	return d
}

// validRaw drops raw JSON that would make the whole document fail to encode.
func validRaw(r json.RawMessage) json.RawMessage {
	if len(r) == 0 || !json.Valid(r) {
		return nil
	}
	return r
}
