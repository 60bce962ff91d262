package failover

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/pg"
)

// SyncPlaceholder is the standby name that strict synchronous mode puts in
// synchronous_standby_names when no standby is known, so that commits wait
// instead of running asynchronously. It is Patroni's, so both tools
// recognise it; no member may be called that.
const SyncPlaceholder = "__patroni_strict_sync_replica_placeholder__"

// AllowDataLossKey is the extra field of the failover key that lets a
// manual failover promote a member that synchronous mode does not allow
// (not listed in the sync key, or unable to prove it holds every
// acknowledged commit): {"member": "x", "allow_data_loss": true}. Patroni
// ignores unknown fields of the failover key.
const AllowDataLossKey = "allow_data_loss"

// SyncReplica is one row of the primary's pg_stat_replication, reduced to
// what the synchronous-standby manager needs.
type SyncReplica struct {
	// Name is the application_name (pgha uses the member name).
	Name string
	// State is pg_stat_replication.state: "streaming" is required.
	State string
	// FlushLSN is the standby's flushed position in bytes.
	FlushLSN int64
}

// DefaultSyncSettle is how long after setting synchronous_standby_names the
// leader waits before it records the epoch's start position (see
// [SyncEpoch]).
const DefaultSyncSettle = time.Second

// SyncEpoch is the leader's memory of the synchronous_standby_names value
// it set in its current term: the value and when it was set; once Settle
// passed, the primary's flush LSN then (the start position E, Armed); and
// the standbys of the value that have flushed up to E since (they hold
// every commit acknowledged before E). The zero SyncEpoch means
// "unknown": nothing is assumed about the running value.
//
// Why the settle time: the server reports a new value as soon as the
// postmaster reloaded, but PostgreSQL starts making commits wait only once
// its checkpointer has reloaded too (it publishes whether any synchronous
// standby is defined), and each WAL sender applies the value when it
// reloads. Commits in between are acknowledged under the old value, or
// not waited for at all; E is therefore read only after the settle time,
// so that those commits lie below it.
type SyncEpoch struct {
	Set      bool
	GUC      pg.SyncStandbys
	SetAt    time.Time
	Armed    bool
	SetAtLSN int64
	CaughtUp []string
}

// SyncInput is what [PlanSync] looks at: the leader's view in one cycle.
type SyncInput struct {
	Settings Settings
	// Leader is this node, the primary holding the term.
	Leader string
	// Cluster supplies the members (tags, running state) and the sync key.
	Cluster *dcs.Cluster
	// Replicas are the rows of pg_stat_replication.
	Replicas []SyncReplica
	// CurrentGUC is synchronous_standby_names as the server reports it.
	CurrentGUC string
	// Epoch is what the leader set so far in its term.
	Epoch SyncEpoch
	// Now and FlushLSN are the time and the primary's flush LSN of this
	// view; Settle is the settle time (0: DefaultSyncSettle).
	Now      time.Time
	FlushLSN int64
	Settle   time.Duration
}

// SyncStep is the one next step [PlanSync] asks for.
type SyncStep int

// Sync steps. The Controller performs one, updates its view, and plans
// again (a few times per cycle).
const (
	// SyncNothing: the GUC and the sync key are as they should be.
	SyncNothing SyncStep = iota
	// SyncWriteKey: write SyncPlan.Key to the sync key (compare-and-swap
	// on the revision seen, guarded by the term).
	SyncWriteKey
	// SyncDeleteKey: delete the sync key (synchronous mode turned off).
	SyncDeleteKey
	// SyncSetGUC: set synchronous_standby_names to SyncPlan.GUC, then
	// start a new epoch at the flush LSN read after the change.
	SyncSetGUC
)

// String names the step, for logs.
func (s SyncStep) String() string {
	switch s {
	case SyncNothing:
		return "nothing"
	case SyncWriteKey:
		return "write-sync-key"
	case SyncDeleteKey:
		return "delete-sync-key"
	case SyncSetGUC:
		return "set-synchronous_standby_names"
	}
	return fmt.Sprintf("SyncStep(%d)", int(s))
}

