package failover

import (
	"fmt"
	"time"

	"github.com/pgha/pgha/dcs"
)

// Decide maps what a node observes to the one action it should take now,
// with a reason code and a human explanation. It is pure and total: no I/O,
// no clock (obs.Now is the time), no panic on any input. The rules, in the
// order they are tried, are listed in the package documentation.
func Decide(obs Observation) Decision {
	d := decider{obs: obs, s: obs.Settings, me: obs.Name, c: obs.Cluster, l: obs.Local, now: obs.Now}
	return d.decide()
}

// decider carries one evaluation of Decide.
type decider struct {
	obs     Observation
	s       Settings
	me      string
	c       *dcs.Cluster
	l       LocalStatus
	now     time.Time
	holding bool // a valid term that the snapshot does not contradict
}

func decision(a Action, code Code, format string, args ...any) Decision {
	return Decision{Action: a, Code: code, Reason: fmt.Sprintf(format, args...)}
}

func (d *decider) decide() Decision {
	if dec, ok := d.safety(); ok {
		return dec
	}
	if err := d.s.Validate(); err != nil {
		return decision(ActionWait, CodeInvalidSettings, "no automatic action: %v", err)
	}
	t := d.obs.Term
	termValid := t.Held && d.now.Before(t.Deadline)
	if d.c == nil {
		if termValid && d.l.IsPrimary() {
			dec := decision(ActionNoop, CodeDCSUnreachable, "DCS unreachable: keeping the term until %s; demoting %v before it",
				t.Deadline.Format(time.RFC3339Nano), d.s.demoteLead())
			dec.WaitUntil = t.Deadline.Add(-d.s.demoteLead())
			return dec
		}
		return decision(ActionWait, CodeDCSUnreachable, "DCS unreachable: no action without a cluster view")
	}
	if termValid {
		if d.snapshotBehindTerm() {
			return decision(ActionWait, CodeSnapshotBehindTerm, "snapshot revision %d predates my term (revision %d): re-read",
				d.c.Revision, t.Revision)
		}
		lost, _ := d.termLost()
		d.holding = !lost
	}
	if dec, ok := d.dataDir(); ok {
		return dec
	}
	if !d.l.Running() {
		return d.notRunning()
	}
	if d.holding {
		return d.leader()
	}
	if d.c.Leader != nil {
		if d.c.Leader.Name == d.me {
			return d.reclaimAsReplica()
		}
		return d.follower(d.c.Leader.Name)
	}
	return d.race()
}

// safety enforces invariants 1 and 4 for a running primary before anything
// else, whatever the settings or pause: it never keeps accepting writes
// without a valid term.
func (d *decider) safety() (Decision, bool) {
	if !d.l.IsPrimary() {
		return Decision{}, false
	}
	t := d.obs.Term
	if t.Held {
		if !d.now.Before(t.Deadline) {
			return decision(ActionDemote, CodeDeadlinePassed, "running as primary past my term deadline %s: stopping writes at once",
				t.Deadline.Format(time.RFC3339Nano)).demote(DemoteImmediate, false, ""), true
		}
		lead := max(d.s.demoteLead(), 0)
		if !d.now.Before(t.Deadline.Add(-lead)) {
			return decision(ActionDemote, CodeDeadlineNear, "term deadline %s is within %v and the lease was not renewed: stopping writes before it passes",
				t.Deadline.Format(time.RFC3339Nano), lead).demote(DemoteOffline, false, ""), true
		}
		if d.c == nil {
			return Decision{}, false
		}
		if lost, why := d.termLost(); lost {
			return decision(ActionDemote, CodeTermLost, "lost the term: %s", why).demote(DemoteImmediate, false, d.leaderName()), true
		}
		return Decision{}, false
	}
	if d.c == nil {
		return decision(ActionDemote, CodeNoTermNoDCS, "running as primary without a term and the DCS is unreachable").
			demote(DemoteOffline, false, ""), true
	}
	if l := d.c.Leader; l != nil {
		if l.Name == d.me {
			return decision(ActionAcquire, CodeReclaimTerm, "running as primary and the leader key names me: reclaiming the term (nobody else can take the key meanwhile)"), true
		}
		return decision(ActionDemote, CodeOtherLeader, "running as primary while %s holds the leader key", l.Name).
			demote(DemoteImmediate, false, l.Name), true
	}
	if d.obs.BootstrapOwner {
		return decision(ActionAcquire, CodeFinishBootstrap, "bootstrapped a new cluster: taking the leader key"), true
	}
	if d.c.IsPaused() {
		why := d.primaryMayKeep()
		if why == "" {
			return decision(ActionAcquire, CodePausedPrimaryAcquire, "paused, no leader key and I run a primary: taking the key"), true
		}
		return decision(ActionDemote, CodePrimaryWithoutTerm, "paused, running as primary without a term, and may not take the key: %s", why).
			demote(DemoteImmediate, false, ""), true
	}
	return decision(ActionDemote, CodePrimaryWithoutTerm, "running as primary without a term and nobody holds the leader key: stopping writes, then racing as a replica").
		demote(DemoteImmediate, false, ""), true
}

