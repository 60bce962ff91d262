package failover

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
)

func TestParseStandbyCluster(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		want    *StandbyCluster
		active  bool
		wantErr string
	}{
		{"null", `null`, nil, false, ""},
		{"empty", ``, nil, false, ""},
		{"host and port", `{"host":"10.0.0.1","port":5433,"primary_slot_name":"standby_b"}`,
			&StandbyCluster{Host: "10.0.0.1", Port: 5433, PrimarySlotName: "standby_b"}, true, ""},
		{"port as string, default port", `{"host":"a,b"}`, &StandbyCluster{Host: "a,b", Port: 5432}, true, ""},
		{"port string", `{"host":"h","port":"6000"}`, &StandbyCluster{Host: "h", Port: 6000}, true, ""},
		{"archive only", `{"restore_command":"cp /a/%f %p","archive_cleanup_command":"pg_archivecleanup /a %r","recovery_min_apply_delay":"5min"}`,
			&StandbyCluster{RestoreCommand: "cp /a/%f %p", ArchiveCleanupCommand: "pg_archivecleanup /a %r", RecoveryMinApplyDelay: "5min"}, true, ""},
		{"delay in ms", `{"host":"h","recovery_min_apply_delay":1000}`, &StandbyCluster{Host: "h", Port: 5432, RecoveryMinApplyDelay: "1000"}, true, ""},
		{"only a slot: not a standby cluster", `{"primary_slot_name":"s"}`, &StandbyCluster{PrimarySlotName: "s"}, false, ""},
		{"methods", `{"host":"h","create_replica_methods":["basebackup"]}`,
			&StandbyCluster{Host: "h", Port: 5432, CreateReplicaMethods: []string{"basebackup"}}, true, ""},
		{"not an object", `"h"`, nil, false, "must be an object"},
		// Patroni's rule: a typo of every key is not a standby cluster; an
		// unusable host, port or restore_command still is.
		{"unknown key", `{"hots":"h"}`, &StandbyCluster{}, false, "standby_cluster.hots: unknown key"},
		{"unknown key beside a host", `{"host":"h","hots":"h"}`, &StandbyCluster{Host: "h", Port: 5432}, true, "standby_cluster.hots: unknown key"},
		{"bad port", `{"host":"h","port":70000}`, &StandbyCluster{Host: "h", Port: 5432}, true, "standby_cluster.port"},
		{"bad host type", `{"host":1}`, &StandbyCluster{}, true, "standby_cluster.host: must be a string"},
		{"bad slot", `{"host":"h","primary_slot_name":"Bad-Slot"}`, &StandbyCluster{Host: "h", Port: 5432}, true, "standby_cluster.primary_slot_name"},
		{"space in host", `{"host":"h x"}`, &StandbyCluster{}, true, "standby_cluster.host"},
		{"line break in command", `{"restore_command":"cp\nrm -rf /"}`, &StandbyCluster{}, true, "standby_cluster.restore_command"},
		{"fractional delay", `{"host":"h","recovery_min_apply_delay":1.5}`, &StandbyCluster{Host: "h", Port: 5432}, true, "recovery_min_apply_delay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStandbyCluster(json.RawMessage(tt.json))
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrInvalidStandbyCluster) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want ErrInvalidStandbyCluster with %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (tt.want == nil) || got != nil && (got.Host != tt.want.Host || got.Port != tt.want.Port ||
				got.PrimarySlotName != tt.want.PrimarySlotName || got.RestoreCommand != tt.want.RestoreCommand ||
				got.ArchiveCleanupCommand != tt.want.ArchiveCleanupCommand || got.RecoveryMinApplyDelay != tt.want.RecoveryMinApplyDelay ||
				strings.Join(got.CreateReplicaMethods, ",") != strings.Join(tt.want.CreateReplicaMethods, ",")) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if got.Active() != tt.active {
				t.Errorf("Active %v, want %v", got.Active(), tt.active)
			}
		})
	}
}

// TestStandbyClusterOfInvalid: an unusable host keeps the cluster a
// standby cluster, without upstream, with a warning; a section of typos
// alone is not one (Patroni's rule), with warnings naming them.
func TestStandbyClusterOfInvalid(t *testing.T) {
	of := func(v string) (*StandbyCluster, []string) {
		return StandbyClusterOf(&dcs.ClusterConfig{Extra: map[string]json.RawMessage{StandbyClusterKey: json.RawMessage(v)}})
	}
	if sc, warn := of(`{"hots":"h"}`); sc.Active() || len(warn) != 2 {
		t.Errorf("typo: got %+v, %q; want no standby cluster and two warnings", sc, warn)
	}
	if sc, warn := of(`[1]`); sc != nil || len(warn) != 1 {
		t.Errorf("not an object: got %+v, %q; want nil and one warning", sc, warn)
	}
	sc, warn := of(`{"host":1}`)
	if !sc.Active() || !sc.Invalid || len(warn) != 1 || !strings.Contains(warn[0], "follows no upstream") {
		t.Fatalf("got %+v, %q; want an active invalid section and one warning", sc, warn)
	}
	if cfg := sc.followConfig(); !cfg.Upstream.IsZero() {
		t.Errorf("an invalid section follows %+v, want no upstream", cfg.Upstream)
	}
}

