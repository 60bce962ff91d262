package failover

import (
	"time"

	"github.com/pgha/pgha/dcs"
)

// Source says where a [Position] came from.
type Source int

// Position sources, from least to most direct.
const (
	// SourceMemberKey is the member's own key in the DCS snapshot.
	SourceMemberKey Source = iota + 1
	// SourcePeer is a bounded query of the member's API made for this
	// decision.
	SourcePeer
	// SourceLocal is this node's own PostgreSQL.
	SourceLocal
)

// String names where a WAL position came from, for logs.
func (s Source) String() string {
	switch s {
	case SourceMemberKey:
		return "member key"
	case SourcePeer:
		return "peer query"
	case SourceLocal:
		return "local"
	}
	return "unknown source"
}

// Position is one observation of a member's PostgreSQL: where its WAL is and
// whether it runs. LSNs are byte positions (pg.LSN.Int64).
type Position struct {
	Name string
	// Unreachable records a peer query that failed or timed out: the
	// member is treated as dead for this decision.
	Unreachable bool
	// Declines records a member that says it would not promote now: its
	// required watchdog failed, or its pre-promote hook refused less than
	// a ttl ago. It is no candidate, so the others do not wait for it.
	Declines bool
	// State is Patroni's member state (dcs.StateRunning, ...).
	State string
	// Role is dcs.RolePrimary, dcs.RoleReplica, ...
	Role string
	// ReceiveLSN is the WAL received and flushed (a primary: its flush LSN).
	ReceiveLSN int64
	// ReplayLSN is the WAL replayed (a primary: its flush LSN).
	ReplayLSN int64
	// Timeline is the member's timeline, 0 when unknown.
	Timeline int64
	// ReplicationState is dcs.ReplicationStreaming, ... or "".
	ReplicationState string
	// ObservedAt is when the observation was made: the time of the DCS read
	// for a member key, of the answer for a peer query.
	ObservedAt time.Time
	Source     Source
}

// Received is the WAL the member has durably: the larger of its receive and
// replay LSN (replay cannot pass what is on disk, but a replica restoring
// from an archive has no receive LSN).
func (p Position) Received() int64 { return max(p.ReceiveLSN, p.ReplayLSN) }

// Running reports whether the member was reachable and running.
func (p Position) Running() bool { return !p.Unreachable && p.State == dcs.StateRunning }

// IsPrimary reports whether the member said it runs a primary.
func (p Position) IsPrimary() bool {
	return p.Role == dcs.RolePrimary || p.Role == dcs.RoleMaster || p.Role == dcs.RolePromoted
}

// PositionFromMember builds a position from a member key read at time at.
// A primary's xlog_location is its flush LSN and stands for both LSNs; a
// replica's receive_lsn and replay_lsn are used when present, else its
// xlog_location.
func PositionFromMember(m *dcs.Member, at time.Time) Position {
	p := Position{
		Name:             m.Name,
		State:            m.State,
		Role:             m.Role,
		ReplicationState: m.ReplicationState,
		ObservedAt:       at,
		Source:           SourceMemberKey,
	}
	if m.Timeline != nil {
		p.Timeline = *m.Timeline
	}
	if m.ReceiveLSN != nil || m.ReplayLSN != nil {
		if m.ReceiveLSN != nil {
			p.ReceiveLSN = *m.ReceiveLSN
		}
		if m.ReplayLSN != nil {
			p.ReplayLSN = *m.ReplayLSN
		}
	} else if m.XLogLocation != nil {
		p.ReceiveLSN, p.ReplayLSN = *m.XLogLocation, *m.XLogLocation
	}
	return p
}

// newer reports whether a should replace b as the observation of one
// member: the later observation wins, then the more direct source; the
// remaining comparisons only make the choice independent of input order.
func newer(a, b Position) bool {
	if !a.ObservedAt.Equal(b.ObservedAt) {
		return a.ObservedAt.After(b.ObservedAt)
	}
	if a.Source != b.Source {
		return a.Source > b.Source
	}
	if a.Unreachable != b.Unreachable {
		return a.Unreachable // a failed query at the same instant is the safer view
	}
	if a.Received() != b.Received() {
		return a.Received() > b.Received()
	}
	if a.ReplayLSN != b.ReplayLSN {
		return a.ReplayLSN > b.ReplayLSN
	}
	if a.ReceiveLSN != b.ReceiveLSN {
		return a.ReceiveLSN > b.ReceiveLSN
	}
	if a.Timeline != b.Timeline {
		return a.Timeline > b.Timeline
	}
	if a.State != b.State {
		return a.State > b.State
	}
	if a.Role != b.Role {
		return a.Role > b.Role
	}
	return a.ReplicationState > b.ReplicationState
}
