package failover

import (
	"fmt"
	"time"

	"github.com/pgha/pgha/dcs"
)

// race: no leader key, the local server runs as a replica, no term held.
func (d *decider) race() Decision {
	if dec, ok := d.failsafeHold(); ok {
		return dec
	}
	if d.obs.WatchdogFailed {
		return decision(ActionWait, CodeWatchdogFailed, "no leader, but the watchdog is required and could not be armed here: not racing")
	}
	if d.obs.PromoteVetoed {
		return decision(ActionWait, CodePromoteVetoed, "no leader, but the pre-promote hook refused a promotion here less than a ttl ago: not racing")
	}
	f := d.c.Failover
	if f.IsZero() {
		f = nil
	}
	named := ""
	if f != nil {
		named = f.Member
	}
	if d.c.IsPaused() {
		if named == d.me {
			return d.manualSelf(f, "paused: ")
		}
		return decision(ActionNoop, CodePausedNoRace, "paused: no leader, but no automatic failover while paused")
	}
	if d.obs.Tags.NoFailover() {
		return decision(ActionWait, CodeNoFailover, "no leader, but this node is tagged nofailover: not racing")
	}
	var exclude []string
	if f != nil && f.Leader != "" && f.Leader != named {
		exclude = append(exclude, f.Leader) // the leader that handed over must not take it back
	}
	note := ""
	if named != "" {
		if named == d.me {
			if dec, ok := d.manualSelfIfEligible(f, exclude); ok {
				return dec
			}
			note = "manual failover to me is not possible; "
		} else {
			if !d.obs.PeersQueried {
				return decision(ActionQueryPeers, CodeNeedPeers, "manual failover to %s: checking it is alive", named)
			}
			res := d.selectCandidates(true, named, true, exclude...)
			if res.Chosen == named {
				dec := decision(ActionWait, CodeWaitManualCandidate, "manual failover to %s: waiting for it to take the leader key", named)
				dec.Candidates = &res
				return dec
			}
			v, _ := res.Verdict(named)
			note = fmt.Sprintf("manual failover candidate %s is not eligible (%s); ", named, v.Message)
		}
	}
	if named == "" {
		if dec, ok := d.streamingGuard(); ok {
			return dec
		}
	}
	if !d.obs.PeersQueried {
		return decision(ActionQueryPeers, CodeNeedPeers, "%sno leader: gathering peer positions for the race", note)
	}
	if named == "" {
		if dec, ok := d.primaryAliveGuard(); ok {
			return dec
		}
	}
	res := d.selectCandidates(true, "", false, exclude...)
	if res.Chosen == "" && len(exclude) > 0 && !d.obs.LeaderVanishedAt.IsZero() && !d.now.Before(d.obs.LeaderVanishedAt.Add(d.s.TTL)) {
		// A ttl after the leader key went, every member the switchover
		// could hand over to is still ineligible (a switchover hands over
		// well within a ttl): keeping the former leader out as well would
		// leave the cluster without a primary until someone clears the key
		// by hand (Patroni does keep it out). It may race like any member,
		// and clears the key when it wins.
		if all := d.selectCandidates(true, "", false); all.Chosen != "" {
			res = all
			note += fmt.Sprintf("the switchover away from %s found no eligible member, so %s may race again; ", f.Leader, f.Leader)
		}
	}
	v, ok := res.Verdict(d.me)
	var dec Decision
	switch {
	case ok && v.IsEligible() && v.TiedBest:
		dec = decision(ActionAcquire, CodeRaceAcquire, "%sno leader and I am the best candidate (%s): acquiring the leader key", note, v.Message)
		dec.ClearFailover = f != nil
	case ok && v.IsEligible():
		dec = decision(ActionWait, CodeNotBest, "%sno leader; %s is a better candidate than me", note, res.Chosen)
	case res.Chosen == "":
		dec = decision(ActionWait, CodeNoCandidate, "%sno leader and no member is eligible; me: %s", note, verdictMessage(v, ok))
	case ok && v.Reason == ExclNoFailover:
		dec = decision(ActionWait, CodeNoFailover, "%sno leader; I may not be promoted: %s", note, v.Message)
	default:
		dec = decision(ActionWait, CodeIneligible, "%sno leader; I may not be promoted (%s), %s may", note, verdictMessage(v, ok), res.Chosen)
	}
	dec.Candidates = &res
	return dec
}

func verdictMessage(v Verdict, ok bool) string {
	if !ok {
		return "no member key published"
	}
	return v.Message
}

// manualSelfIfEligible acquires for a manual failover naming this node if
// it is eligible with the lag rule waived.
func (d *decider) manualSelfIfEligible(f *dcs.Failover, exclude []string) (Decision, bool) {
	res := d.selectCandidates(true, d.me, true, exclude...)
	if res.Chosen != d.me {
		return Decision{}, false
	}
	dec := decision(ActionAcquire, CodeManualFailover, "manual failover to me: acquiring the leader key")
	if res.Overridden || res.SyncOverridden {
		v, _ := res.Verdict(d.me)
		dec.Reason += "; " + v.Message
	}
	dec.Overridden, dec.ClearFailover, dec.Candidates = res.Overridden || res.SyncOverridden, f != nil, &res
	return dec, true
}

