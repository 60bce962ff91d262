package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/healthapi"
)

// Status is the GET /patroni document, with Patroni's field names. Fields a
// member leaves out (PostgreSQL not running, an older Patroni) stay zero.
type Status struct {
	// State is PostgreSQL's state: "running", "stopped", "starting", ...
	State string `json:"state"`
	// PostmasterStartTime is as PostgreSQL prints a timestamptz.
	PostmasterStartTime string `json:"postmaster_start_time,omitempty"`
	// Role is "primary", "replica", "standby_leader", ... ("master" from
	// Patroni before 3.0).
	Role string `json:"role"`
	// ServerVersion is server_version_num, e.g. 150004.
	ServerVersion int   `json:"server_version,omitempty"`
	XLog          XLog  `json:"xlog"`
	Timeline      int64 `json:"timeline,omitempty"`
	// Replication lists the member's standbys (pg_stat_replication).
	Replication []healthapi.Replication `json:"replication,omitempty"`
	// ReplicationState is a replica's WAL receiver state: "streaming",
	// "in archive recovery".
	ReplicationState string `json:"replication_state,omitempty"`
	SyncStandby      bool   `json:"sync_standby,omitempty"`
	QuorumStandby    bool   `json:"quorum_standby,omitempty"`
	// Pause reports maintenance mode.
	Pause           bool `json:"pause,omitempty"`
	ClusterUnlocked bool `json:"cluster_unlocked,omitempty"`
	FailsafeActive  bool `json:"failsafe_mode_is_active,omitempty"`
	// DCSLastSeen is the Unix time of the member's last successful DCS
	// access.
	DCSLastSeen      int64    `json:"dcs_last_seen,omitempty"`
	Tags             dcs.Tags `json:"tags,omitempty"`
	SystemIdentifier string   `json:"database_system_identifier,omitempty"`
	PendingRestart   bool     `json:"pending_restart,omitempty"`
	// PendingRestartReason and ScheduledRestart are passed on as sent.
	PendingRestartReason json.RawMessage `json:"pending_restart_reason,omitempty"`
	ScheduledRestart     json.RawMessage `json:"scheduled_restart,omitempty"`
	WatchdogFailed       bool            `json:"watchdog_failed,omitempty"`
	PromoteVetoed        bool            `json:"pre_promote_vetoed,omitempty"`
	Patroni              PatroniInfo     `json:"patroni"`
}

// XLog is the WAL position part of [Status]: Location on a primary,
// ReceivedLocation and ReplayedLocation on a replica. A nil field was not
// sent.
type XLog struct {
	Location          *int64  `json:"location,omitempty"`
	ReceivedLocation  *int64  `json:"received_location,omitempty"`
	ReplayedLocation  *int64  `json:"replayed_location,omitempty"`
	ReplayedTimestamp *string `json:"replayed_timestamp,omitempty"`
	Paused            bool    `json:"paused,omitempty"`
}

// PatroniInfo names the agent that answered.
type PatroniInfo struct {
	Version string `json:"version"`
	Scope   string `json:"scope"`
	Name    string `json:"name"`
}

// Patroni returns the member's status document: GET on its api_url itself,
// as Patroni's peers query it. Both 200 and 503 carry the document (503
// when PostgreSQL is not running); any other status is an [*HTTPError].
func (c *Client) Patroni(ctx context.Context) (*Status, error) {
	var s Status
	if err := c.getJSON(ctx, c.APIURL(), &s, http.StatusOK, http.StatusServiceUnavailable); err != nil {
		return nil, err
	}
	return &s, nil
}

// Health asks a health endpoint ("primary", "replica", "read-only",
// "health", "liveness", "sync", ... with query parameters such as lag=1MB
// in query, nil for none) and returns its status code: 200 when the check
// passes, 503 when not, 400 for a query the member does not understand.
// Every status is an answer, not an error; the error is for no answer. The
// request is a GET; its document is read and dropped.
func (c *Client) Health(ctx context.Context, check string, query url.Values) (int, error) {
	target := c.URL(check)
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	a, err := c.do(ctx, http.MethodGet, target, nil, MaxDocumentBytes)
	if err != nil {
		return 0, err
	}
	return a.status, nil
}

// Cluster is the GET /cluster document (Patroni's cluster_as_json).
type Cluster struct {
	Members             []ClusterMember      `json:"members"`
	Scope               string               `json:"scope,omitempty"`
	Pause               bool                 `json:"pause,omitempty"`
	ScheduledSwitchover *ScheduledSwitchover `json:"scheduled_switchover,omitempty"`
}

// ScheduledSwitchover is a pending scheduled switchover in [Cluster].
type ScheduledSwitchover struct {
	// At is the time, as "2006-01-02T15:04:05.999999-07:00".
	At   string `json:"at"`
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// ClusterMember is one member in [Cluster].
type ClusterMember struct {
	Name string `json:"name"`
	// Role is "leader", "standby_leader", "sync_standby",
	// "quorum_standby" or "replica".
	Role string `json:"role"`
	// State is PostgreSQL's, or a replica's replication state.
	State          string   `json:"state"`
	APIURL         string   `json:"api_url"`
	Host           string   `json:"host,omitempty"`
	Port           int      `json:"port,omitempty"`
	Timeline       *int64   `json:"timeline,omitempty"`
	PendingRestart bool     `json:"pending_restart,omitempty"`
	Tags           dcs.Tags `json:"tags,omitempty"`
	// PendingRestartReason and ScheduledRestart are passed on as sent.
	PendingRestartReason json.RawMessage `json:"pending_restart_reason,omitempty"`
	ScheduledRestart     json.RawMessage `json:"scheduled_restart,omitempty"`
	// The positions, formatted "16/B374D848" or "unknown", and the lags
	// behind the cluster's optime; none is sent for the leader.
	ReceiveLSN string `json:"receive_lsn,omitempty"`
	ReceiveLag *Lag   `json:"receive_lag,omitempty"`
	ReplayLSN  string `json:"replay_lsn,omitempty"`
	ReplayLag  *Lag   `json:"replay_lag,omitempty"`
	LSN        string `json:"lsn,omitempty"`
	Lag        *Lag   `json:"lag,omitempty"`
}

// Lag is a member's lag in bytes, or [LagUnknown] where the document says
// "unknown".
type Lag int64

// LagUnknown is the [Lag] of a member that did not publish its position.
const LagUnknown Lag = -1

// UnmarshalJSON accepts a number or "unknown".
func (l *Lag) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte(`"unknown"`)) {
		*l = LagUnknown
		return nil
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || v < 0 {
		return fmt.Errorf("healthapi/client: lag %.40q: want a non-negative integer or \"unknown\"", b)
	}
	*l = Lag(v)
	return nil
}

