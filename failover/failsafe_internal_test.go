package failover

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/pgha/pgha/dcs"
)

func TestFailsafeTargets(t *testing.T) {
	m := func(name, api string) *dcs.Member { return &dcs.Member{Name: name, APIURL: api} }
	tests := []struct {
		name        string
		cl          *dcs.Cluster
		written     dcs.Failsafe
		want        []string
		unreachable []string
	}{
		{"no view", nil, nil, nil, nil},
		{"members while the key is empty",
			&dcs.Cluster{Members: []*dcs.Member{m("a", "http://a"), m("b", "http://b"), m("c", "")}}, nil,
			[]string{"b"}, []string{"c"}},
		{"the key lists a member whose member key expired",
			&dcs.Cluster{Members: []*dcs.Member{m("a", "http://a")}, Failsafe: dcs.Failsafe{"a": "http://a", "b": "http://b"}}, nil,
			[]string{"b"}, nil},
		{"a member the key does not list yet",
			&dcs.Cluster{Members: []*dcs.Member{m("a", "http://a"), m("d", "http://d")}, Failsafe: dcs.Failsafe{"a": "http://a"}}, nil,
			[]string{"d"}, nil},
		{"the key this node wrote after the snapshot it read",
			&dcs.Cluster{Members: []*dcs.Member{m("a", "http://a")}, Failsafe: dcs.Failsafe{"a": "http://a"}},
			dcs.Failsafe{"a": "http://a", "c": "http://c"},
			[]string{"c"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, unreachable := failsafeTargets(tt.cl, tt.written, "a")
			names := slices.Sorted(maps.Keys(got))
			if fmt.Sprint(names) != fmt.Sprint(tt.want) || fmt.Sprint(unreachable) != fmt.Sprint(tt.unreachable) {
				t.Errorf("targets %v unreachable %v, want %v and %v", names, unreachable, tt.want, tt.unreachable)
			}
		})
	}
}
