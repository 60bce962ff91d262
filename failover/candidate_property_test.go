package failover

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
)

var propertyCases = flag.Int("failover.cases", 5000, "random clusters per SelectCandidate property test")

// randomInput builds a random cluster with few distinct values, so ties,
// duplicates and boundary lags are frequent.
func randomInput(r *rand.Rand) CandidateInput {
	names := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	r.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	n := 1 + r.IntN(len(names))
	lsns := []int64{0, 100, 1 << 20, 1<<20 + 100, 2 << 20, 3 << 20}
	states := []string{dcs.StateRunning, dcs.StateRunning, dcs.StateRunning, dcs.StateStopped, dcs.StateStarting}
	roles := []string{dcs.RoleReplica, dcs.RoleReplica, dcs.RolePrimary, ""}
	c := &dcs.Cluster{Revision: 10}
	if r.IntN(3) > 0 {
		c.History = dcs.History{}
		for i := range r.IntN(3) {
			c.History = append(c.History, dcs.HistoryEntry{Timeline: int64(i + 1), LSN: 100})
		}
	}
	for _, name := range names[:n] {
		m := &dcs.Member{Name: name, State: states[r.IntN(len(states))], Role: roles[r.IntN(len(roles))]}
		switch r.IntN(3) {
		case 0:
			m.XLogLocation = i64(lsns[r.IntN(len(lsns))])
		case 1:
			m.ReceiveLSN, m.ReplayLSN = i64(lsns[r.IntN(len(lsns))]), i64(lsns[r.IntN(len(lsns))])
		}
		if r.IntN(4) > 0 {
			m.Timeline = i64(int64(r.IntN(4)))
		}
		switch r.IntN(6) {
		case 0:
			m.Tags = dcs.Tags{"nofailover": true}
		case 1:
			m.Tags = dcs.Tags{"failover_priority": int64(r.IntN(4))}
		case 2:
			m.Tags = dcs.Tags{"nosync": true}
		}
		c.Members = append(c.Members, m)
	}
	if r.IntN(2) == 0 {
		c.Status = &dcs.Status{Optime: lsns[r.IntN(len(lsns))]}
	}
	if r.IntN(3) == 0 {
		c.Leader = &dcs.Leader{Name: names[r.IntN(n)], Revision: 5}
	}
	if r.IntN(3) == 0 {
		c.Sync = &dcs.SyncState{Leader: names[r.IntN(n)], SyncStandby: []string{names[r.IntN(n)], names[r.IntN(len(names))]}}
	}
	s := DefaultSettings()
	s.MaximumLagOnFailover = []int64{0, 100, 1 << 20}[r.IntN(3)]
	s.SynchronousMode = []string{SyncOff, SyncOn, SyncQuorum}[r.IntN(3)]
	s.CheckTimeline = r.IntN(2) == 0
	s.StrictOptimeLag = r.IntN(4) == 0
	in := CandidateInput{Cluster: c, Now: t0, SnapshotAt: t0.Add(-time.Duration(r.IntN(40)) * time.Second), Settings: s}
	for range r.IntN(n + 2) {
		p := Position{Name: names[r.IntN(len(names))], State: states[r.IntN(len(states))], Role: roles[r.IntN(len(roles))],
			ReceiveLSN: lsns[r.IntN(len(lsns))], ReplayLSN: lsns[r.IntN(len(lsns))], Timeline: int64(r.IntN(4)),
			ObservedAt: t0.Add(-time.Duration(r.IntN(3)) * time.Second), Source: SourcePeer, Unreachable: r.IntN(6) == 0}
		in.Positions = append(in.Positions, p)
	}
	if r.IntN(4) == 0 {
		in.Exclude = []string{names[r.IntN(n)]}
	}
	if r.IntN(5) == 0 {
		in.Candidate, in.OverrideLag = names[r.IntN(len(names))], r.IntN(2) == 0
	}
	if r.IntN(5) == 0 {
		in.KnownLSN = lsns[r.IntN(len(lsns))]
	}
	return in
}

