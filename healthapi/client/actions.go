package client

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// Reply is a member's successful answer to an action: 200 when done, 202
// when scheduled or accepted for later. Any other answer is an
// [*HTTPError].
type Reply struct {
	// StatusCode is 200 or 202 (another 2xx from a member that is not
	// pgha or Patroni is passed on).
	StatusCode int
	// Message is the answer's text, trimmed, as patronictl prints it
	// ("Successfully switched over to \"n2\"").
	Message string
}

// Scheduled reports a 202 answer: the action will happen later.
func (r Reply) Scheduled() bool { return r.StatusCode == http.StatusAccepted }

// SwitchoverRequest is the body of POST /switchover.
type SwitchoverRequest struct {
	// Leader is the current leader; required, as the member checks it.
	Leader string
	// Candidate is the member to promote; "" lets the cluster choose.
	Candidate string
	// ScheduledAt, when set, schedules the switchover (202).
	ScheduledAt *time.Time
}

// FailoverRequest is the body of POST /failover.
type FailoverRequest struct {
	// Candidate is the member to promote; required.
	Candidate string
	// Leader, when set, makes the request a switchover from it, as
	// Patroni treats a failover naming the leader.
	Leader string
	// AllowDataLoss (a pgha extension) lets a failover without a leader
	// promote a candidate that synchronous mode would refuse.
	AllowDataLoss bool
}

// RestartRequest is the body of POST /restart. The zero value restarts
// now, whatever the member's role and version.
type RestartRequest struct {
	// Schedule, when set, schedules the restart (202).
	Schedule *time.Time
	// Role restricts the restart to a member in this role: "primary",
	// "replica" or "standby_leader".
	Role string
	// PostgresVersion restricts the restart to a member running an older
	// PostgreSQL, given as "15.4" (or "9.6.24").
	PostgresVersion string
	// Timeout overrides primary_start_timeout when positive.
	Timeout time.Duration
	// RestartPending restricts the restart to a member with
	// pending_restart.
	RestartPending bool
}

// ReinitializeRequest is the body of POST /reinitialize.
type ReinitializeRequest struct {
	// Force cancels an action in progress first.
	Force bool
	// FromLeader clones from the leader rather than from any replica.
	FromLeader bool
}

// Switchover asks the member, which should be the leader, to hand the
// leadership over (POST /switchover). An immediate switchover answers only
// when it is over, within the member's action timeout (60 s by default):
// give ctx more than that.
func (c *Client) Switchover(ctx context.Context, req SwitchoverRequest) (Reply, error) {
	body := map[string]any{"leader": req.Leader}
	if req.Candidate != "" {
		body["candidate"] = req.Candidate
	}
	if req.ScheduledAt != nil {
		body["scheduled_at"] = req.ScheduledAt.Format(time.RFC3339Nano)
	}
	return c.action(ctx, http.MethodPost, "switchover", body)
}

// Failover asks the member to promote req.Candidate, with or without a
// leader (POST /failover); Patroni sends it to the leader when there is one,
// else to the candidate. It answers when it is over, as
// [Client.Switchover].
func (c *Client) Failover(ctx context.Context, req FailoverRequest) (Reply, error) {
	body := map[string]any{"candidate": req.Candidate}
	if req.Leader != "" {
		body["leader"] = req.Leader
	}
	if req.AllowDataLoss {
		body["allow_data_loss"] = true
	}
	return c.action(ctx, http.MethodPost, "failover", body)
}

// CancelSwitchover deletes a scheduled switchover (DELETE /switchover); an
// answer 404 (none scheduled) matches [healthapi.ErrNotFound].
func (c *Client) CancelSwitchover(ctx context.Context) (Reply, error) {
	return c.action(ctx, http.MethodDelete, "switchover", nil)
}

// Restart asks the member to restart PostgreSQL (POST /restart), now or at
// req.Schedule. A member that does not meet req's conditions answers 503
// "restart conditions are not satisfied", an [*HTTPError].
func (c *Client) Restart(ctx context.Context, req RestartRequest) (Reply, error) {
	body := map[string]any{}
	if req.RestartPending {
		body["restart_pending"] = true
	}
	if req.Schedule != nil {
		body["schedule"] = req.Schedule.Format(time.RFC3339Nano)
	}
	if req.Role != "" {
		body["role"] = req.Role
	}
	if req.PostgresVersion != "" {
		body["postgres_version"] = req.PostgresVersion
	}
	if req.Timeout > 0 {
		body["timeout"] = strconv.FormatFloat(req.Timeout.Seconds(), 'f', -1, 64)
	}
	return c.action(ctx, http.MethodPost, "restart", body)
}

// CancelRestart deletes a scheduled restart (DELETE /restart); an answer
// 404 (none scheduled) matches [healthapi.ErrNotFound].
func (c *Client) CancelRestart(ctx context.Context) (Reply, error) {
	return c.action(ctx, http.MethodDelete, "restart", nil)
}

// Reload asks the member to reread its configuration and reload PostgreSQL
// (POST /reload, without a body); pgha answers 202 at once.
func (c *Client) Reload(ctx context.Context) (Reply, error) {
	return c.action(ctx, http.MethodPost, "reload", nil)
}

// Reinitialize asks a replica to wipe its data directory and clone it again
// (POST /reinitialize).
func (c *Client) Reinitialize(ctx context.Context, req ReinitializeRequest) (Reply, error) {
	body := map[string]any{}
	if req.Force {
		body["force"] = true
	}
	if req.FromLeader {
		body["from_leader"] = true
	}
	return c.action(ctx, http.MethodPost, "reinitialize", body)
}

// action sends one management request and turns the answer into a Reply
// or an *HTTPError. An answer cut short after its status still counts,
// with the message that could be read, as patronictl does: the member got
// the request, and saying otherwise would invite sending it again.
func (c *Client) action(ctx context.Context, method, endpoint string, body any) (Reply, error) {
	target := c.URL(endpoint)
	a, err := c.do(ctx, method, target, body, MaxMessageBytes)
	if err != nil {
		return Reply{}, err
	}
	if a.status < 200 || a.status > 299 {
		return Reply{}, httpError(method, target, a)
	}
	return Reply{StatusCode: a.status, Message: a.message()}, nil
}
