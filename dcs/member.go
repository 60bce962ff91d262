package dcs

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Member roles as written in the member key's "role" field.
const (
	RolePrimary       = "primary"
	RoleMaster        = "master" // written by Patroni before 3.0; read as primary
	RoleReplica       = "replica"
	RoleStandbyLeader = "standby_leader"
	RoleDemoted       = "demoted"
	RoleUninitialized = "uninitialized"
	RolePromoted      = "promoted"
)

// PostgreSQL states as written in the member key's "state" field, in the
// order of Patroni's patroni_postgres_state metric.
const (
	StateInitializing      = "initializing new cluster"
	StateInitdbFailed      = "initdb failed"
	StateCustomBootstrap   = "running custom bootstrap script"
	StateCustomBootFailed  = "custom bootstrap failed"
	StateCreatingReplica   = "creating replica"
	StateRunning           = "running"
	StateStarting          = "starting"
	StateBootstrapStarting = "starting after custom bootstrap"
	StateStartFailed       = "start failed"
	StateRestarting        = "restarting"
	StateRestartFailed     = "restart failed"
	StateStopping          = "stopping"
	StateStopped           = "stopped"
	StateStopFailed        = "stop failed"
	StateCrashed           = "crashed"
)

// Replication states of a replica's WAL receiver.
const (
	ReplicationStreaming       = "streaming"
	ReplicationArchiveRecovery = "in archive recovery"
)

// Member is the value of members/<name>: what one node publishes about
// itself. Optional numeric fields are pointers so that "absent" survives a
// round trip; unknown fields are kept in Extra and written back.
type Member struct {
	// Name comes from the key, not the value.
	Name string `json:"-"`

	ConnURL          string                     `json:"conn_url"`
	APIURL           string                     `json:"api_url"`
	State            string                     `json:"state"`
	Role             string                     `json:"role"`
	Version          string                     `json:"version"`
	XLogLocation     *int64                     `json:"xlog_location,omitempty"`
	ReceiveLSN       *int64                     `json:"receive_lsn,omitempty"`
	ReplayLSN        *int64                     `json:"replay_lsn,omitempty"`
	ReplicationState string                     `json:"replication_state,omitempty"`
	Timeline         *int64                     `json:"timeline,omitempty"`
	Tags             Tags                       `json:"tags,omitempty"`
	ProxyURL         string                     `json:"proxy_url,omitempty"`
	PendingRestart   bool                       `json:"pending_restart,omitempty"`
	PendingReason    json.RawMessage            `json:"pending_restart_reason,omitempty"`
	ScheduledRestart json.RawMessage            `json:"scheduled_restart,omitempty"`
	CheckpointAfter  *bool                      `json:"checkpoint_after_promote,omitempty"`
	Pause            *bool                      `json:"pause,omitempty"`
	Extra            map[string]json.RawMessage `json:"-"`
}

// IsPrimaryRole reports whether the member says it runs a primary.
func (m *Member) IsPrimaryRole() bool { return m.Role == RolePrimary || m.Role == RoleMaster }

// LSN returns the member's best known WAL position: xlog_location, else the
// larger of receive and replay LSN, else 0.
func (m *Member) LSN() int64 {
	if m.XLogLocation != nil {
		return *m.XLogLocation
	}
	var v int64
	if m.ReceiveLSN != nil {
		v = *m.ReceiveLSN
	}
	if m.ReplayLSN != nil && *m.ReplayLSN > v {
		v = *m.ReplayLSN
	}
	return v
}

// Host returns host and port parsed from ConnURL ("" and 0 when unparsable).
func (m *Member) Host() (string, int) {
	return hostPort(m.ConnURL, 5432)
}

// APIHost returns host and port parsed from APIURL.
func (m *Member) APIHost() (string, int) {
	return hostPort(m.APIURL, 8008)
}

func hostPort(raw string, defPort int) (string, int) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", 0
	}
	port := defPort
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return "", 0
		}
		port = n
	}
	return u.Hostname(), port
}

