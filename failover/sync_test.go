package failover

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/pg"
)

func syncSettings(mode string, strict bool, count int) Settings {
	s := patroniTimings()
	s.SynchronousMode, s.SynchronousModeStrict, s.SynchronousNodeCount = mode, strict, count
	return s
}

func streaming(name string, flush int64) SyncReplica {
	return SyncReplica{Name: name, State: "streaming", FlushLSN: flush}
}

func first(names ...string) pg.SyncStandbys {
	return pg.SyncStandbys{Method: pg.SyncFirst, Num: len(names), Names: names}
}

func epoch(g pg.SyncStandbys, at int64, caught ...string) SyncEpoch {
	return SyncEpoch{Set: true, GUC: g, SetAt: t0.Add(-time.Hour), Armed: true, SetAtLSN: at, CaughtUp: caught}
}

func TestPlanSync(t *testing.T) {
	members := func(tags map[string]dcs.Tags) *dcs.Cluster {
		c := cluster(primary("p", 1000, 1), replica("a", 900, 1, tags["a"]), replica("b", 950, 1, tags["b"]), replica("c", 800, 1, tags["c"]))
		return withLeader(c, "p", 10)
	}
	withSync := func(c *dcs.Cluster, leader string, q int, standbys ...string) *dcs.Cluster {
		c.Sync = &dcs.SyncState{Leader: leader, SyncStandby: standbys, Quorum: q, ModRevision: 42}
		return c
	}
	all := []SyncReplica{streaming("a", 900), streaming("b", 950), streaming("c", 800)}
	tests := []struct {
		name     string
		in       SyncInput
		step     SyncStep
		key      *dcs.SyncState // for SyncWriteKey
		guc      string         // for SyncSetGUC, and the wanted value
		degraded bool
		blocking bool
	}{
		{name: "off: delete a leftover key first",
			in:   SyncInput{Settings: syncSettings(SyncOff, false, 1), Cluster: withSync(members(nil), "p", 0, "a"), CurrentGUC: `FIRST 1 ("a")`},
			step: SyncDeleteKey},
		{name: "off: then clear the GUC",
			in:   SyncInput{Settings: syncSettings(SyncOff, false, 1), Cluster: members(nil), CurrentGUC: `FIRST 1 ("a")`},
			step: SyncSetGUC, guc: ""},
		{name: "off: nothing to do",
			in:   SyncInput{Settings: syncSettings(SyncOff, false, 1), Cluster: members(nil)},
			step: SyncNothing},
		{name: "on, unknown epoch: the key names no standby before anything else",
			in:   SyncInput{Settings: syncSettings(SyncOn, false, 1), Cluster: withSync(members(nil), "old", 0, "a"), Replicas: all},
			step: SyncWriteKey, key: &dcs.SyncState{Leader: "p"}, guc: `FIRST 1 ("b")`},
		{name: "on: GUC after the key, the most advanced standby",
			in:   SyncInput{Settings: syncSettings(SyncOn, false, 1), Cluster: withSync(members(nil), "p", 0), Replicas: all},
			step: SyncSetGUC, guc: `FIRST 1 ("b")`},
		{name: "on: a standby already in the key is preferred",
			in: SyncInput{Settings: syncSettings(SyncOn, false, 1), Cluster: withSync(members(nil), "p", 0, "a"), Replicas: all,
				CurrentGUC: `FIRST 1 ("a")`, Epoch: epoch(first("a"), 500, "a")},
			step: SyncNothing, guc: `FIRST 1 ("a")`},
		{name: "on: not counted before it caught up",
			in: SyncInput{Settings: syncSettings(SyncOn, false, 1), Cluster: withSync(members(nil), "p", 0), Replicas: all,
				CurrentGUC: `FIRST 1 ("b")`, Epoch: epoch(first("b"), 960)},
			step: SyncNothing, guc: `FIRST 1 ("b")`},
		{name: "on: counted once caught up",
			in: SyncInput{Settings: syncSettings(SyncOn, false, 1), Cluster: withSync(members(nil), "p", 0), Replicas: all,
				CurrentGUC: `FIRST 1 ("b")`, Epoch: epoch(first("b"), 950)},
			step: SyncWriteKey, key: &dcs.SyncState{Leader: "p", SyncStandby: []string{"b"}}, guc: `FIRST 1 ("b")`},
		{name: "on: the start position is read only after the settle time",
			in: SyncInput{Settings: syncSettings(SyncOn, false, 1), Cluster: withSync(members(nil), "p", 0), Replicas: all, Now: t0, FlushLSN: 900,
				CurrentGUC: `FIRST 1 ("b")`, Epoch: SyncEpoch{Set: true, GUC: first("b"), SetAt: t0.Add(-DefaultSyncSettle / 2)}},
			step: SyncNothing, guc: `FIRST 1 ("b")`},
		{name: "on: armed after the settle time, then counted",
			in: SyncInput{Settings: syncSettings(SyncOn, false, 1), Cluster: withSync(members(nil), "p", 0), Replicas: all, Now: t0, FlushLSN: 950,
				CurrentGUC: `FIRST 1 ("b")`, Epoch: SyncEpoch{Set: true, GUC: first("b"), SetAt: t0.Add(-DefaultSyncSettle)}},
			step: SyncWriteKey, key: &dcs.SyncState{Leader: "p", SyncStandby: []string{"b"}}, guc: `FIRST 1 ("b")`},
		{name: "on: a nosync standby is never chosen",
			in:   SyncInput{Settings: syncSettings(SyncOn, false, 1), Cluster: withSync(members(map[string]dcs.Tags{"b": {dcs.TagNoSync: true}}), "p", 0), Replicas: all},
			step: SyncSetGUC, guc: `FIRST 1 ("a")`},
		{name: "on: node count 2",
			in:   SyncInput{Settings: syncSettings(SyncOn, false, 2), Cluster: withSync(members(nil), "p", 0), Replicas: all},
			step: SyncSetGUC, guc: `FIRST 2 ("a","b")`},
		{name: "on: a sync standby that stopped streaming leaves the key before the GUC",
			in: SyncInput{Settings: syncSettings(SyncOn, false, 1), Cluster: withSync(members(nil), "p", 0, "b"),
				Replicas: []SyncReplica{streaming("a", 900), streaming("c", 800)}, CurrentGUC: `FIRST 1 ("b")`, Epoch: epoch(first("b"), 950, "b")},
			step: SyncWriteKey, key: &dcs.SyncState{Leader: "p"}, guc: `FIRST 1 ("a")`},
		{name: "on: replacing keeps a standby that stays",
			in: SyncInput{Settings: syncSettings(SyncOn, false, 2), Cluster: withSync(members(nil), "p", 0, "a", "b"),
				Replicas: []SyncReplica{streaming("a", 900), streaming("c", 800)}, CurrentGUC: `FIRST 2 ("a","b")`, Epoch: epoch(first("a", "b"), 700, "a", "b")},
			step: SyncWriteKey, key: &dcs.SyncState{Leader: "p", SyncStandby: []string{"a"}}, guc: `FIRST 2 ("a","c")`},
		{name: "non-strict: nothing streams, key first, then asynchronous",
			in: SyncInput{Settings: syncSettings(SyncOn, false, 1), Cluster: withSync(members(nil), "p", 0, "b"),
				CurrentGUC: `FIRST 1 ("b")`, Epoch: epoch(first("b"), 950, "b")},
			step: SyncWriteKey, key: &dcs.SyncState{Leader: "p"}, guc: "", degraded: true},
		{name: "non-strict: GUC cleared after the key",
			in: SyncInput{Settings: syncSettings(SyncOn, false, 1), Cluster: withSync(members(nil), "p", 0),
				CurrentGUC: `FIRST 1 ("b")`, Epoch: epoch(first("b"), 950, "b")},
			step: SyncSetGUC, guc: "", degraded: true},
		{name: "strict: nothing streams, the last standby stays, commits wait",
			in: SyncInput{Settings: syncSettings(SyncOn, true, 1), Cluster: withSync(members(nil), "p", 0, "b"),
				CurrentGUC: `FIRST 1 ("b")`, Epoch: epoch(first("b"), 950, "b")},
			step: SyncNothing, guc: `FIRST 1 ("b")`, blocking: true},
		{name: "strict: nothing known, the placeholder",
			in:   SyncInput{Settings: syncSettings(SyncOn, true, 1), Cluster: withSync(members(nil), "p", 0)},
			step: SyncSetGUC, guc: `FIRST 1 ("` + SyncPlaceholder + `")`, blocking: true},
		{name: "quorum: ANY k over every eligible standby",
			in:   SyncInput{Settings: syncSettings(SyncQuorum, false, 1), Cluster: withSync(members(nil), "p", 0), Replicas: all},
			step: SyncSetGUC, guc: `ANY 1 ("a","b","c")`},
		{name: "quorum: ANY 1 of 3 with two caught up proves nothing",
			in: SyncInput{Settings: syncSettings(SyncQuorum, false, 1), Cluster: withSync(members(nil), "p", 0), Replicas: all,
				CurrentGUC: `ANY 1 ("a","b","c")`, Epoch: epoch(pg.SyncStandbys{Method: pg.SyncAny, Num: 1, Names: []string{"a", "b", "c"}}, 850)},
			step: SyncNothing, guc: `ANY 1 ("a","b","c")`},
		{name: "quorum: all caught up, quorum = |V| - k",
			in: SyncInput{Settings: syncSettings(SyncQuorum, false, 1), Cluster: withSync(members(nil), "p", 0), Replicas: all,
				CurrentGUC: `ANY 1 ("a","b","c")`, Epoch: epoch(pg.SyncStandbys{Method: pg.SyncAny, Num: 1, Names: []string{"a", "b", "c"}}, 800)},
			step: SyncWriteKey, key: &dcs.SyncState{Leader: "p", SyncStandby: []string{"a", "b", "c"}, Quorum: 2}, guc: `ANY 1 ("a","b","c")`},
		{name: "quorum: ANY 2 of 3 with two caught up",
			in: SyncInput{Settings: syncSettings(SyncQuorum, false, 2), Cluster: withSync(members(nil), "p", 0), Replicas: all,
				CurrentGUC: `ANY 2 ("a","b","c")`, Epoch: epoch(pg.SyncStandbys{Method: pg.SyncAny, Num: 2, Names: []string{"a", "b", "c"}}, 850)},
			step: SyncWriteKey, key: &dcs.SyncState{Leader: "p", SyncStandby: []string{"a", "b"}, Quorum: 1}, guc: `ANY 2 ("a","b","c")`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Leader = "p"
			plan := PlanSync(tc.in)
			if plan.Step != tc.step {
				t.Fatalf("step %v, want %v (%s)", plan.Step, tc.step, plan.Reason)
			}
			if tc.step == SyncWriteKey {
				got, want := plan.Key, tc.key
				if got.Leader != want.Leader || !slices.Equal(got.SyncStandby, want.SyncStandby) || got.Quorum != want.Quorum {
					t.Fatalf("key %+v, want %+v (%s)", got, want, plan.Reason)
				}
			}
			if tc.step != SyncDeleteKey && tc.step != SyncNothing || tc.guc != "" {
				if g := plan.GUC.String(); g != tc.guc {
					t.Fatalf("GUC %q, want %q (%s)", g, tc.guc, plan.Reason)
				}
			}
			if plan.Degraded != tc.degraded || plan.Blocking != tc.blocking {
				t.Fatalf("degraded %v blocking %v, want %v %v (%s)", plan.Degraded, plan.Blocking, tc.degraded, tc.blocking, plan.Reason)
			}
		})
	}
}

