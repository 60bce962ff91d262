package failover

import (
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
)

const sysID = "7000000000000000001"

// replicaObs: node b, a running replica following leader a in a healthy
// three-node cluster.
func replicaObs() Observation {
	c := withLeader(cluster(primary("a", 1000, 1), replica("b", 1000, 1, nil), replica("c", 900, 1, nil)), "a", 50)
	return Observation{
		Now: t0, Name: "b", Cluster: c, ClusterAt: t0, Settings: patroniTimings(),
		Local: LocalStatus{State: PGRunning, Role: RoleReplica, Timeline: 1, ReceiveLSN: 1000, ReplayLSN: 1000,
			ReplicationState: dcs.ReplicationStreaming, Following: "a", SystemID: sysID},
	}
}

// leaderObs: node a, the running primary holding the term.
func leaderObs() Observation {
	o := replicaObs()
	o.Name = "a"
	o.Local = LocalStatus{State: PGRunning, Role: RolePrimary, Timeline: 1, FlushLSN: 1000, SystemID: sysID, WasPrimary: true}
	o.Term = Term{Held: true, Revision: 50, Deadline: t0.Add(25 * time.Second)}
	return o
}

// raceObs: node b, a running replica; a's keys are gone, peers gathered.
func raceObs() Observation {
	o := replicaObs()
	o.Cluster = cluster(replica("b", 1000, 1, nil), replica("c", 900, 1, nil))
	o.LeaderVanishedAt = t0.Add(-5 * time.Second)
	o.Local.LastWALReceiptAt = t0.Add(-time.Minute) // the primary went silent
	o.PeersQueried = true
	o.Peers = []Position{{Name: "a", Unreachable: true, ObservedAt: t0, Source: SourcePeer}, peer("c", 900, 1, t0)}
	return o
}

// stoppedObs: node b, PostgreSQL stopped, leader a.
func stoppedObs() Observation {
	o := replicaObs()
	o.Local = LocalStatus{State: PGStopped, Timeline: 1, SystemID: sysID}
	return o
}

func crashedLeaderObs(since time.Duration) Observation {
	o := leaderObs()
	o.Local = LocalStatus{State: PGCrashed, WasPrimary: true, Timeline: 1, SystemID: sysID, CrashedAt: t0.Add(-since)}
	return o
}

func failoverKey(leader, member string, at *time.Time) *dcs.Failover {
	return &dcs.Failover{Leader: leader, Member: member, ScheduledAt: at}
}