// TestStandbyFollowConfig: a multi-host section asks for a read-write
// session; the recovery settings are passed on.
func TestStandbyFollowConfig(t *testing.T) {
	sc := &StandbyCluster{Host: "a,b", Port: 5432, PrimarySlotName: "s", RestoreCommand: "r", RecoveryMinApplyDelay: "1s"}
	cfg := sc.followConfig()
	if cfg.Upstream.Host != "a,b" || cfg.TargetSessionAttrs != "read-write" || cfg.SlotName != "s" ||
		cfg.Recovery["restore_command"] != "r" || cfg.Recovery["recovery_min_apply_delay"] != "1s" || len(cfg.Recovery) != 2 {
		t.Errorf("follow config %+v", cfg)
	}
	if single := (&StandbyCluster{Host: "a", Port: 5432}).followConfig(); single.TargetSessionAttrs != "" {
		t.Errorf("single host asks for %q", single.TargetSessionAttrs)
	}
	if a, b := sc.target(), (&StandbyCluster{Host: "a,b", Port: 5432, PrimarySlotName: "s", RestoreCommand: "other"}).target(); a == b || !isRemoteTarget(a) {
		t.Errorf("targets %q and %q: want distinct remote targets when the recovery settings differ", a, b)
	}
}

// standbyOf returns o in a standby cluster following host h.
func standbyOf(o Observation) Observation {
	o.Settings.StandbyCluster = &StandbyCluster{Host: "h", Port: 5432}
	return o
}