// TestSelectCandidateSync covers synchronous-mode eligibility: priority
// mode admits only listed members; quorum mode also needs the proof; the
// allow_data_loss override admits the named member and says so.
func TestSelectCandidateSync(t *testing.T) {
	now := t0
	mk := func(mode string, q int, standbys ...string) *dcs.Cluster {
		c := cluster(replica("a", 900, 1, nil), replica("b", 950, 1, nil), replica("c", 800, 1, nil))
		c.Config = &dcs.ClusterConfig{SynchronousMode: sptr(mode)}
		c.Sync = &dcs.SyncState{Leader: "p", SyncStandby: standbys, Quorum: q}
		return c
	}
	peers := func(names ...string) []Position {
		lsn := map[string]int64{"a": 900, "b": 950, "c": 800}
		var out []Position
		for _, n := range []string{"a", "b", "c"} {
			if slices.Contains(names, n) {
				out = append(out, peer(n, lsn[n], 1, now))
			} else {
				out = append(out, Position{Name: n, Unreachable: true, ObservedAt: now, Source: SourcePeer})
			}
		}
		return out
	}
	tests := []struct {
		name      string
		mode      string
		cl        *dcs.Cluster
		pos       []Position
		named     string
		override  bool
		chosen    string
		excl      map[string]Exclusion
		overriden bool
	}{
		{name: "on: only the listed standby", mode: SyncOn, cl: mk(SyncOn, 0, "a"), pos: peers("a", "b", "c"), chosen: "a",
			excl: map[string]Exclusion{"b": ExclNotSync, "c": ExclNotSync}},
		{name: "on: nobody listed, nobody promoted", mode: SyncOn, cl: mk(SyncOn, 0), pos: peers("a", "b", "c"), chosen: "",
			excl: map[string]Exclusion{"a": ExclNotSync, "b": ExclNotSync}},
		{name: "quorum: q=2, all seen, the most advanced", mode: SyncQuorum, cl: mk(SyncQuorum, 2, "a", "b", "c"), pos: peers("a", "b", "c"), chosen: "b"},
		{name: "quorum: q=2, one missing, nobody", mode: SyncQuorum, cl: mk(SyncQuorum, 2, "a", "b", "c"), pos: peers("a", "c"), chosen: "",
			excl: map[string]Exclusion{"a": ExclSyncQuorum, "c": ExclSyncQuorum}},
		{name: "quorum: q=1, two seen, the more advanced", mode: SyncQuorum, cl: mk(SyncQuorum, 1, "a", "b", "c"), pos: peers("a", "c"), chosen: "a",
			excl: map[string]Exclusion{"c": ExclSyncQuorum}},
		{name: "override: a non-sync member named with allow_data_loss", mode: SyncOn, cl: mk(SyncOn, 0, "a"), pos: peers("b", "c"),
			named: "c", override: true, chosen: "c", overriden: true},
		{name: "no override: the named non-sync member is refused", mode: SyncOn, cl: mk(SyncOn, 0, "a"), pos: peers("b", "c"),
			named: "c", chosen: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := patroniTimings()
			s.SynchronousMode = tc.mode
			res := SelectCandidate(CandidateInput{Cluster: tc.cl, SnapshotAt: now.Add(-10 * s.MaxPositionAge), Positions: tc.pos, Now: now,
				Settings: s, Candidate: tc.named, OverrideLag: tc.override, OverrideSync: tc.override})
			if res.Chosen != tc.chosen {
				t.Fatalf("chosen %q, want %q: %+v", res.Chosen, tc.chosen, res.Verdicts)
			}
			for n, want := range tc.excl {
				if v, _ := res.Verdict(n); v.Reason != want {
					t.Errorf("%s: %q (%s), want %q", n, v.Reason, v.Message, want)
				}
			}
			if res.SyncOverridden != tc.overriden {
				t.Fatalf("SyncOverridden %v, want %v", res.SyncOverridden, tc.overriden)
			}
			if tc.overriden {
				v, _ := res.Verdict(tc.chosen)
				if !strings.Contains(v.Message, "may be lost") {
					t.Fatalf("override verdict does not warn: %s", v.Message)
				}
			}
		})
	}
}

