package failover

import (
	"time"
)

// notRunning covers a server that is not running: starting, crashed or
// stopped, as leader or not.
func (d *decider) notRunning() Decision {
	switch d.l.State {
	case PGStarting:
		return d.starting()
	case PGStopping:
		return decision(ActionWait, CodeStarting, "PostgreSQL is stopping")
	}
	if d.holding {
		return d.leaderNotRunning()
	}
	if l := d.c.Leader; l != nil && l.Name == d.me {
		if d.l.WasPrimary || d.c.IsPaused() {
			return decision(ActionAcquire, CodeReclaimTerm, "the leader key names me but I do not hold the term: reclaiming it")
		}
		// A former replica must not become leader without a race (see
		// reclaimAsReplica): start it so that it can take part.
		return d.start(RoleReplica, "", CodeStartReplica, "the leader key names me but I hold no term and was a replica: starting as a replica to race for it")
	}
	if d.c.IsPaused() {
		return decision(ActionNoop, CodePausedNoStart, "paused: PostgreSQL stays %s", d.l.State)
	}
	if l := d.c.Leader; l != nil {
		return d.rejoin(l.Name)
	}
	return d.start(RoleReplica, "", CodeStartReplica, "no leader: starting as a replica without upstream to take part in the race")
}

// crashedSince is when the outage of the local server began: the crash,
// else the moment it was first seen down. A start attempt from an earlier
// outage says nothing about this one.
func (d *decider) crashedSince() time.Time {
	switch {
	case !d.l.CrashedAt.IsZero():
		return d.l.CrashedAt
	case !d.l.DownSince.IsZero():
		return d.l.DownSince
	}
	return d.now
}

// leaderDownSince is when primary_start_timeout starts counting for the
// term holder's server: the outage's start, or the term's acquisition when
// that is later. A primary fenced while the DCS was out of reach and
// reclaiming its key once the DCS answers (nobody else was promoted) has
// had its server down for as long as the outage lasted, but that is no
// reason to fail over now: it gets the full primary_start_timeout to start
// in place.
func (d *decider) leaderDownSince() time.Time {
	since := d.crashedSince()
	if a := d.obs.Term.Acquired; a.After(since) {
		return a
	}
	return since
}

// starting: a server that is starting is left alone, except a leader's
// that takes longer than primary_start_timeout while a replica could take
// over.
func (d *decider) starting() Decision {
	if !d.holding {
		return decision(ActionWait, CodeStarting, "PostgreSQL is starting")
	}
	since := d.leaderDownSince()
	bound := since.Add(d.s.PrimaryStartTimeout)
	if !d.now.Before(bound) && !d.c.IsPaused() {
		if res := d.selectCandidates(false, "", false, d.me); res.Chosen != "" {
			dec := decision(ActionDemote, CodeStartTimeout, "primary has been starting since %s, beyond primary_start_timeout %v, and %s can take over: stopping and releasing the term",
				since.Format(time.RFC3339Nano), d.s.PrimaryStartTimeout, res.Chosen).demote(DemoteImmediate, true, "")
			dec.Candidates = &res
			return dec
		}
	}
	dec := decision(ActionWait, CodeStarting, "PostgreSQL (leader) is starting since %s", since.Format(time.RFC3339Nano))
	if d.now.Before(bound) {
		dec.WaitUntil = bound
	}
	return dec
}

// leaderNotRunning: the term holder's server is down. Restart in place for
// up to primary_start_timeout, then release the term if a replica can take
// over.
func (d *decider) leaderNotRunning() Decision {
	if d.c.IsPaused() {
		return decision(ActionRelease, CodePausedRelease, "paused and PostgreSQL is %s: releasing the term (no automatic start while paused)", d.l.State)
	}
	since := d.leaderDownSince()
	bound := since.Add(d.s.PrimaryStartTimeout)
	startAs, target := RoleReplica, ""
	if sc := d.standby(); sc != nil {
		// A standby leader restarts following the remote, a former
		// primary too (demote-cluster interrupted by a crash).
		target = sc.target()
	} else if d.l.WasPrimary {
		startAs = RolePrimary
	}
	if !d.now.Before(bound) {
		res := d.selectCandidates(false, "", false, d.me)
		if res.Chosen != "" {
			dec := decision(ActionRelease, CodeCrashRelease, "PostgreSQL down since %s, primary_start_timeout %v reached, %s can take over: releasing the term",
				since.Format(time.RFC3339Nano), d.s.PrimaryStartTimeout, res.Chosen)
			dec.Candidates = &res
			return dec
		}
		dec := d.start(startAs, target, CodeRestartNoFailover, "PostgreSQL down since %s beyond primary_start_timeout %v but no replica is eligible: restarting in place",
			since.Format(time.RFC3339Nano), d.s.PrimaryStartTimeout)
		dec.Candidates = &res
		return dec
	}
	dec := d.start(startAs, target, CodeRestartPrimary, "PostgreSQL down since %s: restarting in place (failover after %s)",
		since.Format(time.RFC3339Nano), bound.Format(time.RFC3339Nano))
	if dec.WaitUntil.IsZero() || bound.Before(dec.WaitUntil) {
		dec.WaitUntil = bound
	}
	return dec
}

// start starts the server, unless a start failed less than loop_wait ago.
func (d *decider) start(as Role, target string, code Code, format string, args ...any) Decision {
	if d.l.State == PGStartFailed && !d.l.LastStartAttempt.IsZero() {
		if next := d.l.LastStartAttempt.Add(d.s.LoopWait); d.now.Before(next) {
			dec := decision(ActionWait, CodeStartBackoff, "last start failed at %s: retrying after loop_wait",
				d.l.LastStartAttempt.Format(time.RFC3339Nano))
			dec.WaitUntil = next
			return dec
		}
	}
	dec := decision(ActionStart, code, format, args...)
	dec.StartAs, dec.Target = as, target
	return dec
}