func TestDecideStandbyCluster(t *testing.T) {
	sc := &StandbyCluster{Host: "h", Port: 5432}
	remote := sc.target()
	tests := []struct {
		name   string
		obs    func() Observation
		action Action
		code   Code
		check  func(t *testing.T, d Decision)
	}{
		{"standby leader points at the remote", func() Observation {
			o := standbyOf(leaderObs())
			o.Local = LocalStatus{State: PGRunning, Role: RoleReplica, Timeline: 1, ReceiveLSN: 1000, ReplayLSN: 1000, Following: "", SystemID: sysID}
			return o
		}, ActionFollow, CodeStandbyLeaderFollow, targetCheck(remote)},
		{"standby leader following the remote never promotes", func() Observation {
			o := standbyOf(leaderObs())
			o.Local = LocalStatus{State: PGRunning, Role: RoleReplica, Timeline: 1, ReceiveLSN: 1000, ReplayLSN: 1000, Following: remote, SystemID: sysID}
			return o
		}, ActionNoop, CodeStandbyLeader, nil},
		{"standby leader while paused keeps the term", func() Observation {
			o := standbyOf(leaderObs())
			p := true
			o.Cluster.Config = &dcs.ClusterConfig{Pause: &p}
			o.Local = LocalStatus{State: PGRunning, Role: RoleReplica, Timeline: 1, Following: remote, SystemID: sysID}
			return o
		}, ActionNoop, CodeStandbyLeader, nil},
		{"changed section re-points", func() Observation {
			o := standbyOf(leaderObs())
			o.Local = LocalStatus{State: PGRunning, Role: RoleReplica, Timeline: 1, Following: (&StandbyCluster{Host: "old", Port: 5432}).target(), SystemID: sysID}
			return o
		}, ActionFollow, CodeStandbyLeaderFollow, targetCheck(remote)},
		{"standby_cluster added: demote-cluster keeps the term", func() Observation { return standbyOf(leaderObs()) },
			ActionDemote, CodeDemoteCluster, func(t *testing.T, d Decision) {
				demoteCheck(DemoteCluster, false)(t, d)
				targetCheck(remote)(t, d)
			}},
		{"standby_cluster added while paused: no demotion", func() Observation {
			o := standbyOf(leaderObs())
			p := true
			o.Cluster.Config = &dcs.ClusterConfig{Pause: &p}
			return o
		}, ActionNoop, CodePausedLeader, nil},
		{"standby_cluster removed: the standby leader promotes", func() Observation {
			o := leaderObs()
			o.Local = LocalStatus{State: PGRunning, Role: RoleReplica, Timeline: 1, Following: remote, SystemID: sysID}
			return o
		}, ActionPromote, CodePromote, nil},
		{"switchover needs the candidates' positions", func() Observation {
			o := standbyLeaderObs(remote)
			o.Cluster.Failover = failoverKey("a", "b", nil)
			o.PeersQueried = false
			return o
		}, ActionQueryPeers, CodeNeedPeers, nil},
		{"switchover to a named candidate hands over without promoting", func() Observation {
			o := standbyLeaderObs(remote)
			o.Cluster.Failover = failoverKey("a", "c", nil)
			return o
		}, ActionDemote, CodeStandbySwitchover, standbyHandOver("c")},
		{"switchover without a candidate picks the best member", func() Observation {
			o := standbyLeaderObs(remote)
			o.Cluster.Failover = failoverKey("a", "", nil)
			return o
		}, ActionDemote, CodeStandbySwitchover, standbyHandOver("b")},
		{"manual failover (no leader named) to a candidate", func() Observation {
			o := standbyLeaderObs(remote)
			o.Cluster.Failover = failoverKey("", "c", nil)
			return o
		}, ActionDemote, CodeStandbySwitchover, standbyHandOver("c")},
		{"switchover before the standby leader follows the remote", func() Observation {
			o := standbyLeaderObs("")
			o.Cluster.Failover = failoverKey("a", "b", nil)
			return o
		}, ActionDemote, CodeStandbySwitchover, standbyHandOver("b")},
		{"switchover to a nofailover candidate refused", func() Observation {
			o := standbyLeaderObs(remote)
			o.Cluster.Member("c").Tags = dcs.Tags{"nofailover": true}
			o.Cluster.Failover = failoverKey("a", "c", nil)
			return o
		}, ActionClearFailover, CodeSwitchoverNoCandidate, reasonCheck("tagged nofailover")},
		{"switchover to a lagging candidate refused", func() Observation {
			o := standbyLeaderObs(remote)
			o.Local.ReceiveLSN, o.Local.ReplayLSN = 10<<20, 10<<20
			o.Cluster.Failover = failoverKey("a", "c", nil)
			return o
		}, ActionClearFailover, CodeSwitchoverNoCandidate, reasonCheck("exceeds maximum_lag_on_failover")},
		{"switchover to an unknown member refused", func() Observation {
			o := standbyLeaderObs(remote)
			o.Cluster.Failover = failoverKey("a", "zz", nil)
			return o
		}, ActionClearFailover, CodeSwitchoverNoCandidate, reasonCheck("not a member")},
		{"switchover to a stopped candidate refused", func() Observation {
			o := standbyLeaderObs(remote)
			o.Cluster.Member("c").State = dcs.StateStopped
			o.Peers = []Position{peer("b", 1000, 1, t0), {Name: "c", State: dcs.StateStopped, ObservedAt: t0, Source: SourcePeer}}
			o.Cluster.Failover = failoverKey("a", "c", nil)
			return o
		}, ActionClearFailover, CodeSwitchoverNoCandidate, reasonCheck("candidate c is not eligible")},
		{"key naming another leader cleared", func() Observation {
			o := standbyLeaderObs(remote)
			o.Cluster.Failover = failoverKey("b", "c", nil)
			return o
		}, ActionClearFailover, CodeFailoverNotForMe, nil},
		{"scheduled switchover waits for its time", func() Observation {
			o := standbyLeaderObs(remote)
			at := t0.Add(time.Minute)
			o.Cluster.Failover = failoverKey("a", "c", &at)
			return o
		}, ActionWait, CodeSwitchoverScheduled, nil},
		{"scheduled switchover runs at its time", func() Observation {
			o := standbyLeaderObs(remote)
			at := t0.Add(-time.Second)
			o.Cluster.Failover = failoverKey("a", "c", &at)
			return o
		}, ActionDemote, CodeStandbySwitchover, standbyHandOver("c")},
		{"paused: switchover to a named member", func() Observation {
			o := standbyLeaderObs(remote)
			o.Cluster.Config = &dcs.ClusterConfig{Pause: bptr(true)}
			o.Cluster.Failover = failoverKey("a", "c", nil)
			return o
		}, ActionDemote, CodeStandbySwitchover, standbyHandOver("c")},
		{"paused: switchover to any refused", func() Observation {
			o := standbyLeaderObs(remote)
			o.Cluster.Config = &dcs.ClusterConfig{Pause: bptr(true)}
			o.Cluster.Failover = failoverKey("a", "", nil)
			return o
		}, ActionClearFailover, CodePausedNeedsNamed, nil},
		{"the named candidate takes the released key", func() Observation {
			o := standbyOf(raceObs())
			o.Cluster.Failover = failoverKey("a", "b", nil)
			return o
		}, ActionAcquire, CodeManualFailover, nil},
		{"the old standby leader does not race for the key it released", func() Observation {
			o := standbyOf(raceObs())
			o.Cluster.Failover = failoverKey("b", "", nil)
			o.Peers = []Position{peer("c", 900, 1, t0)}
			return o
		}, ActionWait, CodeIneligible, reasonCheck("leader being switched away from")},
		{"the new standby leader follows the remote", func() Observation {
			o := standbyLeaderObs("a")
			o.Cluster.Failover = nil
			return o
		}, ActionFollow, CodeStandbyLeaderFollow, targetCheck(remote)},
		{"crashed standby leader restarts following the remote", func() Observation {
			o := standbyOf(crashedLeaderObs(time.Second))
			return o
		}, ActionStart, CodeRestartPrimary, func(t *testing.T, d Decision) {
			if d.StartAs != RoleReplica || d.Target != remote {
				t.Errorf("start as %s of %q, want a replica of the remote", d.StartAs, d.Target)
			}
		}},
		{"replicas cascade from the standby leader", func() Observation { return standbyOf(replicaObs()) },
			ActionNoop, CodeFollowing, nil},
		{"bootstrap owner of a standby cluster takes the key", func() Observation {
			o := standbyOf(replicaObs())
			o.Cluster = cluster()
			o.BootstrapOwner = true
			e := ""
			o.Cluster.Initialize = &e
			o.Local.Following = remote
			return o
		}, ActionAcquire, CodeStandbyBootstrap, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.obs())
			if d.Action != tt.action || d.Code != tt.code {
				t.Fatalf("got %v, want %v [%s]", d, tt.action, tt.code)
			}
			if tt.check != nil {
				tt.check(t, d)
			}
		})
	}
}

