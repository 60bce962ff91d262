// Package mutation switches on deliberate defects in failover.Controller,
// for one purpose: showing that each invariant of the simulation
// (internal/sim) catches a broken Controller. A mutation travels in the
// context given to Controller.Run, so it reaches only the Controllers of
// the simulation that asked for it; nothing else can set one, since the
// package is internal. With no mutation in the context every check is a
// context lookup that returns false.
package mutation

import "context"

// Kind names one deliberate defect.
type Kind string

// The defects, each caught by one invariant of the simulation.
const (
	// NoOutOfAgentFence: the Controller never arms the out-of-agent fence
	// (pg.DeadlineFencer), so a frozen agent's primary keeps accepting
	// writes after its lease expired. Caught by "at most one PostgreSQL
	// accepts writes".
	NoOutOfAgentFence Kind = "no-out-of-agent-fence"
	// SyncBeforeCatchUp: the leader counts every streaming standby as
	// caught up at once, so a standby enters the sync key before it holds
	// the commits acknowledged so far. Caught by "no acknowledged write is
	// lost in synchronous mode".
	SyncBeforeCatchUp Kind = "sync-before-catch-up"
	// IgnoreLag: races ignore maximum_lag_on_failover. Caught by "an
	// asynchronous failover loses at most maximum_lag_on_failover of what
	// a surviving node held".
	IgnoreLag Kind = "ignore-lag"
	// KeepKey: a node that stops running a primary (fenced, demoted)
	// does not give up the leader key. Caught by "no leader key is held
	// for long by a node that does not run a primary".
	KeepKey Kind = "keep-key"
	// FailsafeMajority: in failsafe mode a primary cut off from the DCS
	// extends its term once a majority of the members (itself included)
	// confirmed it, instead of every member that could take the key.
	// Caught by "at most one PostgreSQL accepts writes": a member that
	// did not confirm races and is promoted beside it.
	FailsafeMajority Kind = "failsafe-majority"
)

// Kinds lists every defect.
func Kinds() []Kind {
	return []Kind{NoOutOfAgentFence, SyncBeforeCatchUp, IgnoreLag, KeepKey, FailsafeMajority}
}

type key struct{}

// With returns ctx carrying k on top of the defects ctx already carries.
func With(ctx context.Context, k Kind) context.Context {
	old, _ := ctx.Value(key{}).([]Kind)
	return context.WithValue(ctx, key{}, append(append([]Kind(nil), old...), k))
}

// On reports whether ctx carries k.
func On(ctx context.Context, k Kind) bool {
	ks, _ := ctx.Value(key{}).([]Kind)
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}
