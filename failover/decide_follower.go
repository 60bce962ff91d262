package failover

import (
	"github.com/pgha/pgha/dcs"
)

// divergence returns the last divergence result if it was made against
// leader.
func (d *decider) divergence(leader string) Divergence {
	if d.l.DivergenceLeader != leader {
		return DivergenceUnknown
	}
	return d.l.Divergence
}

// timelineDiffers reports whether the leader publishes a timeline other
// than the local one (both known).
func (d *decider) timelineDiffers(leader string) bool {
	lm := d.c.Member(leader)
	return lm != nil && lm.Timeline != nil && *lm.Timeline > 0 && d.l.Timeline > 0 && *lm.Timeline != d.l.Timeline
}

// upstream is the member to replicate from: the replicatefrom member when
// it runs, else the leader.
func (d *decider) upstream(leader string) string {
	if from := d.obs.Tags.String(dcs.TagReplicateFrom); from != "" && from != d.me {
		if m := d.c.Member(from); m != nil && m.State == dcs.StateRunning {
			return from
		}
	}
	return leader
}

// rejoin: a stopped node with a leader elsewhere. A former primary, or a
// node whose timeline differs from the leader's, is checked for divergence
// first, then rewound or re-cloned if it diverged, then started as a
// replica.
func (d *decider) rejoin(leader string) Decision {
	div := d.divergence(leader)
	if div == DivergenceDiverged {
		return d.diverged(leader)
	}
	if div == DivergenceUnknown && (d.l.WasPrimary || d.timelineDiffers(leader)) {
		dec := decision(ActionCheckDivergence, CodeCheckDivergence, "rejoining %s (former primary or other timeline): checking for divergence first", leader)
		dec.Target = leader
		return dec
	}
	up := d.upstream(leader)
	return d.start(RoleReplica, up, CodeStartReplica, "starting as a replica of %s (leader %s)", up, leader)
}

// follower: a running replica with a leader elsewhere.
func (d *decider) follower(leader string) Decision {
	div := d.divergence(leader)
	if div == DivergenceDiverged {
		if d.c.IsPaused() {
			return decision(ActionWait, CodePausedNoStart, "paused: diverged from %s, not rewinding while paused", leader)
		}
		return d.diverged(leader)
	}
	if div == DivergenceUnknown && d.timelineDiffers(leader) {
		dec := decision(ActionCheckDivergence, CodeCheckDivergence, "leader %s is on another timeline: checking for divergence", leader)
		dec.Target = leader
		return dec
	}
	up := d.upstream(leader)
	if d.l.Following != up {
		dec := decision(ActionFollow, CodeFollowLeader, "following %s (leader %s), was following %q", up, leader, d.l.Following)
		dec.Target = up
		return dec
	}
	return decision(ActionNoop, CodeFollowing, "replica following %s (leader %s)", up, leader)
}

// diverged: the local data has WAL the leader lacks. Rewind when allowed
// and the leader has checkpointed after its promotion; otherwise re-clone
// when allowed; otherwise wait for an operator.
func (d *decider) diverged(leader string) Decision {
	lm := d.c.Member(leader)
	if d.s.UsePgRewind && !d.l.RewindFailed {
		switch {
		case lm == nil || lm.State != dcs.StateRunning:
			return decision(ActionWait, CodeWaitLeaderCheckpoint, "diverged from %s: waiting for it to run before rewinding", leader)
		case lm.CheckpointAfter != nil && !*lm.CheckpointAfter:
			return decision(ActionWait, CodeWaitLeaderCheckpoint, "diverged from %s: waiting for its checkpoint after promotion before rewinding", leader)
		}
		dec := decision(ActionRewind, CodeRewind, "diverged from %s: rewinding with pg_rewind", leader)
		dec.Target = leader
		return dec
	}
	if d.s.RemoveDataOnRewindFailure || d.s.RemoveDataOnDivergedTimelines {
		src := d.cloneSource()
		if src == "" {
			return decision(ActionWait, CodeWaitCloneSource, "diverged from %s: waiting for a running source to re-clone from", leader)
		}
		why := "use_pg_rewind is off"
		if d.l.RewindFailed {
			why = "pg_rewind failed"
		}
		dec := decision(ActionClone, CodeReclone, "diverged from %s and %s: wiping the data directory and re-cloning from %s", leader, why, src)
		dec.Target, dec.WipeData = src, true
		return dec
	}
	why := "use_pg_rewind is off"
	if d.l.RewindFailed {
		why = "pg_rewind failed"
	}
	return decision(ActionWait, CodeDivergedStuck, "diverged from %s, %s, and re-cloning is not allowed (remove_data_directory_on_*): reinitialize this member", leader, why)
}
