package failover

import (
	"context"
	"encoding/json"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/pg"
)

// scheduledRestart is a restart requested for later (POST /restart with
// a schedule). It is published in the member key as Patroni's
// scheduled_restart, which is also how an agent restarted before the
// time finds it again.
type scheduledRestart struct {
	At              time.Time `json:"schedule"`
	Role            string    `json:"role,omitempty"`
	PostgresVersion int       `json:"postgres_version,omitempty"`
	RestartPending  bool      `json:"restart_pending,omitempty"`
	// PostmasterStart is when the server running at scheduling time
	// started: a server restarted meanwhile has had its restart.
	PostmasterStart time.Time `json:"postmaster_start_time,omitzero"`
	Timeout         float64   `json:"timeout,omitempty"`
}

// staleSchedule is how late a scheduled restart may still run: one missed
// by more (the agent was down at the time) is dropped with a warning
// rather than run at a moment nobody chose.
func staleSchedule(s Settings) time.Duration { return max(2*s.LoopWait, s.TTL) }

// scheduleRestart records req for the loop; c.mu not held.
func (c *Controller) scheduleRestart(req healthapi.RestartRequest) (healthapi.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sched != nil {
		return healthapi.Result{}, healthapi.Reject(healthapi.ErrConflict, "Another restart is already scheduled")
	}
	sr := &scheduledRestart{At: req.Schedule.UTC(), Role: req.Role, PostgresVersion: req.PostgresVersion,
		RestartPending: req.RestartPending, Timeout: req.Timeout.Seconds()}
	if c.b.pgStatusOK && c.b.pgStatus.State == pg.StateRunning {
		sr.PostmasterStart = c.b.pgStatus.PostmasterStart
	}
	c.sched = sr
	c.log.Info("failover: restart scheduled", "at", sr.At, "role", sr.Role, "restart_pending", sr.RestartPending)
	c.poke()
	return healthapi.Result{Scheduled: true, Message: "Restart scheduled"}, nil
}

// cancelScheduledRestart implements DELETE /restart.
func (c *Controller) cancelScheduledRestart() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sched == nil {
		return healthapi.Reject(healthapi.ErrNotFound, "no restart is scheduled")
	}
	c.sched = nil
	c.log.Info("failover: scheduled restart cancelled")
	c.poke()
	return nil
}

// scheduledRestartJSON is the member key's scheduled_restart; c.mu held.
func (c *Controller) scheduledRestartJSON() json.RawMessage {
	if c.sched == nil {
		return nil
	}
	b, err := json.Marshal(c.sched)
	if err != nil {
		return nil
	}
	return b
}

// runScheduledRestart restarts PostgreSQL when a scheduled restart is due
// and its filters still match, and returns when the loop should look
// again (zero: nothing scheduled) and whether it restarted. It adopts a schedule from this node's
// own member key once, after an agent restart. Nothing runs while the
// cluster is paused. c.opMu held.
func (c *Controller) runScheduledRestart(ctx context.Context, cl *dcs.Cluster, s Settings) (time.Time, bool) {
	now := c.clk.Now()
	c.mu.Lock()
	if !c.schedAdopted && cl != nil {
		c.schedAdopted = true
		if m := cl.Member(c.o.Name); m != nil && len(m.ScheduledRestart) > 0 && c.sched == nil {
			var sr scheduledRestart
			if err := json.Unmarshal(m.ScheduledRestart, &sr); err == nil && !sr.At.IsZero() {
				c.sched = &sr
				c.log.Info("failover: scheduled restart found in the member key", "at", sr.At)
			}
		}
	}
	sr := c.sched
	st, stOK := c.b.pgStatus, c.b.pgStatusOK
	role := c.b.mem.lastRole
	c.mu.Unlock()
	if sr == nil {
		return time.Time{}, false
	}
	drop := func(msg string) (time.Time, bool) {
		c.mu.Lock()
		if c.sched == sr {
			c.sched = nil
		}
		c.mu.Unlock()
		c.log.Warn("failover: scheduled restart dropped: "+msg, "at", sr.At)
		return time.Time{}, false
	}
	if now.Before(sr.At) {
		return sr.At, false
	}
	if cl != nil && cl.IsPaused() {
		return now.Add(s.LoopWait), false
	}
	if now.Sub(sr.At) > staleSchedule(s) {
		return drop("its time passed while it could not run")
	}
	if !stOK || st.State != pg.StateRunning {
		return drop("PostgreSQL is not running")
	}
	if !sr.PostmasterStart.IsZero() && !st.PostmasterStart.Equal(sr.PostmasterStart) {
		return drop("PostgreSQL was restarted after the restart was scheduled")
	}
	ns := &healthapi.NodeState{Role: string(role), ServerVersion: st.ServerVersion, PendingRestart: st.PendingRestart}
	if role == RolePrimary {
		ns.Role = dcs.RolePrimary
	}
	if !healthapi.RestartMatches(ns, healthapi.RestartRequest{Role: sr.Role, PostgresVersion: sr.PostgresVersion, RestartPending: sr.RestartPending}) {
		return drop("its conditions (role, version, pending restart) no longer hold")
	}
	c.mu.Lock()
	c.sched = nil
	c.mu.Unlock()
	c.log.Info("failover: running the scheduled restart", "at", sr.At)
	if err := c.restartLocked(ctx); err != nil {
		c.log.Warn("failover: scheduled restart failed", "err", err)
	}
	return time.Time{}, true
}