// standbyLeaderObs: node a, the standby leader holding the term, running
// as a replica following following, in a cluster whose members b and c
// cascade from it; peer positions gathered.
func standbyLeaderObs(following string) Observation {
	o := standbyOf(leaderObs())
	o.Cluster.Members[0] = &dcs.Member{Name: "a", State: dcs.StateRunning, Role: dcs.RoleStandbyLeader, ReceiveLSN: i64(1000), ReplayLSN: i64(1000), Timeline: i64(1)}
	o.Local = LocalStatus{State: PGRunning, Role: RoleReplica, Timeline: 1, ReceiveLSN: 1000, ReplayLSN: 1000, Following: following, SystemID: sysID}
	o.PeersQueried = true
	o.Peers = []Position{peer("b", 1000, 1, t0), peer("c", 990, 1, t0)}
	return o
}

// standbyHandOver checks a standby switchover: a graceful hand-over
// releasing the term to target, never a promotion.
func standbyHandOver(target string) func(*testing.T, Decision) {
	return func(t *testing.T, d Decision) {
		demoteCheck(DemoteGraceful, true)(t, d)
		targetCheck(target)(t, d)
	}
}

func reasonCheck(sub string) func(*testing.T, Decision) {
	return func(t *testing.T, d Decision) {
		if !strings.Contains(d.Reason, sub) {
			t.Errorf("reason %q, want %q in it", d.Reason, sub)
		}
	}
}

// TestApplyConfigStandbyCluster: the config key's section replaces the
// bootstrap one; a key without it makes a primary cluster; synchronous
// mode is off in a standby cluster.
func TestApplyConfigStandbyCluster(t *testing.T) {
	base := DefaultSettings()
	base.StandbyCluster = &StandbyCluster{Host: "boot", Port: 5432}
	if s, _ := base.ApplyConfig(nil); s.StandbyCluster == nil || s.StandbyCluster.Host != "boot" {
		t.Errorf("without a config key: %+v, want the bootstrap section", s.StandbyCluster)
	}
	if s, _ := base.ApplyConfig(&dcs.ClusterConfig{}); s.StandbyCluster != nil {
		t.Errorf("config key without standby_cluster: %+v, want a primary cluster", s.StandbyCluster)
	}
	on := SyncOn
	s, warn := base.ApplyConfig(&dcs.ClusterConfig{SynchronousMode: &on, Extra: map[string]json.RawMessage{StandbyClusterKey: json.RawMessage(`{"host":"x"}`)}})
	if s.StandbyCluster.Host != "x" || s.SynchronousMode != SyncOff || len(warn) != 1 {
		t.Errorf("got %+v sync %q warnings %q", s.StandbyCluster, s.SynchronousMode, warn)
	}
}
