package failover

import (
	"time"

	"github.com/pgha/pgha/dcs"
)

// leader: this node holds the term and its server runs.
func (d *decider) leader() Decision {
	f := d.c.Failover
	if sc := d.standby(); sc != nil {
		return d.standbyLeader(sc)
	}
	if d.l.Role != RolePrimary {
		if d.c.IsPaused() && (f == nil || f.Member != d.me) {
			return decision(ActionRelease, CodePausedRelease, "paused and holding the term without running a primary: releasing it")
		}
		// A promotion within DemoteLead of the deadline would be demoted
		// again at once by the safety rule, after forking a timeline.
		if lead := max(d.s.demoteLead(), 0); !d.now.Before(d.obs.Term.Deadline.Add(-lead)) {
			return decision(ActionWait, CodeDeadlineNear, "holding the term as a replica, but its deadline %s is within %v: not promoting unless the lease is renewed",
				d.obs.Term.Deadline.Format(time.RFC3339Nano), lead)
		}
		return decision(ActionPromote, CodePromote, "holding the term as a replica: promoting")
	}
	if !f.IsZero() {
		return d.switchover(f)
	}
	if d.c.IsPaused() {
		return decision(ActionNoop, CodePausedLeader, "paused: keeping the term, no automatic action")
	}
	return decision(ActionNoop, CodeLeaderHealthy, "I am the leader with the term")
}

// switchover handles the failover key as seen by the leader (a primary,
// or the standby leader of a standby cluster): a switchover to a named
// member or to the best one, maybe scheduled.
func (d *decider) switchover(f *dcs.Failover) Decision {
	switch {
	case f.Leader != "" && f.Leader != d.me:
		return decision(ActionClearFailover, CodeFailoverNotForMe, "failover key asks %s to hand over, but I am the leader: clearing it", f.Leader)
	case f.Member == d.me:
		return decision(ActionClearFailover, CodeFailoverFulfilled, "failover key names me and I lead: request fulfilled, clearing it")
	case f.Leader == "" && f.Member == "":
		return decision(ActionClearFailover, CodeFailoverFulfilled, "failover key names neither leader nor member: clearing it")
	case d.c.IsPaused() && f.ScheduledAt != nil:
		return decision(ActionClearFailover, CodePausedNeedsNamed, "paused: scheduled switchovers are refused, clearing the key")
	case d.c.IsPaused() && f.Member == "":
		return decision(ActionClearFailover, CodePausedNeedsNamed, "paused: only a switchover to a named member is allowed, clearing the key")
	}
	if at := f.ScheduledAt; at != nil {
		if d.now.Before(*at) {
			dec := decision(ActionWait, CodeSwitchoverScheduled, "switchover scheduled at %s", at.Format(time.RFC3339Nano))
			dec.WaitUntil = *at
			return dec
		}
		if late := d.now.Sub(*at); late > d.s.LoopWait*3/2 {
			return decision(ActionClearFailover, CodeSwitchoverStale, "switchover was scheduled at %s, %v ago (more than 1.5 loop_wait): clearing the stale key",
				at.Format(time.RFC3339Nano), late)
		}
	}
	if !d.obs.PeersQueried {
		return decision(ActionQueryPeers, CodeNeedPeers, "switchover requested: checking the candidates' positions")
	}
	res := d.selectCandidates(true, f.Member, false, d.me)
	if res.Chosen == "" {
		why := "no member is eligible"
		if f.Member != "" {
			why = "candidate " + f.Member + " is not eligible"
			if v, ok := res.Verdict(f.Member); ok {
				why += ": " + v.Message
			} else {
				why += ": not a member"
			}
		}
		dec := decision(ActionClearFailover, CodeSwitchoverNoCandidate, "switchover refused, %s: clearing the key", why)
		dec.Candidates = &res
		return dec
	}
	dec := decision(ActionDemote, CodeSwitchover, "switchover to %s: stopping gracefully, handing over once it has the shutdown checkpoint", res.Chosen).
		demote(DemoteGraceful, true, res.Chosen)
	if d.standby() != nil {
		dec = decision(ActionDemote, CodeStandbySwitchover, "switchover inside the standby cluster to %s: stopping, releasing the leader key, then following it as a replica", res.Chosen).
			demote(DemoteGraceful, true, res.Chosen)
	}
	dec.Candidates = &res
	return dec
}