// primaryMayKeep returns why a primary found without a term while paused
// may not simply take the key, or "".
func (d *decider) primaryMayKeep() string {
	if tl := d.c.Timeline(); d.l.Timeline > 0 && tl > 0 && d.l.Timeline < tl {
		return fmt.Sprintf("my timeline %d is behind the cluster timeline %d", d.l.Timeline, tl)
	}
	if in := d.c.Initialize; in != nil && *in != "" && d.l.SystemID != "" && *in != d.l.SystemID {
		return fmt.Sprintf("my system identifier %s differs from the cluster's %s", d.l.SystemID, *in)
	}
	return ""
}

func (dec Decision) demote(mode DemoteMode, release bool, target string) Decision {
	dec.DemoteMode, dec.ReleaseTerm, dec.Target = mode, release, target
	return dec
}

func (d *decider) leaderName() string {
	if d.c == nil || d.c.Leader == nil {
		return ""
	}
	return d.c.Leader.Name
}

// snapshotBehindTerm reports a snapshot read before this node's term began.
func (d *decider) snapshotBehindTerm() bool {
	t := d.obs.Term
	return t.Revision != 0 && d.c.Revision != 0 && d.c.Revision < t.Revision
}

// termLost reports whether the snapshot contradicts the term this node
// believes it holds.
func (d *decider) termLost() (bool, string) {
	t := d.obs.Term
	if d.snapshotBehindTerm() {
		return false, ""
	}
	l := d.c.Leader
	switch {
	case l == nil && t.Revision != 0 && t.Failsafe:
		return false, "" // expired while cut off; every member confirmed me, and the key is taken again
	case l == nil && t.Revision != 0:
		return true, "the leader key is gone"
	case l == nil:
		return false, "" // without a revision a stale snapshot and a deleted key look alike
	case l.Name != d.me:
		return true, fmt.Sprintf("the leader key is held by %s", l.Name)
	case t.Revision != 0 && l.Revision != 0 && l.Revision != t.Revision:
		return true, fmt.Sprintf("the leader key was re-created (revision %d, my term %d)", l.Revision, t.Revision)
	}
	return false, ""
}

// selectCandidates runs SelectCandidate over the snapshot, the peers and,
// when withSelf, the local server.
func (d *decider) selectCandidates(withSelf bool, named string, overrideLag bool, exclude ...string) CandidateResult {
	pos := append([]Position(nil), d.obs.Peers...)
	if withSelf {
		pos = append(pos, d.l.position(d.me, d.now))
	}
	return SelectCandidate(CandidateInput{
		OverrideSync: overrideLag && named != "" && allowDataLoss(d.c.Failover),
		Cluster:      d.c,
		SnapshotAt:   d.obs.ClusterAt,
		Positions:    pos,
		Now:          d.now,
		Settings:     d.s,
		Candidate:    named,
		OverrideLag:  overrideLag,
		Exclude:      exclude,
	})
}

// reclaimAsReplica: a running replica holds no term but the leader key
// names it (a race won before a crash or stall, or a snapshot read before
// the key expired). The acquire may re-create the key if it has expired
// meanwhile, which would make this node leader, and then promote it,
// without the candidate selection of a race; so it acquires only as the
// race would, when it is eligible and best on fresh peer positions. While
// paused the key is simply reclaimed (the term holder then releases it).
func (d *decider) reclaimAsReplica() Decision {
	if d.c.IsPaused() {
		return decision(ActionAcquire, CodeReclaimTerm, "the leader key names me but I do not hold the term: reclaiming it")
	}
	dec := d.race()
	dec.Reason = "the leader key names me but I hold no term and run no primary: " + dec.Reason
	return dec
}

// allowDataLoss reports whether the failover key carries the
// allow_data_loss override (a JSON true).
func allowDataLoss(f *dcs.Failover) bool {
	if f == nil || f.Extra == nil {
		return false
	}
	raw, ok := f.Extra[AllowDataLossKey]
	return ok && string(raw) == "true"
}
