package failover

import (
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
)

func TestSelectCandidateRules(t *testing.T) {
	const mib = 1 << 20
	type want struct {
		chosen     string
		reasons    map[string]Exclusion
		msg        map[string]string // substring of the verdict message
		reference  int64
		unrecov    int64
		overridden bool
	}
	tests := []struct {
		name string
		in   func() CandidateInput
		want want
	}{
		{
			name: "highest received LSN wins",
			in: func() CandidateInput {
				return CandidateInput{Cluster: cluster(replica("a", 100, 1, nil), replica("b", 300, 1, nil), replica("c", 200, 1, nil))}
			},
			want: want{chosen: "b", reference: 300},
		},
		{
			name: "priority beats LSN",
			in: func() CandidateInput {
				return CandidateInput{Cluster: cluster(replica("a", 100, 1, dcs.Tags{"failover_priority": 5}), replica("b", 300, 1, nil))}
			},
			want: want{chosen: "a"},
		},
		{
			name: "replay LSN then name break ties",
			in: func() CandidateInput {
				a, b, c := replica("a", 100, 1, nil), replica("b", 100, 1, nil), replica("c", 100, 1, nil)
				a.ReplayLSN, b.ReplayLSN, c.ReplayLSN = i64(50), i64(90), i64(90)
				return CandidateInput{Cluster: cluster(c, b, a)}
			},
			want: want{chosen: "b"},
		},
		{
			name: "nofailover and failover_priority 0 excluded",
			in: func() CandidateInput {
				return CandidateInput{Cluster: cluster(replica("a", 500, 1, dcs.Tags{"nofailover": true}), replica("b", 500, 1, dcs.Tags{"failover_priority": 0}), replica("c", 500, 1, nil))}
			},
			want: want{chosen: "c", reasons: map[string]Exclusion{"a": ExclNoFailover, "b": ExclNoFailover}},
		},
		{
			name: "not running excluded",
			in: func() CandidateInput {
				a := replica("a", 900, 1, nil)
				a.State = dcs.StateStopped
				return CandidateInput{Cluster: cluster(a, replica("b", 100, 1, nil))}
			},
			want: want{chosen: "b", reasons: map[string]Exclusion{"a": ExclNotRunning}},
		},
		{
			name: "unreachable peer overrides its member key and is not counted in the reference",
			in: func() CandidateInput {
				return CandidateInput{Cluster: cluster(replica("a", 900*mib, 1, nil), replica("b", 100, 1, nil)),
					Positions: []Position{{Name: "a", Unreachable: true, ObservedAt: t0.Add(time.Second), Source: SourcePeer}}}
			},
			want: want{chosen: "b", reasons: map[string]Exclusion{"a": ExclUnreachable}, reference: 100},
		},
		{
			name: "a peer that declines to promote is no candidate, whatever its priority",
			in: func() CandidateInput {
				a := peer("a", 900, 1, t0)
				a.Declines = true
				return CandidateInput{Cluster: cluster(replica("a", 900, 1, dcs.Tags{"failover_priority": 5}), replica("b", 100, 1, nil)),
					Positions: []Position{a, peer("b", 100, 1, t0)}}
			},
			want: want{chosen: "b", reasons: map[string]Exclusion{"a": ExclDeclines}},
		},
		{
			name: "stale observation excluded",
			in: func() CandidateInput {
				return CandidateInput{Cluster: cluster(replica("a", 900, 1, nil), replica("b", 100, 1, nil)), SnapshotAt: t0.Add(-time.Hour),
					Positions: []Position{peer("b", 100, 1, t0)}}
			},
			want: want{chosen: "b", reasons: map[string]Exclusion{"a": ExclStale}, msg: map[string]string{"a": "old"}},
		},
		{
			name: "timeline behind the cluster excluded",
			in: func() CandidateInput {
				c := cluster(replica("a", 900, 1, nil), replica("b", 100, 2, nil))
				c.History = dcs.History{{Timeline: 1, LSN: 50}}
				return CandidateInput{Cluster: c}
			},
			want: want{chosen: "b", reasons: map[string]Exclusion{"a": ExclTimelineBehind}, reference: 100},
		},
		{
			name: "unknown timeline excluded with check_timeline",
			in: func() CandidateInput {
				in := CandidateInput{Cluster: cluster(replica("a", 900, 0, nil), replica("b", 100, 1, nil))}
				in.Settings.CheckTimeline = true
				return in
			},
			want: want{chosen: "b", reasons: map[string]Exclusion{"a": ExclTimelineUnknown}},
		},
		{
			name: "sync mode: only sync members, nosync excluded",
			in: func() CandidateInput {
				c := cluster(replica("a", 900, 1, nil), replica("b", 100, 1, nil), replica("c", 100, 1, dcs.Tags{"nosync": true}))
				c.Sync = &dcs.SyncState{Leader: "old", SyncStandby: []string{"b", "c"}}
				in := CandidateInput{Cluster: c}
				in.Settings.SynchronousMode = SyncOn
				in.Settings.MaximumLagOnFailover = 1000
				return in
			},
			want: want{chosen: "b", reasons: map[string]Exclusion{"a": ExclNotSync, "c": ExclNoSync}},
		},
		{
			name: "lag measured against the best survivor, not the frozen optime",
			in: func() CandidateInput {
				c := cluster(replica("a", 10*mib, 1, nil), replica("b", 10*mib-100, 1, nil), replica("c", 5*mib, 1, nil))
				c.Status = &dcs.Status{Optime: 50 * mib} // dead leader's last heartbeat
				return CandidateInput{Cluster: c}
			},
			want: want{chosen: "a", reasons: map[string]Exclusion{"c": ExclLag}, reference: 10 * mib, unrecov: 40 * mib,
				msg: map[string]string{"c": "exceeds maximum_lag_on_failover"}},
		},
		{
			name: "strict optime lag reproduces Patroni's leaderless cluster",
			in: func() CandidateInput {
				c := cluster(replica("a", 10*mib, 1, nil))
				c.Status = &dcs.Status{Optime: 50 * mib}
				in := CandidateInput{Cluster: c}
				in.Settings.StrictOptimeLag = true
				return in
			},
			want: want{chosen: "", reasons: map[string]Exclusion{"a": ExclLag}, reference: 50 * mib},
		},
		{
			name: "leader alive: its optime is the reference",
			in: func() CandidateInput {
				c := withLeader(cluster(primary("p", 50*mib, 1), replica("a", 10*mib, 1, nil)), "p", 7)
				c.Status = &dcs.Status{Optime: 50 * mib}
				return CandidateInput{Cluster: c, Exclude: []string{"p"}}
			},
			want: want{chosen: "", reasons: map[string]Exclusion{"a": ExclLag, "p": ExclExcluded}, reference: 50 * mib},
		},
		{
			name: "nofailover replica ahead raises the reference",
			in: func() CandidateInput {
				return CandidateInput{Cluster: cluster(replica("a", 10*mib, 1, dcs.Tags{"nofailover": true}), replica("b", 5*mib, 1, nil))}
			},
			want: want{chosen: "", reasons: map[string]Exclusion{"a": ExclNoFailover, "b": ExclLag}, reference: 10 * mib},
		},
		{
			name: "manual failover overrides lag only",
			in: func() CandidateInput {
				in := CandidateInput{Cluster: cluster(replica("a", 10*mib, 1, nil), replica("b", 5*mib, 1, nil)), Candidate: "b", OverrideLag: true}
				return in
			},
			want: want{chosen: "b", overridden: true, msg: map[string]string{"b": "overridden by manual failover"}},
		},
		{
			name: "manual failover never overrides nofailover",
			in: func() CandidateInput {
				return CandidateInput{Cluster: cluster(replica("a", 10*mib, 1, nil), replica("b", 5*mib, 1, dcs.Tags{"nofailover": "true"})), Candidate: "b", OverrideLag: true}
			},
			want: want{chosen: "", reasons: map[string]Exclusion{"b": ExclNoFailover}},
		},
		{
			name: "position without member key",
			in: func() CandidateInput {
				return CandidateInput{Cluster: cluster(replica("a", 100, 1, nil)), Positions: []Position{peer("ghost", 50, 1, t0)}}
			},
			want: want{chosen: "a", reasons: map[string]Exclusion{"ghost": ExclNotMember}},
		},
		{
			name: "known LSN raises the reference",
			in: func() CandidateInput {
				return CandidateInput{Cluster: cluster(replica("a", 100, 1, nil)), KnownLSN: 100 + 2*mib}
			},
			want: want{chosen: "", reasons: map[string]Exclusion{"a": ExclLag}, reference: 100 + 2*mib},
		},
		{
			name: "nil cluster",
			in:   func() CandidateInput { return CandidateInput{} },
			want: want{chosen: ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in()
			if in.Now.IsZero() {
				in.Now = t0
			}
			if in.Settings.TTL == 0 {
				def := DefaultSettings()
				def.CheckTimeline, def.SynchronousMode, def.StrictOptimeLag = in.Settings.CheckTimeline, in.Settings.SynchronousMode, in.Settings.StrictOptimeLag
				if in.Settings.MaximumLagOnFailover != 0 {
					def.MaximumLagOnFailover = in.Settings.MaximumLagOnFailover
				}
				in.Settings = def
			}
			got := SelectCandidate(in)
			if got.Chosen != tt.want.chosen {
				t.Fatalf("chosen %q, want %q; verdicts %+v", got.Chosen, tt.want.chosen, got.Verdicts)
			}
			if got.Overridden != tt.want.overridden {
				t.Errorf("overridden %v, want %v", got.Overridden, tt.want.overridden)
			}
			for name, r := range tt.want.reasons {
				v, ok := got.Verdict(name)
				if !ok || v.Reason != r {
					t.Errorf("%s: reason %q, want %q (%+v)", name, v.Reason, r, v)
				}
				if v.Message == "" {
					t.Errorf("%s: empty message", name)
				}
			}
			for name, sub := range tt.want.msg {
				if v, _ := got.Verdict(name); !strings.Contains(v.Message, sub) {
					t.Errorf("%s: message %q lacks %q", name, v.Message, sub)
				}
			}
			if tt.want.reference != 0 && got.Reference != tt.want.reference {
				t.Errorf("reference %d (%s), want %d", got.Reference, got.ReferenceFrom, tt.want.reference)
			}
			if got.Unrecoverable != tt.want.unrecov {
				t.Errorf("unrecoverable %d, want %d", got.Unrecoverable, tt.want.unrecov)
			}
		})
	}
}
