package failover

import "time"

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
)

// Event is one role change, reported to ControllerOptions.OnEvent.
type Event struct {
	Member string
	Kind   EventKind
	// Time is the Controller's clock when it happened.
	Time   time.Time
	Detail string
}

// emit reports an event to the OnEvent hook.
func (c *Controller) emit(kind EventKind, detail string) {
	c.log.Info("failover: event", "event", string(kind), "detail", detail)
	if c.o.OnEvent != nil {
		c.o.OnEvent(Event{Member: c.o.Name, Kind: kind, Time: c.clk.Now(), Detail: detail})
	}
}