func TestDecide(t *testing.T) {
	at := func(d time.Duration) *time.Time { v := t0.Add(d); return &v }
	const mib = 1 << 20
	tests := []struct {
		name   string
		obs    func() Observation
		action Action
		code   Code
		reason string // substring of Reason
		check  func(t *testing.T, d Decision)
	}{
		// Safety: a primary never acts without a valid term.
		{"deadline passed", func() Observation { o := leaderObs(); o.Term.Deadline = t0.Add(-time.Second); return o },
			ActionDemote, CodeDeadlinePassed, "past my term deadline", demoteCheck(DemoteImmediate, false)},
		{"deadline near", func() Observation { o := leaderObs(); o.Term.Deadline = t0.Add(3 * time.Second); return o },
			ActionDemote, CodeDeadlineNear, "within 5s", demoteCheck(DemoteOffline, false)},
		{"deadline near while paused and DCS down", func() Observation {
			o := leaderObs()
			o.Cluster = nil
			o.Term.Deadline = t0.Add(time.Second)
			return o
		}, ActionDemote, CodeDeadlineNear, "stopping writes", nil},
		{"term lost to another", func() Observation {
			o := leaderObs()
			o.Cluster.Leader = &dcs.Leader{Name: "c", Revision: 60}
			return o
		},
			ActionDemote, CodeTermLost, "held by c", demoteCheck(DemoteImmediate, false)},
		{"leader key deleted", func() Observation { o := leaderObs(); o.Cluster.Leader = nil; return o },
			ActionDemote, CodeTermLost, "gone", nil},
		{"leader key expired during failsafe: not lost", func() Observation {
			o := leaderObs()
			o.Cluster.Leader = nil
			o.Term.Failsafe = true
			return o
		}, ActionNoop, CodeLeaderHealthy, "", nil},
		{"leader key re-created", func() Observation { o := leaderObs(); o.Cluster.Leader.Revision = 70; return o },
			ActionDemote, CodeTermLost, "re-created", nil},
		{"snapshot older than term", func() Observation { o := leaderObs(); o.Cluster.Revision = 40; o.Cluster.Leader = nil; return o },
			ActionWait, CodeSnapshotBehindTerm, "predates my term", nil},
		{"primary without term, DCS unreachable", func() Observation { o := leaderObs(); o.Term = Term{}; o.Cluster = nil; return o },
			ActionDemote, CodeNoTermNoDCS, "DCS is unreachable", demoteCheck(DemoteOffline, false)},
		{"primary without term, key names me", func() Observation { o := leaderObs(); o.Term = Term{}; return o },
			ActionAcquire, CodeReclaimTerm, "reclaiming", nil},
		{"primary without term, other leader", func() Observation { o := leaderObs(); o.Term = Term{}; o.Cluster.Leader.Name = "c"; return o },
			ActionDemote, CodeOtherLeader, "c holds the leader key", func(t *testing.T, d Decision) {
				demoteCheck(DemoteImmediate, false)(t, d)
				if d.Target != "c" {
					t.Errorf("target %q", d.Target)
				}
			}},
		{"primary without term, paused, other leader", func() Observation {
			o := leaderObs()
			o.Term = Term{}
			o.Cluster.Leader.Name = "c"
			o.Cluster.Config = &dcs.ClusterConfig{Pause: bptr(true)}
			return o
		}, ActionDemote, CodeOtherLeader, "c holds", nil},
		{"primary without term, no key", func() Observation { o := leaderObs(); o.Term = Term{}; o.Cluster.Leader = nil; return o },
			ActionDemote, CodePrimaryWithoutTerm, "nobody holds", demoteCheck(DemoteImmediate, false)},
		{"paused primary without key acquires", func() Observation {
			o := leaderObs()
			o.Term = Term{}
			o.Cluster.Leader = nil
			o.Cluster.Config = &dcs.ClusterConfig{Pause: bptr(true)}
			return o
		}, ActionAcquire, CodePausedPrimaryAcquire, "taking the key", nil},
		{"paused primary behind cluster timeline", func() Observation {
			o := leaderObs()
			o.Term = Term{}
			o.Cluster.Leader = nil
			o.Cluster.Config = &dcs.ClusterConfig{Pause: bptr(true)}
			o.Cluster.History = dcs.History{{Timeline: 1, LSN: 10}}
			return o
		}, ActionDemote, CodePrimaryWithoutTerm, "behind the cluster timeline", nil},
		{"bootstrap owner takes the key", func() Observation {
			o := leaderObs()
			o.Term = Term{}
			o.Cluster.Leader = nil
			o.Cluster.Initialize = sptr("")
			o.BootstrapOwner = true
			return o
		}, ActionAcquire, CodeFinishBootstrap, "bootstrapped", nil},

		// Settings and DCS.
		{"invalid settings", func() Observation { o := replicaObs(); o.Settings.TTL = 0; return o },
			ActionWait, CodeInvalidSettings, "ttl", nil},
		{"leader keeps the term while the DCS is unreachable", func() Observation { o := leaderObs(); o.Cluster = nil; return o },
			ActionNoop, CodeDCSUnreachable, "keeping the term", func(t *testing.T, d Decision) {
				if want := t0.Add(20 * time.Second); !d.WaitUntil.Equal(want) {
					t.Errorf("WaitUntil %v, want %v", d.WaitUntil, want)
				}
			}},
		{"replica with the DCS unreachable", func() Observation { o := replicaObs(); o.Cluster = nil; return o },
			ActionWait, CodeDCSUnreachable, "no action", nil},

		// Bootstrap and data directory.
		{"bootstrap race", func() Observation {
			o := replicaObs()
			o.Cluster = cluster()
			o.Cluster.Initialize = nil
			o.Local = LocalStatus{DataEmpty: true, State: PGStopped}
			o.CanBootstrap = true
			return o
		}, ActionBootstrap, CodeBootstrapRace, "racing to initialize", nil},
		{"no bootstrap configuration", func() Observation {
			o := replicaObs()
			o.Cluster.Initialize = nil
			o.Local = LocalStatus{DataEmpty: true, State: PGStopped}
			return o
		}, ActionWait, CodeWaitBootstrap, "no bootstrap configuration", nil},
		{"nofailover does not bootstrap", func() Observation {
			o := replicaObs()
			o.Cluster.Initialize = nil
			o.Local = LocalStatus{DataEmpty: true, State: PGStopped}
			o.CanBootstrap = true
			o.Tags = dcs.Tags{"nofailover": true}
			return o
		}, ActionWait, CodeWaitBootstrap, "nofailover", nil},
		{"bootstrap in progress elsewhere", func() Observation {
			o := replicaObs()
			o.Cluster.Initialize = sptr("")
			o.Local = LocalStatus{DataEmpty: true, State: PGStopped}
			return o
		}, ActionWait, CodeWaitBootstrap, "in progress elsewhere", nil},
		{"clone from the leader", func() Observation {
			o := replicaObs()
			o.Local = LocalStatus{DataEmpty: true, State: PGStopped}
			return o
		}, ActionClone, CodeClone, "cloning from a", targetCheck("a")},
		{"clone from a clonefrom member", func() Observation {
			o := replicaObs()
			o.Cluster.Member("c").Tags = dcs.Tags{"clonefrom": true}
			o.Local = LocalStatus{DataEmpty: true, State: PGStopped}
			return o
		}, ActionClone, CodeClone, "cloning from c", targetCheck("c")},
		{"nothing to clone from", func() Observation {
			o := raceObs()
			o.Local = LocalStatus{DataEmpty: true, State: PGStopped}
			return o
		}, ActionWait, CodeWaitCloneSource, "no running leader", nil},
		{"leader with an empty data directory", func() Observation {
			o := leaderObs()
			o.Local = LocalStatus{DataEmpty: true, State: PGStopped}
			return o
		}, ActionRelease, CodeEmptyDataRelease, "empty data directory", nil},
		{"paused with an empty data directory", func() Observation {
			o := replicaObs()
			o.Cluster.Config = &dcs.ClusterConfig{Pause: bptr(true)}
			o.Local = LocalStatus{DataEmpty: true, State: PGStopped}
			return o
		}, ActionWait, CodePausedNoClone, "paused", nil},
		{"bootstrap owner publishes initialize", func() Observation {
			o := leaderObs()
			o.Cluster.Initialize = sptr("")
			o.BootstrapOwner = true
			return o
		}, ActionSetInitialize, CodeFinishBootstrap, "publishing system identifier " + sysID, nil},
		{"leader publishes a missing initialize key", func() Observation { o := leaderObs(); o.Cluster.Initialize = nil; return o },
			ActionSetInitialize, CodeSetInitialize, "publishing my system identifier", nil},
		{"replica without initialize key", func() Observation { o := replicaObs(); o.Cluster.Initialize = nil; return o },
			ActionWait, CodeNoInitializeReplica, "start the primary's agent first", nil},
		{"system identifier mismatch", func() Observation { o := replicaObs(); o.Local.SystemID = "42"; return o },
			ActionWait, CodeSystemIDMismatch, "another cluster", nil},

		// A crashed primary: restart in place up to primary_start_timeout.
		{"crashed primary restarts in place", func() Observation { return crashedLeaderObs(10 * time.Second) },
			ActionStart, CodeRestartPrimary, "restarting in place", func(t *testing.T, d Decision) {
				if d.StartAs != RolePrimary || !d.WaitUntil.Equal(t0.Add(290*time.Second)) {
					t.Errorf("StartAs %q WaitUntil %v", d.StartAs, d.WaitUntil)
				}
			}},
		{"crashed primary beyond primary_start_timeout releases", func() Observation { return crashedLeaderObs(301 * time.Second) },
			ActionRelease, CodeCrashRelease, "b can take over", nil},
		{"primary_start_timeout 0 releases at once", func() Observation {
			o := crashedLeaderObs(0)
			o.Settings.PrimaryStartTimeout = 0
			return o
		}, ActionRelease, CodeCrashRelease, "primary_start_timeout 0s reached", nil},
		// Issue 13: a fenced primary (stopped, not crashed) whose last start
		// attempt belongs to an outage minutes ago restarts in place; the
		// old attempt must not count as the start of this outage.
		{"fenced primary is not released for an old outage", func() Observation {
			o := crashedLeaderObs(0)
			o.Local.State, o.Local.CrashedAt = PGStopped, time.Time{}
			o.Local.LastStartAttempt = t0.Add(-400 * time.Second)
			o.Local.DownSince = t0.Add(-2 * time.Second)
			return o
		}, ActionStart, CodeRestartPrimary, "down since " + t0.Add(-2*time.Second).Format(time.RFC3339Nano), nil},
		{"primary down beyond primary_start_timeout in this outage releases", func() Observation {
			o := crashedLeaderObs(0)
			o.Local.State, o.Local.CrashedAt = PGStopped, time.Time{}
			o.Local.DownSince = t0.Add(-301 * time.Second)
			return o
		}, ActionRelease, CodeCrashRelease, "b can take over", nil},
		{"fenced during a DCS outage, key reclaimed: the timeout counts from the reclaim", func() Observation {
			o := crashedLeaderObs(0)
			o.Local.State, o.Local.CrashedAt = PGStopped, time.Time{}
			o.Local.DownSince = t0.Add(-301 * time.Second)
			o.Term.Acquired = t0.Add(-time.Second)
			return o
		}, ActionStart, CodeRestartPrimary, "down since " + t0.Add(-time.Second).Format(time.RFC3339Nano), func(t *testing.T, d Decision) {
			if d.StartAs != RolePrimary {
				t.Errorf("StartAs %q", d.StartAs)
			}
		}},
		{"crashed primary with no eligible replica restarts anyway", func() Observation {
			o := crashedLeaderObs(400 * time.Second)
			o.Cluster.Member("b").Tags = dcs.Tags{"nofailover": true}
			o.Cluster.Member("c").State = dcs.StateStopped
			return o
		}, ActionStart, CodeRestartNoFailover, "no replica is eligible", nil},
		{"failed start backs off", func() Observation {
			o := crashedLeaderObs(20 * time.Second)
			o.Local.State = PGStartFailed
			o.Local.LastStartAttempt = t0.Add(-3 * time.Second)
			return o
		}, ActionWait, CodeStartBackoff, "retrying after loop_wait", func(t *testing.T, d Decision) {
			if !d.WaitUntil.Equal(t0.Add(7 * time.Second)) {
				t.Errorf("WaitUntil %v", d.WaitUntil)
			}
		}},
		{"leader start beyond primary_start_timeout", func() Observation {
			o := crashedLeaderObs(400 * time.Second)
			o.Local.State = PGStarting
			return o
		}, ActionDemote, CodeStartTimeout, "beyond primary_start_timeout", demoteCheck(DemoteImmediate, true)},
		{"leader starting", func() Observation {
			o := crashedLeaderObs(30 * time.Second)
			o.Local.State = PGStarting
			return o
		}, ActionWait, CodeStarting, "starting", nil},
		{"paused leader with PostgreSQL down releases", func() Observation {
			o := crashedLeaderObs(time.Second)
			o.Cluster.Config = &dcs.ClusterConfig{Pause: bptr(true)}
			return o
		}, ActionRelease, CodePausedRelease, "no automatic start", nil},

		// Stopped non-leaders and rejoin.
		{"stopped replica starts following the leader", stoppedObs,
			ActionStart, CodeStartReplica, "replica of a", targetCheck("a")},
		{"former primary checks divergence first", func() Observation { o := stoppedObs(); o.Local.WasPrimary = true; return o },
			ActionCheckDivergence, CodeCheckDivergence, "former primary", targetCheck("a")},
		{"former primary already checked joins", func() Observation {
			o := stoppedObs()
			o.Local.WasPrimary, o.Local.Divergence, o.Local.DivergenceLeader = true, DivergenceNone, "a"
			return o
		}, ActionStart, CodeStartReplica, "replica of a", nil},
		{"diverged former primary rewinds", func() Observation {
			o := stoppedObs()
			o.Settings.UsePgRewind = true
			o.Local.WasPrimary, o.Local.Divergence, o.Local.DivergenceLeader = true, DivergenceDiverged, "a"
			return o
		}, ActionRewind, CodeRewind, "pg_rewind", targetCheck("a")},
		{"rewind waits for the leader's checkpoint", func() Observation {
			o := stoppedObs()
			o.Settings.UsePgRewind = true
			o.Cluster.Member("a").CheckpointAfter = bptr(false)
			o.Local.Divergence, o.Local.DivergenceLeader = DivergenceDiverged, "a"
			return o
		}, ActionWait, CodeWaitLeaderCheckpoint, "checkpoint after promotion", nil},
		{"diverged without rewind re-clones when allowed", func() Observation {
			o := stoppedObs()
			o.Settings.RemoveDataOnDivergedTimelines = true
			o.Local.Divergence, o.Local.DivergenceLeader = DivergenceDiverged, "a"
			return o
		}, ActionClone, CodeReclone, "use_pg_rewind is off", func(t *testing.T, d Decision) {
			if !d.WipeData || d.Target != "a" {
				t.Errorf("WipeData %v target %q", d.WipeData, d.Target)
			}
		}},
		{"rewind failed and no re-clone allowed", func() Observation {
			o := stoppedObs()
			o.Settings.UsePgRewind = true
			o.Local.RewindFailed = true
			o.Local.Divergence, o.Local.DivergenceLeader = DivergenceDiverged, "a"
			return o
		}, ActionWait, CodeDivergedStuck, "pg_rewind failed", nil},
		{"stale divergence result is re-checked", func() Observation {
			o := stoppedObs()
			o.Local.WasPrimary, o.Local.Divergence, o.Local.DivergenceLeader = true, DivergenceDiverged, "c"
			return o
		}, ActionCheckDivergence, CodeCheckDivergence, "checking", nil},
		{"stopped with no leader starts as replica", func() Observation {
			o := raceObs()
			o.Local = LocalStatus{State: PGStopped, Timeline: 1, SystemID: sysID}
			return o
		}, ActionStart, CodeStartReplica, "no leader", targetCheck("")},
		{"paused: stopped stays stopped", func() Observation {
			o := stoppedObs()
			o.Cluster.Config = &dcs.ClusterConfig{Pause: bptr(true)}
			return o
		}, ActionNoop, CodePausedNoStart, "paused", nil},
		{"stopped former primary, key names me", func() Observation {
			o := stoppedObs()
			o.Cluster.Leader.Name = "b"
			o.Local.WasPrimary = true
			return o
		}, ActionAcquire, CodeReclaimTerm, "reclaiming", nil},
		{"stopped replica, key names me: no acquire without a race", func() Observation { o := stoppedObs(); o.Cluster.Leader.Name = "b"; return o },
			ActionStart, CodeStartReplica, "to race for it", targetCheck("")},
		{"running replica, key names me: peers first", func() Observation {
			o := raceObs()
			o.Cluster.Leader = &dcs.Leader{Name: "b", Revision: 60}
			o.Peers, o.PeersQueried = nil, false
			return o
		}, ActionQueryPeers, CodeNeedPeers, "the leader key names me", nil},
		{"running replica, key names me: acquires only as the best candidate", func() Observation {
			o := raceObs()
			o.Cluster.Leader = &dcs.Leader{Name: "b", Revision: 60}
			return o
		}, ActionAcquire, CodeRaceAcquire, "best candidate", nil},
		{"running replica, key names me, a better candidate exists", func() Observation {
			o := raceObs()
			o.Cluster.Leader = &dcs.Leader{Name: "b", Revision: 60}
			o.Peers = []Position{peer("c", 5000, 1, t0)}
			return o
		}, ActionWait, CodeNotBest, "c is a better candidate", nil},
		{"switched away from me, another member eligible: I stay out", func() Observation {
			o := raceObs()
			o.Cluster.Failover = failoverKey("b", "", nil)
			o.Peers = []Position{peer("c", 1000, 1, t0)}
			return o
		}, ActionWait, CodeIneligible, "excluded by the caller", nil},
		{"switched away from me, nobody else eligible yet: I stay out for a ttl", func() Observation {
			o := raceObs()
			o.Cluster.Failover = failoverKey("b", "", nil)
			o.Cluster.Members[1].Tags = dcs.Tags{dcs.TagNoFailover: true}
			return o
		}, ActionWait, CodeNoCandidate, "excluded by the caller", nil},
		{"switched away from me, nobody else eligible for a ttl: I race again", func() Observation {
			o := raceObs()
			o.Cluster.Failover = failoverKey("b", "", nil)
			o.Cluster.Members[1].Tags = dcs.Tags{dcs.TagNoFailover: true}
			o.LeaderVanishedAt = t0.Add(-o.Settings.TTL)
			return o
		}, ActionAcquire, CodeRaceAcquire, "may race again", nil},
		{"stopping", func() Observation { o := stoppedObs(); o.Local.State = PGStopping; return o },
			ActionWait, CodeStarting, "stopping", nil},

		// Leader with a running server.
		{"healthy leader", leaderObs, ActionNoop, CodeLeaderHealthy, "leader with the term", nil},
		{"paused leader", func() Observation {
			o := leaderObs()
			o.Cluster.Config = &dcs.ClusterConfig{Pause: bptr(true)}
			return o
		},
			ActionNoop, CodePausedLeader, "keeping the term", nil},
		{"term holder promotes", func() Observation { o := leaderObs(); o.Local.Role = RoleReplica; return o },
			ActionPromote, CodePromote, "promoting", nil},
		{"term holder near its deadline does not promote", func() Observation {
			o := leaderObs()
			o.Local.Role = RoleReplica
			o.Term.Deadline = t0.Add(o.Settings.DemoteLead / 2)
			return o
		}, ActionWait, CodeDeadlineNear, "not promoting", nil},
		{"paused term holder as replica releases", func() Observation {
			o := leaderObs()
			o.Local.Role = RoleReplica
			o.Cluster.Config = &dcs.ClusterConfig{Pause: bptr(true)}
			return o
		}, ActionRelease, CodePausedRelease, "without running a primary", nil},
		{"paused named candidate promotes", func() Observation {
			o := leaderObs()
			o.Local.Role = RoleReplica
			o.Cluster.Config = &dcs.ClusterConfig{Pause: bptr(true)}
			o.Cluster.Failover = failoverKey("", "a", nil)
			return o
		}, ActionPromote, CodePromote, "promoting", nil},

		// Switchover.
		{"failover key for another leader", func() Observation { o := leaderObs(); o.Cluster.Failover = failoverKey("c", "b", nil); return o },
			ActionClearFailover, CodeFailoverNotForMe, "asks c to hand over", nil},
		{"failover key names the leader", func() Observation { o := leaderObs(); o.Cluster.Failover = failoverKey("", "a", nil); return o },
			ActionClearFailover, CodeFailoverFulfilled, "fulfilled", nil},
		{"scheduled switchover waits", func() Observation {
			o := leaderObs()
			o.Cluster.Failover = failoverKey("a", "b", at(time.Hour))
			return o
		}, ActionWait, CodeSwitchoverScheduled, "scheduled at", func(t *testing.T, d Decision) {
			if !d.WaitUntil.Equal(t0.Add(time.Hour)) {
				t.Errorf("WaitUntil %v", d.WaitUntil)
			}
		}},
		{"stale scheduled switchover", func() Observation {
			o := leaderObs()
			o.Cluster.Failover = failoverKey("a", "b", at(-time.Minute))
			return o
		}, ActionClearFailover, CodeSwitchoverStale, "stale", nil},
		{"paused refuses scheduled switchover", func() Observation {
			o := leaderObs()
			o.Cluster.Config = &dcs.ClusterConfig{Pause: bptr(true)}
			o.Cluster.Failover = failoverKey("a", "b", at(time.Minute))
			return o
		}, ActionClearFailover, CodePausedNeedsNamed, "scheduled", nil},
		{"paused refuses switchover to any", func() Observation {
			o := leaderObs()
			o.Cluster.Config = &dcs.ClusterConfig{Pause: bptr(true)}
			o.Cluster.Failover = failoverKey("a", "", nil)
			return o
		}, ActionClearFailover, CodePausedNeedsNamed, "named member", nil},
		{"switchover needs peer positions", func() Observation { o := leaderObs(); o.Cluster.Failover = failoverKey("a", "b", nil); return o },
			ActionQueryPeers, CodeNeedPeers, "switchover", nil},
		{"switchover to a named member", func() Observation {
			o := leaderObs()
			o.Cluster.Failover = failoverKey("a", "c", at(-time.Second))
			o.PeersQueried = true
			o.Peers = []Position{peer("c", 990, 1, t0)}
			return o
		}, ActionDemote, CodeSwitchover, "switchover to c", func(t *testing.T, d Decision) {
			demoteCheck(DemoteGraceful, true)(t, d)
			if d.Target != "c" {
				t.Errorf("target %q", d.Target)
			}
		}},
		{"switchover to the best member", func() Observation {
			o := leaderObs()
			o.Cluster.Failover = failoverKey("a", "", nil)
			o.PeersQueried = true
			return o
		}, ActionDemote, CodeSwitchover, "switchover to b", targetCheck("b")},
		{"switchover to a nofailover member refused", func() Observation {
			o := leaderObs()
			o.Cluster.Member("b").Tags = dcs.Tags{"nofailover": true}
			o.Cluster.Failover = failoverKey("a", "b", nil)
			o.PeersQueried = true
			return o
		}, ActionClearFailover, CodeSwitchoverNoCandidate, "tagged nofailover", nil},
		{"switchover to a lagging member refused (no override)", func() Observation {
			o := leaderObs()
			o.Local.FlushLSN = 10 * mib
			o.Cluster.Failover = failoverKey("a", "c", nil)
			o.PeersQueried = true
			return o
		}, ActionClearFailover, CodeSwitchoverNoCandidate, "exceeds maximum_lag_on_failover", nil},

		// Following the leader.
		{"replica following the leader", replicaObs, ActionNoop, CodeFollowing, "following a", nil},
		{"noloadbalance changes nothing", func() Observation { o := replicaObs(); o.Tags = dcs.Tags{"noloadbalance": true}; return o },
			ActionNoop, CodeFollowing, "following a", nil},
		{"replica re-pointed at the leader", func() Observation { o := replicaObs(); o.Local.Following = "c"; return o },
			ActionFollow, CodeFollowLeader, "following a", targetCheck("a")},
		{"replicatefrom member", func() Observation { o := replicaObs(); o.Tags = dcs.Tags{"replicatefrom": "c"}; return o },
			ActionFollow, CodeFollowLeader, "following c (leader a)", targetCheck("c")},
		{"leader on another timeline", func() Observation { o := replicaObs(); o.Cluster.Member("a").Timeline = i64(2); return o },
			ActionCheckDivergence, CodeCheckDivergence, "another timeline", targetCheck("a")},
		{"checked, not diverged", func() Observation {
			o := replicaObs()
			o.Cluster.Member("a").Timeline = i64(2)
			o.Local.Divergence, o.Local.DivergenceLeader = DivergenceNone, "a"
			return o
		}, ActionNoop, CodeFollowing, "following a", nil},
		{"running replica diverged rewinds", func() Observation {
			o := replicaObs()
			o.Settings.UsePgRewind = true
			o.Local.Divergence, o.Local.DivergenceLeader = DivergenceDiverged, "a"
			return o
		}, ActionRewind, CodeRewind, "pg_rewind", nil},

		// The leader race.
		{"failsafe: a confirmed primary holds the race off", func() Observation {
			o := raceObs()
			o.FailsafeLeader, o.FailsafeUntil = "a", t0.Add(time.Second)
			return o
		}, ActionWait, CodeFailsafeLeader, "a, cut off from the DCS, confirmed itself", nil},
		{"failsafe: a confirmed manual failover waits too", func() Observation {
			o := raceObs()
			o.Cluster.Failover = failoverKey("", "b", nil)
			o.FailsafeLeader, o.FailsafeUntil = "a", t0.Add(time.Second)
			return o
		}, ActionWait, CodeFailsafeLeader, "not racing", nil},
		{"failsafe: an expired confirmation does not", func() Observation {
			o := raceObs()
			o.FailsafeLeader, o.FailsafeUntil = "a", t0
			return o
		}, ActionAcquire, CodeRaceAcquire, "best candidate", nil},
		{"failsafe: not in the failsafe key", func() Observation {
			o := raceObs()
			o.Settings.FailsafeMode = true
			o.Cluster.Failsafe = dcs.Failsafe{"a": "http://a/patroni", "c": "http://c/patroni"}
			return o
		}, ActionWait, CodeNotInFailsafe, "does not list me", nil},
		{"failsafe: listed, races", func() Observation {
			o := raceObs()
			o.Settings.FailsafeMode = true
			o.Cluster.Failsafe = dcs.Failsafe{"a": "http://a/patroni", "b": "http://b/patroni", "c": "http://c/patroni"}
			return o
		}, ActionAcquire, CodeRaceAcquire, "best candidate", nil},
		{"failsafe mode off: the key does not matter", func() Observation {
			o := raceObs()
			o.Cluster.Failsafe = dcs.Failsafe{"a": "http://a/patroni"}
			return o
		}, ActionAcquire, CodeRaceAcquire, "best candidate", nil},
		{"paused: no race", func() Observation { o := raceObs(); o.Cluster.Config = &dcs.ClusterConfig{Pause: bptr(true)}; return o },
			ActionNoop, CodePausedNoRace, "paused", nil},
		{"paused: manual failover to me", func() Observation {
			o := raceObs()
			o.Cluster.Config = &dcs.ClusterConfig{Pause: bptr(true)}
			o.Cluster.Failover = failoverKey("", "b", nil)
			return o
		}, ActionAcquire, CodeManualFailover, "paused: manual failover to me", nil},
		{"nofailover does not race", func() Observation { o := raceObs(); o.Tags = dcs.Tags{"failover_priority": 0}; return o },
			ActionWait, CodeNoFailover, "nofailover", nil},
		{"streaming guard postpones the race", func() Observation {
			o := raceObs()
			o.Local.LastWALReceiptAt = t0.Add(-2 * time.Second)
			return o
		}, ActionWait, CodeRaceGuard, "postponing the race", func(t *testing.T, d Decision) {
			if !d.WaitUntil.Equal(t0.Add(8 * time.Second)) { // receipt + freshness, before the bound
				t.Errorf("WaitUntil %v", d.WaitUntil)
			}
		}},
		{"streaming guard: the former leader of a switchover streams as a replica", func() Observation {
			o := raceObs()
			o.Local.LastWALReceiptAt = t0.Add(-2 * time.Second)
			o.Cluster.Failover = failoverKey("a", "", nil)
			o.Cluster.Members = append(o.Cluster.Members, replica("a", 1000, 1, nil))
			o.Peers = []Position{peer("a", 1000, 1, t0), peer("c", 900, 1, t0)}
			return o
		}, ActionAcquire, CodeRaceAcquire, "best candidate", nil},
		{"streaming guard: the former leader of a switchover still publishes primary", func() Observation {
			o := raceObs()
			o.Local.LastWALReceiptAt = t0.Add(-2 * time.Second)
			o.Cluster.Failover = failoverKey("a", "", nil)
			o.Cluster.Members = append(o.Cluster.Members, primary("a", 1000, 1))
			return o
		}, ActionWait, CodeRaceGuard, "postponing the race", nil},
		{"streaming guard never beyond its bound", func() Observation {
			o := raceObs()
			o.Local.LastWALReceiptAt = t0
			o.LeaderVanishedAt = t0.Add(-25 * time.Second)
			return o
		}, ActionWait, CodeRaceGuard, "postponing", func(t *testing.T, d Decision) {
			if !d.WaitUntil.Equal(t0.Add(5 * time.Second)) { // vanished + 30 s
				t.Errorf("WaitUntil %v", d.WaitUntil)
			}
		}},
		{"streaming guard expired: race proceeds", func() Observation {
			o := raceObs()
			o.Local.LastWALReceiptAt = t0
			o.LeaderVanishedAt = t0.Add(-30 * time.Second)
			return o
		}, ActionAcquire, CodeRaceAcquire, "best candidate", nil},
		{"streaming guard needs a start time", func() Observation {
			o := raceObs()
			o.Local.LastWALReceiptAt = t0
			o.LeaderVanishedAt = time.Time{}
			return o
		}, ActionAcquire, CodeRaceAcquire, "best candidate", nil},
		{"streaming guard off", func() Observation {
			o := raceObs()
			o.Local.LastWALReceiptAt = t0
			o.Settings.RacePostponeMax = 0
			return o
		}, ActionAcquire, CodeRaceAcquire, "best candidate", nil},
		{"race needs peer positions", func() Observation { o := raceObs(); o.PeersQueried = false; return o },
			ActionQueryPeers, CodeNeedPeers, "gathering peer positions", nil},
		{"a peer still runs as primary", func() Observation {
			o := raceObs()
			o.Peers[0] = Position{Name: "a", State: dcs.StateRunning, Role: dcs.RolePrimary, ReceiveLSN: 1000, ReplayLSN: 1000, ObservedAt: t0, Source: SourcePeer}
			return o
		}, ActionWait, CodePrimaryAlive, "a still runs as primary", func(t *testing.T, d Decision) {
			if !d.WaitUntil.Equal(t0.Add(25 * time.Second)) {
				t.Errorf("WaitUntil %v", d.WaitUntil)
			}
		}},
		{"best candidate acquires", raceObs, ActionAcquire, CodeRaceAcquire, "best candidate", func(t *testing.T, d Decision) {
			if d.ClearFailover || d.Candidates == nil || d.Candidates.Chosen != "b" {
				t.Errorf("ClearFailover %v candidates %+v", d.ClearFailover, d.Candidates)
			}
		}},
		{"tied best races too", func() Observation {
			o := raceObs()
			o.Name = "c"
			o.Cluster.Member("c").ReceiveLSN, o.Cluster.Member("c").ReplayLSN = i64(1000), i64(1000)
			o.Peers = append(o.Peers[:1], peer("b", 1000, 1, t0))
			return o
		}, ActionAcquire, CodeRaceAcquire, "best candidate", nil},
		{"not the best", func() Observation {
			o := raceObs()
			o.Name = "c"
			o.Local.ReceiveLSN, o.Local.ReplayLSN = 900, 900
			o.Peers = append(o.Peers[:1], peer("b", 1000, 1, t0))
			return o
		}, ActionWait, CodeNotBest, "b is a better candidate", nil},
		{"higher priority wins at lower LSN", func() Observation {
			o := raceObs()
			o.Name = "c"
			o.Local.ReceiveLSN, o.Local.ReplayLSN = 900, 900
			o.Cluster.Member("c").Tags = dcs.Tags{"failover_priority": 2}
			o.Peers = append(o.Peers[:1], peer("b", 1000, 1, t0))
			return o
		}, ActionAcquire, CodeRaceAcquire, "priority 2", nil},
		{"lagging behind the best survivor", func() Observation {
			o := raceObs()
			o.Peers[1] = peer("c", 5*mib, 1, t0)
			return o
		}, ActionWait, CodeIneligible, "exceeds maximum_lag_on_failover", nil},
		{"timeline behind the cluster", func() Observation {
			o := raceObs()
			o.Cluster.History = dcs.History{{Timeline: 1, LSN: 500}}
			o.Peers[1] = peer("c", 900, 2, t0)
			return o
		}, ActionWait, CodeIneligible, "timeline 1 is behind", nil},
		{"sync mode: not in the sync key", func() Observation {
			o := raceObs()
			o.Settings.SynchronousMode = SyncOn
			o.Cluster.Sync = &dcs.SyncState{Leader: "a", SyncStandby: []string{"c"}}
			return o
		}, ActionWait, CodeIneligible, "not listed in the sync key", nil},
		{"no eligible member", func() Observation {
			o := raceObs()
			o.Settings.SynchronousMode = SyncOn
			o.Cluster.Sync = &dcs.SyncState{Leader: "a"}
			return o
		}, ActionWait, CodeNoCandidate, "no member is eligible", nil},
		{"frozen status optime does not keep the cluster leaderless", func() Observation {
			o := raceObs()
			o.Cluster.Status = &dcs.Status{Optime: 50 * mib}
			return o
		}, ActionAcquire, CodeRaceAcquire, "best candidate", func(t *testing.T, d Decision) {
			if d.Candidates.Unrecoverable != 50*mib-1000 {
				t.Errorf("unrecoverable %d", d.Candidates.Unrecoverable)
			}
		}},
		{"manual failover to me overrides lag", func() Observation {
			o := raceObs()
			o.Peers[1] = peer("c", 5*mib, 1, t0)
			o.Cluster.Failover = failoverKey("", "b", nil)
			return o
		}, ActionAcquire, CodeManualFailover, "overridden by manual failover", func(t *testing.T, d Decision) {
			if !d.Overridden || !d.ClearFailover {
				t.Errorf("Overridden %v ClearFailover %v", d.Overridden, d.ClearFailover)
			}
		}},
		{"manual failover to me never overrides nofailover", func() Observation {
			o := raceObs()
			o.Cluster.Member("b").Tags = dcs.Tags{"nofailover": true}
			o.Cluster.Failover = failoverKey("", "b", nil)
			return o
		}, ActionWait, CodeNoFailover, "manual failover to me is not possible", nil},
		{"manual failover to another: wait for it", func() Observation {
			o := raceObs()
			o.Cluster.Failover = failoverKey("", "c", nil)
			return o
		}, ActionWait, CodeWaitManualCandidate, "waiting for it", nil},
		{"manual failover to another needs peers", func() Observation {
			o := raceObs()
			o.PeersQueried = false
			o.Cluster.Failover = failoverKey("", "c", nil)
			return o
		}, ActionQueryPeers, CodeNeedPeers, "manual failover to c", nil},
		{"manual failover to a dead member falls back to the race", func() Observation {
			o := raceObs()
			o.Peers[1] = Position{Name: "c", Unreachable: true, ObservedAt: t0, Source: SourcePeer}
			o.Cluster.Failover = failoverKey("", "c", nil)
			return o
		}, ActionAcquire, CodeRaceAcquire, "candidate c is not eligible", func(t *testing.T, d Decision) {
			if !d.ClearFailover {
				t.Error("winner must clear the failover key")
			}
		}},
		{"former leader of a switchover does not race", func() Observation {
			o := raceObs()
			o.Cluster.Failover = failoverKey("b", "", nil)
			return o
		}, ActionWait, CodeIneligible, "excluded by the caller", nil},
		{"noloadbalance still races", func() Observation { o := raceObs(); o.Tags = dcs.Tags{"noloadbalance": true}; return o },
			ActionAcquire, CodeRaceAcquire, "best candidate", nil},
		{"no member key for me", func() Observation {
			o := raceObs()
			o.Cluster.Members = o.Cluster.Members[1:]
			return o
		}, ActionWait, CodeIneligible, "has no member key", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.obs())
			if d.Action != tt.action || d.Code != tt.code {
				t.Fatalf("got %v, want action %v code %s", d, tt.action, tt.code)
			}
			if !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("reason %q lacks %q", d.Reason, tt.reason)
			}
			if tt.check != nil {
				tt.check(t, d)
			}
		})
	}
}

