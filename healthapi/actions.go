package healthapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/pgha/pgha/dcs"
)

// protected authenticates a management request, then runs fn with a
// context bounded by the action timeout.
func (h *Handler) protected(w http.ResponseWriter, r *http.Request, fn func(ctx context.Context, w http.ResponseWriter, r *http.Request)) {
	if code, msg := h.auth.check(r); code != 0 {
		if code == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", h.auth.challenge)
		}
		h.log.Warn("healthapi: refused management request", "method", r.Method, "path", r.URL.Path,
			"remote", r.RemoteAddr, "status", code, "reason", msg)
		h.writeText(w, code, msg)
		return
	}
	if h.mgr == nil {
		h.writeText(w, http.StatusServiceUnavailable, "management is not available on this node")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	h.log.Info("healthapi: management request", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
	fn(ctx, w, r)
}

// readObject reads and decodes a JSON object body, answering the error
// itself; ok is false when it did.
func (h *Handler) readObject(w http.ResponseWriter, r *http.Request, optional bool) (jsonObject, bool) {
	body, eb := readBody(w, r, h.maxBody, optional)
	if eb == nil {
		var o jsonObject
		if o, eb = decodeJSONObject(body); eb == nil {
			return o, true
		}
	}
	h.writeText(w, eb.code, eb.msg)
	return nil, false
}

// fail answers a Manager error with Patroni's codes (see [Manager]).
func (h *Handler) fail(w http.ResponseWriter, action string, err error) {
	code := http.StatusServiceUnavailable
	switch {
	case errors.Is(err, ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, ErrNotFound), errors.Is(err, dcs.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrConflict), errors.Is(err, dcs.ErrConflict):
		code = http.StatusConflict
	case errors.Is(err, ErrNotPossible):
		code = http.StatusPreconditionFailed
	}
	h.log.Warn("healthapi: management request failed", "action", action, "status", code, "err", err)
	h.writeText(w, code, err.Error())
}

func (h *Handler) result(w http.ResponseWriter, res Result) {
	code := http.StatusOK
	if res.Scheduled {
		code = http.StatusAccepted
	}
	h.writeText(w, code, res.Message)
}

func (h *Handler) paused() bool {
	s := h.src.State()
	return s != nil && (s.Paused || s.Cluster != nil && s.Cluster.IsPaused())
}

func (h *Handler) postSwitchover(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	h.switchoverOrFailover(ctx, w, r, "switchover")
}

func (h *Handler) postFailover(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	h.switchoverOrFailover(ctx, w, r, "failover")
}

// switchoverOrFailover validates the body with Patroni's rules and messages
// and hands it to the Manager.
func (h *Handler) switchoverOrFailover(ctx context.Context, w http.ResponseWriter, r *http.Request, action string) {
	o, ok := h.readObject(w, r, false)
	if !ok {
		return
	}
	leader, e1 := o.str("leader")
	candidate, e2 := o.str("candidate")
	member, e3 := o.str("member")
	scheduled, e4 := o.str("scheduled_at")
	allowLoss, e5 := o.boolean("allow_data_loss")
	if eb := firstErr(e1, e2, e3, e4, e5); eb != nil {
		h.writeText(w, eb.code, eb.msg)
		return
	}
	if candidate == "" {
		candidate = member
	}
	for _, n := range []string{leader, candidate} {
		if n != "" && dcs.ValidateName(n) != nil {
			h.writeText(w, http.StatusBadRequest, "invalid member name "+quote(n))
			return
		}
	}
	paused := h.paused()
	bad := func(msg string) { h.writeText(w, http.StatusBadRequest, msg) }
	switch {
	case action == "failover" && candidate == "":
		bad("Failover could be performed only to a specific candidate")
		return
	case action == "switchover" && leader == "":
		bad("Switchover could be performed only from a specific leader")
		return
	}
	req := SwitchoverRequest{Leader: leader, Candidate: candidate}
	if scheduled != "" {
		switch {
		case action == "failover" && leader == "":
			bad("Failover can't be scheduled")
			return
		case paused:
			bad("Can't schedule switchover in the paused state")
			return
		}
		t, eb := parseSchedule(scheduled, "switchover", h.clock.Now())
		if eb != nil {
			h.writeText(w, eb.code, eb.msg)
			return
		}
		req.ScheduledAt = &t
	}
	if paused && candidate == "" {
		bad("Switchover is possible only to a specific candidate in a paused state")
		return
	}
	if leader != "" && leader == candidate {
		bad("Switchover target and source are the same")
		return
	}
	var res Result
	var err error
	if leader != "" {
		// Patroni treats a failover naming the leader as a switchover.
		res, err = h.mgr.Switchover(ctx, req)
	} else {
		res, err = h.mgr.Failover(ctx, FailoverRequest{Candidate: candidate, AllowDataLoss: allowLoss})
	}
	if err != nil {
		h.fail(w, action, err)
		return
	}
	h.result(w, res)
}

// deleteScheduled handles DELETE /switchover and DELETE /restart.
func (h *Handler) deleteScheduled(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	var err error
	var what string
	if strings.HasPrefix(r.URL.Path, "/switchover") {
		what = "scheduled switchover"
		err = h.mgr.CancelSwitchover(ctx)
	} else {
		what = "scheduled restart"
		err = h.mgr.CancelRestart(ctx)
	}
	if err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, dcs.ErrNotFound) {
			h.writeText(w, http.StatusNotFound, "no "+what+" found")
			return
		}
		h.fail(w, "delete "+what, err)
		return
	}
	h.writeText(w, http.StatusOK, "Deleted "+what)
}