// Encode returns the member JSON as Patroni writes it.
func (m *Member) Encode() []byte {
	var w objWriter
	w.value("conn_url", m.ConnURL)
	w.value("api_url", m.APIURL)
	w.value("state", m.State)
	w.value("role", m.Role)
	w.value("version", m.Version)
	if m.XLogLocation != nil {
		w.value("xlog_location", *m.XLogLocation)
	}
	if m.ReceiveLSN != nil {
		w.value("receive_lsn", *m.ReceiveLSN)
	}
	if m.ReplayLSN != nil {
		w.value("replay_lsn", *m.ReplayLSN)
	}
	if m.ReplicationState != "" {
		w.value("replication_state", m.ReplicationState)
	}
	if m.Timeline != nil {
		w.value("timeline", *m.Timeline)
	}
	if len(m.Tags) > 0 {
		w.raw("tags", m.Tags.encode())
	}
	if m.ProxyURL != "" {
		w.value("proxy_url", m.ProxyURL)
	}
	if m.PendingRestart {
		w.value("pending_restart", true)
	}
	if len(m.PendingReason) > 0 {
		w.raw("pending_restart_reason", compactOr(m.PendingReason))
	}
	if len(m.ScheduledRestart) > 0 {
		w.raw("scheduled_restart", compactOr(m.ScheduledRestart))
	}
	if m.CheckpointAfter != nil {
		w.value("checkpoint_after_promote", *m.CheckpointAfter)
	}
	if m.Pause != nil {
		w.value("pause", *m.Pause)
	}
	w.extra(m.Extra)
	return w.bytes()
}

func compactOr(raw json.RawMessage) []byte {
	var f objWriter
	b, err := marshalCompact(raw)
	if err != nil {
		return f.bytes()
	}
	return b
}

// DecodeMember parses a member value. Fields of the wrong type are skipped
// and reported in the returned error, joined, while the rest is still
// returned; a value that is not a JSON object returns (nil, error).
func DecodeMember(name string, data []byte) (*Member, error) {
	if strings.HasPrefix(string(data), "postgres") {
		return decodeLegacyMember(name, strings.ToValidUTF8(string(data), "\uFFFD"))
	}
	f, err := decodeObject(data)
	if err != nil {
		return nil, fmt.Errorf("member %q: %w", name, err)
	}
	m := &Member{Name: name}
	var errs []error
	f.take("conn_url", &m.ConnURL, &errs)
	f.take("api_url", &m.APIURL, &errs)
	f.take("state", &m.State, &errs)
	f.take("role", &m.Role, &errs)
	f.take("version", &m.Version, &errs)
	m.XLogLocation = takeInt(f, "xlog_location", &errs)
	m.ReceiveLSN = takeInt(f, "receive_lsn", &errs)
	m.ReplayLSN = takeInt(f, "replay_lsn", &errs)
	f.take("replication_state", &m.ReplicationState, &errs)
	m.Timeline = takeInt(f, "timeline", &errs)
	if raw, ok := f["tags"]; ok {
		delete(f, "tags")
		t, err := decodeTags(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("field \"tags\": %w", err))
		}
		m.Tags = t
	}
	f.take("proxy_url", &m.ProxyURL, &errs)
	f.take("pending_restart", &m.PendingRestart, &errs)
	f.take("pending_restart_reason", &m.PendingReason, &errs)
	f.take("scheduled_restart", &m.ScheduledRestart, &errs)
	var b bool
	if f.take("checkpoint_after_promote", &b, &errs) {
		m.CheckpointAfter = &b
	}
	var p bool
	if f.take("pause", &p, &errs) {
		m.Pause = &p
	}
	m.Extra = f.rest()
	if len(errs) > 0 {
		return m, fmt.Errorf("member %q: %w", name, errors.Join(errs...))
	}
	return m, nil
}

func takeInt(f fields, key string, errs *[]error) *int64 {
	var v json.Number
	if !f.take(key, &v, errs) {
		return nil
	}
	n, err := v.Int64()
	if err != nil {
		fl, ferr := v.Float64()
		if ferr != nil {
			*errs = append(*errs, fmt.Errorf("field %q: %w", key, err))
			return nil
		}
		n = int64(fl)
	}
	return &n
}

// decodeLegacyMember parses the pre-JSON Governor format, a connection URL
// whose application_name query parameter carries the API URL.
func decodeLegacyMember(name, raw string) (*Member, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("member %q: legacy value: %w", name, err)
	}
	api := u.Query().Get("application_name")
	u.RawQuery = ""
	return &Member{Name: name, ConnURL: u.String(), APIURL: api}, nil
}