// manualSelf is the paused variant: acquire if eligible (lag waived), else
// wait; there is no fallback race while paused.
func (d *decider) manualSelf(f *dcs.Failover, prefix string) Decision {
	if dec, ok := d.manualSelfIfEligible(f, nil); ok {
		dec.Reason = prefix + dec.Reason
		return dec
	}
	res := d.selectCandidates(true, d.me, true)
	v, ok := res.Verdict(d.me)
	dec := decision(ActionWait, CodeIneligible, "%smanual failover to me refused: %s", prefix, verdictMessage(v, ok))
	dec.Candidates = &res
	return dec
}

// guardBound is when the false-failover guard stops postponing the race,
// or zero when it does not apply.
func (d *decider) guardBound(window time.Duration) time.Time {
	if window <= 0 || d.obs.LeaderVanishedAt.IsZero() {
		return time.Time{}
	}
	return d.obs.LeaderVanishedAt.Add(window)
}

// streamingGuard postpones the race while the local WAL receiver still
// hears from its upstream (the old primary is evidently alive and only its
// agent or DCS link failed), never beyond LeaderVanishedAt +
// RacePostponeMax.
func (d *decider) streamingGuard() (Decision, bool) {
	bound := d.guardBound(d.s.RacePostponeMax)
	if bound.IsZero() || !d.now.Before(bound) {
		return Decision{}, false
	}
	last := d.l.LastWALReceiptAt
	if d.l.ReplicationState != dcs.ReplicationStreaming || last.IsZero() || d.now.Sub(last) > d.s.StreamingFreshness {
		return Decision{}, false
	}
	if d.upstreamHandedOver() {
		return Decision{}, false
	}
	until := last.Add(d.s.StreamingFreshness)
	if bound.Before(until) {
		until = bound
	}
	dec := decision(ActionWait, CodeRaceGuard, "no leader, but my WAL receiver heard from %q %v ago: postponing the race until %s at the latest (bound %s)",
		d.l.Following, d.now.Sub(last), until.Format(time.RFC3339Nano), bound.Format(time.RFC3339Nano))
	dec.WaitUntil = until
	return dec, true
}

// upstreamHandedOver reports whether the upstream this replica hears from
// is the former leader of a switchover (the failover key's leader) and its
// own agent publishes it as a running replica: it released the key on
// purpose and restarted as a replica, which may stream to this node again
// (cascading), so its WAL is no sign of a leader alive behind a failed
// agent, and a switchover to the best member must not wait out the guard.
func (d *decider) upstreamHandedOver() bool {
	f := d.c.Failover
	if f.IsZero() || f.Leader == "" || f.Leader != d.l.Following {
		return false
	}
	m := d.c.Member(f.Leader)
	return m != nil && m.State == dcs.StateRunning && m.Role == dcs.RoleReplica
}

// primaryAliveGuard postpones the race while a peer answers that it runs a
// primary (it will reclaim its key or demote itself), never beyond
// LeaderVanishedAt + max(RacePostponeMax, TTL).
func (d *decider) primaryAliveGuard() (Decision, bool) {
	bound := d.guardBound(max(d.s.RacePostponeMax, d.s.TTL))
	if bound.IsZero() || !d.now.Before(bound) {
		return Decision{}, false
	}
	for _, p := range d.obs.Peers {
		if p.Name != d.me && p.Running() && p.IsPrimary() && d.now.Sub(p.ObservedAt) <= d.s.MaxPositionAge {
			dec := decision(ActionWait, CodePrimaryAlive, "no leader, but %s still runs as primary: postponing the race until %s at the latest",
				p.Name, bound.Format(time.RFC3339Nano))
			dec.WaitUntil = bound
			return dec, true
		}
	}
	return Decision{}, false
}

// failsafeHold keeps a node out of the race while a primary that cannot
// reach the DCS may still run on failsafe confirmations: one it confirmed
// less than a ttl ago, or any, when the failsafe key does not list it (that
// primary did not ask it, so it cannot know).
func (d *decider) failsafeHold() (Decision, bool) {
	if l := d.obs.FailsafeLeader; l != "" && l != d.me && d.now.Before(d.obs.FailsafeUntil) {
		return decision(ActionWait, CodeFailsafeLeader, "no leader key, but %s, cut off from the DCS, confirmed itself as leader through me until %s (failsafe mode): not racing",
			l, d.obs.FailsafeUntil.Format(time.RFC3339Nano)), true
	}
	if d.s.FailsafeMode && len(d.c.Failsafe) > 0 {
		if _, listed := d.c.Failsafe[d.me]; !listed {
			return decision(ActionWait, CodeNotInFailsafe, "no leader key, and the failsafe key does not list me: a primary in failsafe mode would not have asked me, so I may not race"), true
		}
	}
	return Decision{}, false
}