func shuffled(r *rand.Rand, in CandidateInput) CandidateInput {
	c := *in.Cluster
	c.Members = append([]*dcs.Member(nil), c.Members...)
	r.Shuffle(len(c.Members), func(i, j int) { c.Members[i], c.Members[j] = c.Members[j], c.Members[i] })
	in.Cluster = &c
	in.Positions = append([]Position(nil), in.Positions...)
	r.Shuffle(len(in.Positions), func(i, j int) { in.Positions[i], in.Positions[j] = in.Positions[j], in.Positions[i] })
	return in
}

func TestSelectCandidateProperties(t *testing.T) {
	for seed := range uint64(*propertyCases) {
		r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
		in := randomInput(r)
		got := SelectCandidate(in)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("seed %d: %s\ninput members: %s\npositions: %+v\nresult: %+v", seed, fmt.Sprintf(format, args...), describe(in.Cluster), in.Positions, got)
		}

		// Every name has exactly one verdict; exclusions carry a reason and a message.
		want := map[string]bool{}
		for _, m := range in.Cluster.Members {
			want[m.Name] = true
		}
		for _, p := range in.Positions {
			want[p.Name] = true
		}
		seen := map[string]bool{}
		for _, v := range got.Verdicts {
			if seen[v.Name] || !want[v.Name] {
				fail("verdict for %q unexpected or duplicated", v.Name)
			}
			seen[v.Name] = true
			if v.Message == "" {
				fail("verdict for %q has no message", v.Name)
			}
			if v.IsEligible() && v.Lag < 0 {
				fail("eligible %q has no usable position", v.Name)
			}
		}
		if len(seen) != len(want) {
			fail("%d verdicts for %d names", len(seen), len(want))
		}

		// The choice is eligible, by the rules checked here independently.
		if got.Chosen != "" {
			v, _ := got.Verdict(got.Chosen)
			m := in.Cluster.Member(got.Chosen)
			switch {
			case !v.IsEligible():
				fail("chosen %q is not eligible", got.Chosen)
			case m == nil:
				fail("chosen %q has no member key", got.Chosen)
			case m.Tags.NoFailover():
				fail("chosen %q is nofailover", got.Chosen)
			case got.Reference-v.Received > in.Settings.MaximumLagOnFailover && !(in.OverrideLag && in.Candidate == got.Chosen):
				fail("chosen %q lags %d > %d", got.Chosen, got.Reference-v.Received, in.Settings.MaximumLagOnFailover)
			case in.Settings.syncActive(in.Cluster) && !in.Cluster.Sync.IsSync(got.Chosen):
				fail("chosen %q not in sync", got.Chosen)
			case v.Timeline > 0 && v.Timeline < in.Cluster.Timeline():
				fail("chosen %q behind cluster timeline", got.Chosen)
			}
			for _, x := range in.Exclude {
				if x == got.Chosen {
					fail("chosen %q was excluded", got.Chosen)
				}
			}
		}
		// No eligible member is strictly better (unless the operator named one).
		if in.Candidate == "" {
			var best *Verdict
			for i, v := range got.Verdicts {
				if v.IsEligible() && (best == nil || compareRank(v, *best) < 0) {
					best = &got.Verdicts[i]
				}
			}
			switch {
			case best == nil && got.Chosen != "":
				fail("chosen %q although none eligible", got.Chosen)
			case best != nil && best.Name != got.Chosen:
				fail("chosen %q but %q is better", got.Chosen, best.Name)
			}
		} else if got.Chosen != "" && got.Chosen != in.Candidate {
			fail("named %q but chose %q", in.Candidate, got.Chosen)
		}
		// Input order does not matter.
		for range 3 {
			again := SelectCandidate(shuffled(r, in))
			if !reflect.DeepEqual(again, got) {
				fail("shuffled input changed the result:\n%+v", again)
			}
		}
	}
}

func describe(c *dcs.Cluster) string {
	s := ""
	for _, m := range c.Members {
		s += fmt.Sprintf("%s{%s %s xlog=%v rcv=%v rpl=%v tl=%v tags=%v} ", m.Name, m.State, m.Role,
			deref(m.XLogLocation), deref(m.ReceiveLSN), deref(m.ReplayLSN), deref(m.Timeline), m.Tags)
	}
	return s
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}