// MarshalJSON writes the number, or "unknown".
func (l Lag) MarshalJSON() ([]byte, error) {
	if l < 0 {
		return []byte(`"unknown"`), nil
	}
	return strconv.AppendInt(nil, int64(l), 10), nil
}

// Cluster returns the member's view of the cluster (GET /cluster). pgha
// answers from its cached snapshot; Patroni reads the DCS.
func (c *Client) Cluster(ctx context.Context) (*Cluster, error) {
	var cl Cluster
	if err := c.getJSON(ctx, c.URL("cluster"), &cl, http.StatusOK); err != nil {
		return nil, err
	}
	return &cl, nil
}

// History returns the timeline history (GET /history), decoded as the
// history key is: rows that are not well formed are left out.
func (c *Client) History(ctx context.Context) (dcs.History, error) {
	var raw json.RawMessage
	target := c.URL("history")
	if err := c.getJSON(ctx, target, &raw, http.StatusOK); err != nil {
		return nil, err
	}
	h, err := dcs.DecodeHistory(raw)
	if err != nil && h == nil {
		return nil, fmt.Errorf("healthapi/client: GET %s: %w", target, err)
	}
	return h, nil
}

// Config returns the dynamic configuration as the member last read it
// (GET /config): the config key's JSON. A member without one answers 502,
// an [*HTTPError].
func (c *Client) Config(ctx context.Context) (json.RawMessage, error) {
	var raw json.RawMessage
	if err := c.getJSON(ctx, c.URL("config"), &raw, http.StatusOK); err != nil {
		return nil, err
	}
	return raw, nil
}

// PatchConfig applies patch, a JSON merge patch (RFC 7396) such as
// map[string]any{"ttl": 30, "postgresql": map[string]any{"parameters":
// map[string]any{"work_mem": nil}}}, to the dynamic configuration (PATCH
// /config) and returns the configuration written. patch is encoded with
// encoding/json; pass a json.RawMessage to send bytes as they are. A
// concurrent change answers 409, which matches [healthapi.ErrConflict]:
// send the patch again.
func (c *Client) PatchConfig(ctx context.Context, patch any) (json.RawMessage, error) {
	return c.writeConfig(ctx, http.MethodPatch, patch)
}

// PutConfig replaces the dynamic configuration with config (PUT /config),
// unconditionally, and returns it as written. config is encoded as in
// [Client.PatchConfig].
func (c *Client) PutConfig(ctx context.Context, config any) (json.RawMessage, error) {
	return c.writeConfig(ctx, http.MethodPut, config)
}

func (c *Client) writeConfig(ctx context.Context, method string, body any) (json.RawMessage, error) {
	if body == nil {
		return nil, fmt.Errorf("healthapi/client: %s /config: %w: no body", method, healthapi.ErrInvalid)
	}
	target := c.URL("config")
	a, err := c.do(ctx, method, target, body, MaxDocumentBytes)
	if err != nil {
		return nil, err
	}
	if a.status == http.StatusOK && a.readErr != nil {
		return nil, a.readErr
	}
	if a.status != http.StatusOK {
		return nil, httpError(method, target, a)
	}
	if len(a.body) > MaxDocumentBytes || !json.Valid(a.body) {
		return nil, fmt.Errorf("healthapi/client: %s %s: HTTP %d: the answer is not a JSON document", method, target, a.status)
	}
	return json.RawMessage(a.body), nil
}

// Failsafe returns the failsafe key as the member last read it (GET
// /failsafe): member names and their api_urls. A member whose failsafe mode
// is off answers 502, an [*HTTPError].
func (c *Client) Failsafe(ctx context.Context) (dcs.Failsafe, error) {
	var raw json.RawMessage
	target := c.URL("failsafe")
	if err := c.getJSON(ctx, target, &raw, http.StatusOK); err != nil {
		return nil, err
	}
	f, err := dcs.DecodeFailsafe(raw)
	if err != nil {
		return nil, fmt.Errorf("healthapi/client: GET %s: %w", target, err)
	}
	return f, nil
}

// PostFailsafe asks the member to confirm the caller as leader while the
// DCS is unreachable (POST /failsafe) and returns the member's WAL position
// (0 when it sent none). It is [healthapi.PostFailsafe] with this Client's
// HTTP client and authentication, and its errors: they wrap
// [healthapi.ErrFailsafeRefused] when the member answered otherwise than
// 200 "Accepted", and also [ErrUnreachable] when it did not answer.
func (c *Client) PostFailsafe(ctx context.Context, req healthapi.FailsafeRequest) (lsn int64, err error) {
	lsn, err = healthapi.PostFailsafe(ctx, c.http, c.APIURL(), c.auth, req)
	var ue *url.Error
	if err != nil && errors.As(err, &ue) {
		err = fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	return lsn, err
}
