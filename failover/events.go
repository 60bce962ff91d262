package failover

import (
	"time"

	"github.com/pgha/pgha/dcs"
)

// EventKind names a role change of the local node.
type EventKind string

// Event kinds: a failover's, in the order it produces them, then a
// replica's life and failsafe mode.
const (
	// EventBootstrapped: this node initialized a new cluster.
	EventBootstrapped EventKind = "bootstrapped"
	// EventAcquired: this node won the leader key.
	EventAcquired EventKind = "acquired"
	// EventPromoted: the local server was promoted and accepts writes.
	EventPromoted EventKind = "promoted"
	// EventFenced: this node stopped claiming leadership (health answers
	// non-primary) because its term ended or its deadline came near.
	EventFenced EventKind = "fenced"
	// EventDemoted: the local primary was stopped and no longer accepts
	// writes.
	EventDemoted EventKind = "demoted"
	// EventReleased: this node resigned its term.
	EventReleased EventKind = "released"
	// EventStarted: the local server was started, as a replica (of the
	// member named in Detail, or without upstream) or as a primary in
	// place.
	EventStarted EventKind = "started"
	// EventCloned: the local data directory was cloned from a member.
	EventCloned EventKind = "cloned"
	// EventFollowing: the running replica was pointed at another
	// upstream.
	EventFollowing EventKind = "following"
	// EventRewound: the local data was rewound (pg_rewind) to follow the
	// leader.
	EventRewound EventKind = "rewound"
	// EventFailsafe: the DCS is unreachable and every member confirmed
	// this primary as leader: it keeps its term in failsafe mode.
	EventFailsafe EventKind = "failsafe"
	// EventPromoteVetoed: the pre-promote hook refused the promotion
	// (Detail says why); the node released the leader key.
	EventPromoteVetoed EventKind = "promote_vetoed"
	// EventStopped: the local server was stopped on purpose (a planned
	// demotion that leaves it stopped, or a shutdown).
	EventStopped EventKind = "stopped"
	// EventRestarted: the local server was restarted (POST /restart, a
	// scheduled restart).
	EventRestarted EventKind = "restarted"
	// EventReloaded: the local server re-read its configuration.
	EventReloaded EventKind = "reloaded"
	// EventStandbyLeader: this node became the standby leader of a
	// standby cluster (it holds the term and follows the remote): after
	// winning a race, after bootstrapping the standby cluster, or after
	// its primary was demoted (demote-cluster).
	EventStandbyLeader EventKind = "standby_leader"
)

// Event is one role change, reported to ControllerOptions.OnEvent.
type Event struct {
	Member string
	Kind   EventKind
	// Time is the Controller's clock when it happened.
	Time time.Time
	// Role is the server's role after a started event: "primary" or
	// "replica" (empty for other kinds).
	Role   string
	Detail string
}

// emit reports an event to the OnEvent hook and queues the after-the-fact
// hook it calls for (Patroni's callbacks).
func (c *Controller) emit(kind EventKind, detail string) { c.emitRole(kind, "", detail) }

// emitStarted reports EventStarted with the role the server started as.
func (c *Controller) emitStarted(role Role, detail string) {
	c.emitRole(EventStarted, string(role), "as "+string(role)+detail)
}

// emitRole is emit with Event.Role set.
func (c *Controller) emitRole(kind EventKind, role, detail string) {
	c.log.Info("failover: event", "event", string(kind), "detail", detail)
	if c.o.OnEvent != nil {
		c.o.OnEvent(Event{Member: c.o.Name, Kind: kind, Time: c.clk.Now(), Role: role, Detail: detail})
	}
	h := &c.o.Hooks
	switch kind {
	case EventPromoted:
		c.afterHook(h.OnRoleChange, HookOnRoleChange, "primary")
	case EventDemoted:
		c.afterHook(h.OnRoleChange, HookOnRoleChange, "demoted")
	case EventStandbyLeader:
		c.afterHook(h.OnRoleChange, HookOnRoleChange, dcs.RoleStandbyLeader)
	case EventStarted:
		c.afterHook(h.OnStart, HookOnStart, role)
	case EventStopped:
		c.afterHook(h.OnStop, HookOnStop, c.hookRole())
	case EventRestarted:
		c.afterHook(h.OnRestart, HookOnRestart, c.hookRole())
	case EventReloaded:
		c.afterHook(h.OnReload, HookOnReload, c.hookRole())
	}
}

// hookRole is the role a hook is told: the server's last known role.
func (c *Controller) hookRole() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.b.mem.lastRole == RolePrimary {
		return "primary"
	}
	if c.isStandbyLeader() {
		return dcs.RoleStandbyLeader
	}
	return "replica"
}