func (h *Handler) postRestart(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	o, ok := h.readObject(w, r, true)
	if !ok {
		return
	}
	var req RestartRequest
	role, e1 := o.str("role")
	version, e2 := o.str("postgres_version")
	schedule, e3 := o.str("schedule")
	pending, e4 := o.boolean("restart_pending")
	if eb := firstErr(e1, e2, e3, e4); eb != nil {
		h.writeText(w, eb.code, eb.msg)
		return
	}
	req.RestartPending = pending
	switch role {
	case "", dcs.RoleReplica, dcs.RoleStandbyLeader, dcs.RolePrimary:
		req.Role = role
	case dcs.RoleMaster:
		req.Role = dcs.RolePrimary
	default:
		h.writeText(w, http.StatusBadRequest, "PostgreSQL role should be either primary, standby_leader, or replica")
		return
	}
	if version != "" {
		v, ok := parsePGVersion(version)
		if !ok {
			h.writeText(w, http.StatusBadRequest, "PostgreSQL version should be in the first.major.minor format")
			return
		}
		req.PostgresVersion = v
	}
	if raw, ok := o["timeout"]; ok && string(raw) != "null" {
		d, eb := parseTimeout(raw)
		if eb != nil {
			h.writeText(w, eb.code, eb.msg)
			return
		}
		req.Timeout = d
	}
	if schedule != "" {
		if h.paused() {
			h.writeText(w, http.StatusInternalServerError, "Can't schedule restart in the paused state")
			return
		}
		t, eb := parseSchedule(schedule, "restart", h.clock.Now())
		if eb != nil {
			h.writeText(w, eb.code, eb.msg)
			return
		}
		req.Schedule = &t
	} else if !RestartMatches(h.src.State(), req) {
		h.writeText(w, http.StatusServiceUnavailable, "restart conditions are not satisfied")
		return
	}
	res, err := h.mgr.Restart(ctx, req)
	if err != nil {
		h.fail(w, "restart", err)
		return
	}
	h.result(w, res)
}

// RestartMatches reports whether a node in state s passes the filters of
// req (role, postgres_version, restart_pending). A Manager that runs
// scheduled restarts applies it again when the time comes.
func RestartMatches(s *NodeState, req RestartRequest) bool {
	if s == nil {
		return req.Role == "" && req.PostgresVersion == 0 && !req.RestartPending
	}
	if req.Role != "" {
		role := s.Role
		if role == dcs.RoleMaster {
			role = dcs.RolePrimary
		}
		if role != req.Role {
			return false
		}
	}
	if req.PostgresVersion != 0 && s.ServerVersion >= req.PostgresVersion {
		return false
	}
	return !req.RestartPending || s.PendingRestart
}

func (h *Handler) postReload(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	if err := h.mgr.Reload(ctx); err != nil {
		h.fail(w, "reload", err)
		return
	}
	h.writeText(w, http.StatusAccepted, "reload scheduled")
}

func (h *Handler) postReinitialize(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	o, ok := h.readObject(w, r, true)
	if !ok {
		return
	}
	force, e1 := o.boolean("force")
	fromLeader, e2 := o.boolean("from_leader")
	if eb := firstErr(e1, e2); eb != nil {
		h.writeText(w, eb.code, eb.msg)
		return
	}
	if err := h.mgr.Reinitialize(ctx, ReinitializeRequest{Force: force, FromLeader: fromLeader}); err != nil {
		h.fail(w, "reinitialize", err)
		return
	}
	h.writeText(w, http.StatusOK, "reinitialize started")
}

func firstErr(errs ...*errBody) *errBody {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return `"` + strings.ToValidUTF8(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s), "?") + `"`
}