// SyncPlan is the outcome of [PlanSync].
type SyncPlan struct {
	Step SyncStep
	// Key is the sync key to write (SyncWriteKey).
	Key *dcs.SyncState
	// GUC is the synchronous_standby_names value to set (SyncSetGUC), and
	// the value wanted in any case.
	GUC pg.SyncStandbys
	// Epoch is the bookkeeping to keep (caught-up standbys updated).
	Epoch SyncEpoch
	// Degraded is set in non-strict mode when no standby is synchronous:
	// commits are acknowledged by the primary alone.
	Degraded bool
	// Blocking is set in strict mode when no standby can acknowledge
	// commits (none listed streams, or only the placeholder is listed):
	// commits wait.
	Blocking bool
	// Reason explains the plan.
	Reason string
}

// PlanSync decides how the leader manages synchronous replication. It is
// pure. The rule it keeps (see the package doc, "Synchronous
// replication"): the sync key (leader L, standbys V, quorum q) always
// claims that every acknowledged commit is held by at least |V| − q
// members of V, so that any q+1 members of V together hold all of it.
//
// With synchronous_standby_names = FIRST k or ANY k over names G, E the
// primary's flush LSN read a settle time after the value was set (see
// [SyncEpoch]), and C the members of G whose flush reached E since: commits up to E are on all of C, later ones on k
// members of G, so on at least w = k − |G∖C| members of C. The key is
// (C, |C| − w) when w ≥ 1, else no standby. Priority mode lists exactly
// k = |G| names, so w = |C| and q = 0 (every listed standby has
// everything). Before the GUC changes from (G, k) to (G', k'), the key is
// first reduced to what holds under both: V = C ∩ G', w = min(k − |G∖V|,
// k' − |G'∖V|) — so names are removed from the key before the GUC and
// added to the key only after they caught up under the GUC.
func PlanSync(in SyncInput) SyncPlan {
	s := in.Settings
	key := (*dcs.SyncState)(nil)
	if in.Cluster != nil {
		key = in.Cluster.Sync
	}
	plan := SyncPlan{Epoch: in.Epoch}
	if s.SynchronousMode != SyncOn && s.SynchronousMode != SyncQuorum {
		switch {
		case key != nil:
			plan.Step, plan.Reason = SyncDeleteKey, "synchronous_mode is off: deleting the sync key before clearing synchronous_standby_names"
		case in.CurrentGUC != "" || (in.Epoch.Set && len(in.Epoch.GUC.Names) > 0):
			plan.Step, plan.Reason = SyncSetGUC, "synchronous_mode is off: clearing synchronous_standby_names"
		default:
			plan.Reason = "synchronous_mode is off"
		}
		return plan
	}

	target, why := syncTarget(in)
	plan.GUC = target
	ep := in.Epoch
	if ep.Set && sameGUC(ep.GUC, target) && in.CurrentGUC == target.String() {
		settle := in.Settle
		if settle <= 0 {
			settle = DefaultSyncSettle
		}
		if !ep.Armed && !in.Now.Before(ep.SetAt.Add(settle)) {
			ep.Armed, ep.SetAtLSN = true, in.FlushLSN
		}
		ep.CaughtUp = caughtUp(ep, in.Replicas)
		plan.Epoch = ep
		want := steadyKey(in.Leader, ep)
		plan.fill(in, why)
		if !sameKey(key, want, in.Leader) {
			plan.Step, plan.Key = SyncWriteKey, want
			plan.Reason = fmt.Sprintf("%s; sync key now %s", why, describeKey(want))
		}
		return plan
	}
	// A transition: first the key that holds under the current and the
	// target value, then the GUC.
	want := transitionKey(in.Leader, ep, target)
	plan.fill(in, why)
	if !sameKey(key, want, in.Leader) {
		plan.Step, plan.Key = SyncWriteKey, want
		plan.Reason = fmt.Sprintf("%s; before changing synchronous_standby_names to %q the sync key becomes %s", why, target.String(), describeKey(want))
		return plan
	}
	plan.Step = SyncSetGUC
	plan.Reason = fmt.Sprintf("%s; setting synchronous_standby_names to %q (was %q)", why, target.String(), in.CurrentGUC)
	return plan
}

