package failover

import (
	"testing"

	"github.com/pgha/pgha/dcs"
)

// A nostream member replays from the archive and publishes no receive
// LSN: it is a candidate like any replica, ranked and lag-checked by its
// replay LSN, unless nofailover.
func TestNoStreamCandidate(t *testing.T) {
	const mib = 1 << 20
	nostream := func(name string, replay int64, extra dcs.Tags) *dcs.Member {
		m := replica(name, replay, 1, dcs.Tags{dcs.TagNoStream: true})
		for k, v := range extra {
			m.Tags[k] = v
		}
		m.ReceiveLSN, m.ReplicationState = nil, dcs.ReplicationArchiveRecovery
		return m
	}
	for _, tc := range []struct {
		name    string
		members []*dcs.Member
		optime  int64
		chosen  string
		reasons map[string]Exclusion
	}{
		{"replayed most: chosen", []*dcs.Member{nostream("a", 300, nil), replica("b", 200, 1, nil)}, 0, "a", nil},
		{"behind a streaming replica: eligible, not chosen", []*dcs.Member{nostream("a", 100, nil), replica("b", 300, 1, nil)}, 0, "b",
			map[string]Exclusion{"a": ""}},
		{"lagging by its replay LSN: excluded", []*dcs.Member{nostream("a", 100, nil), replica("b", 3*mib, 1, nil)}, 3 * mib, "b",
			map[string]Exclusion{"a": ExclLag}},
		{"nofailover still wins over nostream", []*dcs.Member{nostream("a", 900, dcs.Tags{dcs.TagNoFailover: true}), replica("b", 100, 1, nil)}, 0, "b",
			map[string]Exclusion{"a": ExclNoFailover}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := cluster(tc.members...)
			cl.Status = &dcs.Status{Optime: tc.optime}
			s := DefaultSettings()
			res := SelectCandidate(CandidateInput{Cluster: cl, Settings: s})
			if res.Chosen != tc.chosen {
				t.Fatalf("chosen %q, want %q: %+v", res.Chosen, tc.chosen, res)
			}
			for name, want := range tc.reasons {
				v, ok := res.Verdict(name)
				if !ok || v.Reason != want {
					t.Errorf("%s: verdict %+v, want reason %q", name, v, want)
				}
			}
		})
	}
}