func demoteCheck(mode DemoteMode, release bool) func(*testing.T, Decision) {
	return func(t *testing.T, d Decision) {
		t.Helper()
		if d.DemoteMode != mode || d.ReleaseTerm != release {
			t.Errorf("demote mode %q release %v, want %q %v", d.DemoteMode, d.ReleaseTerm, mode, release)
		}
	}
}

func targetCheck(target string) func(*testing.T, Decision) {
	return func(t *testing.T, d Decision) {
		t.Helper()
		if d.Target != target {
			t.Errorf("target %q, want %q", d.Target, target)
		}
	}
}

// TestDecideGuardNeverDelaysBeyondBound sweeps time: whatever the WAL
// receiver reports, from LeaderVanishedAt + RacePostponeMax on the race is
// never postponed, and every postponement names a WaitUntil within it.
func TestDecideGuardNeverDelaysBeyondBound(t *testing.T) {
	vanished := t0
	for step := time.Duration(0); step <= 45*time.Second; step += 500 * time.Millisecond {
		o := raceObs()
		o.Now = vanished.Add(step)
		o.ClusterAt = o.Now
		o.LeaderVanishedAt = vanished
		o.Local.LastWALReceiptAt = o.Now // the receiver keeps hearing from the old primary
		for i := range o.Peers {
			o.Peers[i].ObservedAt = o.Now
		}
		d := Decide(o)
		bound := vanished.Add(o.Settings.RacePostponeMax)
		if o.Now.Before(bound) {
			if d.Code != CodeRaceGuard || d.WaitUntil.After(bound) || !d.WaitUntil.After(o.Now) {
				t.Fatalf("at +%v: %v (WaitUntil %v, bound %v)", step, d, d.WaitUntil, bound)
			}
		} else if d.Action != ActionAcquire {
			t.Fatalf("at +%v, past the bound: %v", step, d)
		}
	}
}