// fill sets Degraded and Blocking for the key that will hold.
func (p *SyncPlan) fill(in SyncInput, why string) {
	listed := 0
	for _, n := range p.GUC.Names {
		if n != SyncPlaceholder {
			listed++
		}
	}
	if len(p.GUC.Names) == 0 {
		p.Degraded = true
	}
	if in.Settings.SynchronousModeStrict && (listed == 0 || !anyStreaming(p.GUC, in.Replicas)) {
		p.Blocking = true
	}
	p.Reason = why
}

func anyStreaming(g pg.SyncStandbys, reps []SyncReplica) bool {
	for _, r := range reps {
		if r.State == "streaming" && slices.Contains(g.Names, r.Name) {
			return true
		}
	}
	return false
}

// syncTarget chooses synchronous_standby_names: the eligible streaming
// standbys (member key present, running, not nosync, sync_priority not
// 0), ordered as Patroni does (sync_priority, then currently in the sync
// key, then flush LSN, then name); priority mode takes the first
// synchronous_node_count, quorum mode takes all with ANY
// min(synchronous_node_count, n). With none: strict mode keeps the last
// value (or the placeholder), so commits wait; otherwise replication
// becomes asynchronous.
func syncTarget(in SyncInput) (pg.SyncStandbys, string) {
	s := in.Settings
	var key *dcs.SyncState
	if in.Cluster != nil && in.Cluster.Sync != nil && in.Cluster.Sync.Leader == in.Leader {
		key = in.Cluster.Sync
	}
	type cand struct {
		name   string
		prio   int64
		inKey  bool
		flush  int64
		member *dcs.Member
	}
	var cands []cand
	seen := map[string]bool{}
	for _, r := range in.Replicas {
		if r.State != "streaming" || r.Name == in.Leader || seen[r.Name] || in.Cluster == nil {
			continue
		}
		m := in.Cluster.Member(r.Name)
		if m == nil || m.State != dcs.StateRunning || m.Tags.Bool(dcs.TagNoSync) {
			continue
		}
		prio := int64(1)
		if p, ok := m.Tags.Int(dcs.TagSyncPriority); ok {
			if p <= 0 {
				continue
			}
			prio = p
		}
		seen[r.Name] = true
		cands = append(cands, cand{name: r.Name, prio: prio, inKey: key != nil && slices.Contains(key.SyncStandby, r.Name), flush: r.FlushLSN, member: m})
	}
	slices.SortFunc(cands, func(a, b cand) int {
		if c := cmp.Compare(b.prio, a.prio); c != 0 {
			return c
		}
		if a.inKey != b.inKey {
			if a.inKey {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(b.flush, a.flush); c != 0 {
			return c
		}
		return cmp.Compare(a.name, b.name)
	})
	n := max(1, s.SynchronousNodeCount)
	var g pg.SyncStandbys
	if s.SynchronousMode == SyncQuorum {
		g.Method = pg.SyncAny
		for _, c := range cands {
			g.Names = append(g.Names, c.name)
		}
		g.Num = min(n, len(g.Names))
	} else {
		g.Method = pg.SyncFirst
		for _, c := range cands[:min(n, len(cands))] {
			g.Names = append(g.Names, c.name)
		}
		g.Num = len(g.Names)
	}
	slices.Sort(g.Names)
	if len(g.Names) > 0 {
		return g, fmt.Sprintf("%d eligible streaming standby(s), synchronous: %s", len(cands), g.String())
	}
	if !s.SynchronousModeStrict {
		return pg.SyncStandbys{}, "no eligible standby streams: replication is asynchronous (synchronous_mode_strict is off)"
	}
	if in.Epoch.Set && len(in.Epoch.GUC.Names) > 0 {
		return in.Epoch.GUC, "no eligible standby streams: strict mode keeps the last synchronous standbys, commits wait"
	}
	return pg.SyncStandbys{Method: pg.SyncFirst, Num: 1, Names: []string{SyncPlaceholder}},
		"no eligible standby streams: strict mode sets the placeholder, commits wait"
}

// caughtUp returns the epoch's caught-up set extended by the standbys
// whose flush reached SetAtLSN.
func caughtUp(ep SyncEpoch, reps []SyncReplica) []string {
	if !ep.Armed {
		return nil
	}
	out := slices.Clone(ep.CaughtUp)
	for _, r := range reps {
		if r.FlushLSN >= ep.SetAtLSN && slices.Contains(ep.GUC.Names, r.Name) && r.Name != SyncPlaceholder && !slices.Contains(out, r.Name) {
			out = append(out, r.Name)
		}
	}
	slices.Sort(out)
	return out
}

// guaranteed returns how many members of v hold every commit acknowledged
// under g whose LSN is past the epoch start: k − |g∖v| (at least 0).
func guaranteed(g pg.SyncStandbys, v []string) int {
	outside := 0
	for _, n := range g.Names {
		if !slices.Contains(v, n) {
			outside++
		}
	}
	return max(0, g.Num-outside)
}

// steadyKey is the key for an epoch whose value stays.
func steadyKey(leader string, ep SyncEpoch) *dcs.SyncState {
	w := guaranteed(ep.GUC, ep.CaughtUp)
	if w < 1 || len(ep.CaughtUp) == 0 {
		return &dcs.SyncState{Leader: leader}
	}
	return &dcs.SyncState{Leader: leader, SyncStandby: slices.Clone(ep.CaughtUp), Quorum: len(ep.CaughtUp) - w}
}

// transitionKey is the key that holds both under the current epoch and
// under target before anyone caught up with it. An unknown epoch
// guarantees nothing, so the key names no standby.
func transitionKey(leader string, ep SyncEpoch, target pg.SyncStandbys) *dcs.SyncState {
	if !ep.Set {
		return &dcs.SyncState{Leader: leader}
	}
	var v []string
	for _, n := range ep.CaughtUp {
		if slices.Contains(target.Names, n) {
			v = append(v, n)
		}
	}
	w := min(guaranteed(ep.GUC, v), guaranteed(target, v))
	if w < 1 || len(v) == 0 {
		return &dcs.SyncState{Leader: leader}
	}
	return &dcs.SyncState{Leader: leader, SyncStandby: v, Quorum: len(v) - w}
}

func sameGUC(a, b pg.SyncStandbys) bool {
	if len(a.Names) == 0 && len(b.Names) == 0 {
		return true
	}
	return a.String() == b.String()
}

// sameKey reports whether the stored key already says want.
func sameKey(have, want *dcs.SyncState, leader string) bool {
	if have == nil || have.Leader != leader {
		return false
	}
	a, b := slices.Clone(have.SyncStandby), slices.Clone(want.SyncStandby)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b) && have.Quorum == want.Quorum
}

func describeKey(k *dcs.SyncState) string {
	if len(k.SyncStandby) == 0 {
		return fmt.Sprintf("{leader %s, no synchronous standby}", k.Leader)
	}
	return fmt.Sprintf("{leader %s, standbys %v, quorum %d}", k.Leader, k.SyncStandby, k.Quorum)
}

// SyncReplicasFromStatus converts pg_stat_replication rows.
func SyncReplicasFromStatus(rows []pg.Replication) []SyncReplica {
	out := make([]SyncReplica, 0, len(rows))
	for _, r := range rows {
		out = append(out, SyncReplica{Name: r.ApplicationName, State: r.State, FlushLSN: r.FlushLSN.Int64()})
	}
	return out
}