func TestAllowDataLossKey(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want bool
	}{{"true", true}, {"false", false}, {`"true"`, false}, {"1", false}} {
		f := &dcs.Failover{Member: "x", Extra: map[string]json.RawMessage{AllowDataLossKey: json.RawMessage(tc.raw)}}
		if got := allowDataLoss(f); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.raw, got, tc.want)
		}
	}
	if allowDataLoss(nil) || allowDataLoss(&dcs.Failover{Member: "x"}) {
		t.Error("no extra field must not allow data loss")
	}
}

func TestSettingsSyncConfig(t *testing.T) {
	s := DefaultSettings().WithConfig(&dcs.ClusterConfig{SynchronousMode: sptr(SyncQuorum), SynchronousModeStrict: bptr(true), SynchronousNodeCount: i64(2)})
	if s.SynchronousMode != SyncQuorum || !s.SynchronousModeStrict || s.SynchronousNodeCount != 2 {
		t.Fatalf("settings %+v", s)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	// Clamped with a warning, never a reason to stop failing over.
	s, warn := DefaultSettings().ApplyConfig(&dcs.ClusterConfig{SynchronousNodeCount: i64(-5)})
	if err := s.Validate(); err != nil || s.SynchronousNodeCount != 1 || len(warn) != 1 {
		t.Fatalf("negative node count: count %d, warnings %q, err %v", s.SynchronousNodeCount, warn, err)
	}
}
