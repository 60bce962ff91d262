package failover

import (
	"fmt"
	"time"
)

// Action is what the node should do now.
type Action int

// Actions. Each decision carries exactly one; the Controller performs it and
// decides again.
const (
	// ActionNoop: everything is as it should be.
	ActionNoop Action = iota
	// ActionWait: nothing to do yet; decide again at the latest at
	// Decision.WaitUntil (zero: on the next event or tick).
	ActionWait
	// ActionQueryPeers: gather positions from all peers (bounded by
	// Settings.PeerQueryTimeout, in parallel) and decide again.
	ActionQueryPeers
	// ActionBootstrap: race for the initialize key; if won, initialize a
	// new cluster.
	ActionBootstrap
	// ActionSetInitialize: write initialize = the local system identifier
	// (create-if-absent, or the "" placeholder this node holds).
	ActionSetInitialize
	// ActionClone: create the data directory from Target (wiping it first
	// when WipeData).
	ActionClone
	// ActionStart: start PostgreSQL as StartAs; a replica follows Target
	// ("" for none).
	ActionStart
	// ActionAcquire: try to create the leader key (atomic); on success
	// clear the failover key if ClearFailover, then decide again.
	ActionAcquire
	// ActionPromote: promote the local replica (the term is held).
	ActionPromote
	// ActionDemote: stop accepting writes in DemoteMode, release the term
	// afterwards if ReleaseTerm, and restart as a replica of Target ("" for
	// none).
	ActionDemote
	// ActionFollow: point the running replica at Target.
	ActionFollow
	// ActionCheckDivergence: compare the local timeline and WAL with
	// Target's and record the outcome in LocalStatus.Divergence.
	ActionCheckDivergence
	// ActionRewind: run pg_rewind against Target, then follow it.
	ActionRewind
	// ActionRelease: delete the leader key (guarded by the term).
	ActionRelease
	// ActionClearFailover: clear the failover key (compare-and-swap).
	ActionClearFailover
)

var actionNames = [...]string{
	ActionNoop: "noop", ActionWait: "wait", ActionQueryPeers: "query-peers", ActionBootstrap: "bootstrap",
	ActionSetInitialize: "set-initialize", ActionClone: "clone", ActionStart: "start", ActionAcquire: "acquire",
	ActionPromote: "promote", ActionDemote: "demote", ActionFollow: "follow",
	ActionCheckDivergence: "check-divergence", ActionRewind: "rewind", ActionRelease: "release",
	ActionClearFailover: "clear-failover",
}

// String returns the action's name as logs and events show it, such as
// "acquire" or "rewind".
func (a Action) String() string {
	if a >= 0 && int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// DemoteMode is how a primary stops accepting writes.
type DemoteMode string

// Demote modes, after Patroni's.
const (
	// DemoteGraceful: CHECKPOINT, fast stop, and hand over only once the
	// candidate has the shutdown checkpoint (switchover).
	DemoteGraceful DemoteMode = "graceful"
	// DemoteFast: fast stop.
	DemoteFast DemoteMode = "fast"
	// DemoteImmediate: immediate stop, the quickest way to stop writes when
	// another node may already be primary.
	DemoteImmediate DemoteMode = "immediate"
	// DemoteOffline: fast stop without touching the DCS (it is unreachable
	// or the term is about to end); restart as a replica with no upstream.
	DemoteOffline DemoteMode = "offline"
	// DemoteCluster: fast stop of the primary of a cluster that becomes a
	// standby cluster (standby_cluster added to its configuration); the
	// node keeps the term and restarts as the standby leader following
	// Target, the remote.
	DemoteCluster DemoteMode = "demote-cluster"
)

// Decision is the outcome of [Decide]: one action and why.
type Decision struct {
	Action     Action
	DemoteMode DemoteMode
	// ReleaseTerm (demote): delete the leader key once stopped.
	ReleaseTerm bool
	// StartAs (start): RolePrimary or RoleReplica.
	StartAs Role
	// Target is the member to follow, rewind from, clone from, or hand
	// over to. A standby leader's target names the remote of the standby
	// cluster instead: "(standby_cluster host:port #fingerprint)".
	Target string
	// WipeData (clone): remove the data directory first (re-clone).
	WipeData bool
	// ClearFailover (acquire): clear the failover key after winning.
	ClearFailover bool
	// Overridden is set when the lag rule was waived for a manual failover.
	Overridden bool
	// WaitUntil is the latest instant to decide again (a bound that
	// expires, a scheduled time); zero when only events matter.
	WaitUntil time.Time
	// Code is the stable reason code; Reason the human explanation.
	Code   Code
	Reason string
	// Candidates is the candidate selection behind the decision, if any.
	Candidates *CandidateResult
}

// String renders the decision for logs: the action with its mode and
// target, the code and the reason.
func (d Decision) String() string {
	s := d.Action.String()
	switch {
	case d.Action == ActionDemote:
		s += "(" + string(d.DemoteMode) + ")"
	case d.Action == ActionStart:
		s += "(" + string(d.StartAs) + ")"
	}
	if d.Target != "" {
		s += " " + d.Target
	}
	return fmt.Sprintf("%s [%s]: %s", s, d.Code, d.Reason)
}
