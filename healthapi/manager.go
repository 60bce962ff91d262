package healthapi

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Manager carries out the management requests. The failover.Controller
// implements it; the handler validates and authenticates requests, calls
// one method with the request's context (bounded by
// [Options.ActionTimeout]) and maps the result to Patroni's status codes:
//
//	nil error                      200, or 202 when Result.Scheduled
//	ErrInvalid                     400
//	ErrNotFound, dcs.ErrNotFound   404
//	ErrConflict, dcs.ErrConflict   409
//	ErrNotPossible                 412
//	anything else                  503
//
// The message of an error made with [Reject] is sent as is; other errors
// are sent as their Error text.
type Manager interface {
	// Switchover moves the leadership away from req.Leader, to
	// req.Candidate if set, now or at req.ScheduledAt.
	Switchover(ctx context.Context, req SwitchoverRequest) (Result, error)
	// Failover promotes req.Candidate, whether or not there is a leader.
	Failover(ctx context.Context, req FailoverRequest) (Result, error)
	// CancelSwitchover deletes a scheduled switchover; ErrNotFound when
	// there is none.
	CancelSwitchover(ctx context.Context) error
	// Restart restarts PostgreSQL on this node, now or at req.Schedule.
	// The handler has already checked req's role, version and
	// pending-restart conditions for an immediate restart.
	Restart(ctx context.Context, req RestartRequest) (Result, error)
	// CancelRestart deletes a scheduled restart; ErrNotFound when there is
	// none.
	CancelRestart(ctx context.Context) error
	// Reload rereads the local configuration and reloads PostgreSQL. It
	// should only schedule the work: the answer is always 202.
	Reload(ctx context.Context) error
	// Reinitialize wipes this replica and clones it again.
	Reinitialize(ctx context.Context, req ReinitializeRequest) error
	// ReadConfig returns the DCS config key as stored, for a
	// read-modify-write; dcs.ErrNotFound when the key is absent.
	ReadConfig(ctx context.Context) (ConfigValue, error)
	// WriteConfig stores data in the config key. With ifModRevision > 0
	// the write succeeds only if the key's mod revision is still
	// ifModRevision (dcs.ErrConflict otherwise); 0 writes unconditionally.
	WriteConfig(ctx context.Context, data []byte, ifModRevision int64) error
}

// SwitchoverRequest is the body of POST /switchover (and of POST /failover
// when it names a leader).
type SwitchoverRequest struct {
	Leader    string
	Candidate string
	// ScheduledAt is nil for an immediate switchover.
	ScheduledAt *time.Time
}

// FailoverRequest is the body of POST /failover.
type FailoverRequest struct {
	Candidate string
	// AllowDataLoss, from the body's "allow_data_loss" (a pgha extension),
	// lets a failover with no leader promote a candidate that synchronous
	// mode would refuse because it may lack acknowledged commits.
	AllowDataLoss bool
}

// RestartRequest is the body of POST /restart.
type RestartRequest struct {
	// Schedule is nil for an immediate restart.
	Schedule *time.Time
	// Role, when set, restricts the restart to a node in that role
	// (primary, replica or standby_leader).
	Role string
	// PostgresVersion, when non-zero, restricts the restart to a server
	// older than this server_version_num.
	PostgresVersion int
	// Timeout overrides primary_start_timeout when non-zero.
	Timeout time.Duration
	// RestartPending restricts the restart to a node with pending_restart.
	RestartPending bool
}

// ReinitializeRequest is the body of POST /reinitialize.
type ReinitializeRequest struct {
	// Force cancels a running action first.
	Force bool
	// FromLeader clones from the leader rather than any replica.
	FromLeader bool
}

// Result is the successful outcome of an action.
type Result struct {
	// Scheduled reports that the action will happen later (202).
	Scheduled bool
	// Message is the human-readable answer, as patronictl prints it.
	Message string
}

// ConfigValue is the config key's stored value and its mod revision.
type ConfigValue struct {
	Data        []byte
	ModRevision int64
}

// Sentinel errors a Manager returns (wrapped, or through [Reject]) to pick
// the status code.
var (
	// ErrInvalid: the request cannot be carried out as asked (400).
	ErrInvalid = errors.New("healthapi: invalid request")
	// ErrNotFound: nothing to cancel (404).
	ErrNotFound = errors.New("healthapi: not found")
	// ErrConflict: another action is scheduled or in progress, or a
	// compare-and-swap lost (409).
	ErrConflict = errors.New("healthapi: conflict")
	// ErrNotPossible: the cluster is not in a state that allows the action,
	// e.g. "no good candidates have been found" (412).
	ErrNotPossible = errors.New("healthapi: not possible")
)

// Reject returns an error of the given kind (one of the sentinels above)
// whose text is exactly the formatted message, which the handler sends to
// the client.
func Reject(kind error, format string, args ...any) error {
	return &rejection{kind: kind, msg: fmt.Sprintf(format, args...)}
}

type rejection struct {
	kind error
	msg  string
}

func (r *rejection) Error() string { return r.msg }
func (r *rejection) Unwrap() error { return r.kind }
