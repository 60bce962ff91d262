package failover

import (
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/pg"
)

// POST /reinitialize with from_leader makes the next clone copy from the
// leader even when a clonefrom member runs; without it the clonefrom
// member is chosen, as before. A successful clone ends the request.
func TestReinitializeFromLeader(t *testing.T) {
	wiped := func(fromLeader bool) LocalStatus {
		m := memory{}.wiped(fromLeader)
		return m.local(sighting{Status: pg.Status{State: pg.StateStopped}, StatusKnown: true, DataEmpty: true, At: time.Unix(0, 0)})
	}
	for _, tc := range []struct {
		name       string
		fromLeader bool
		leaderUp   bool
		action     Action
		target     string
	}{
		{"from_leader: the leader, not the clonefrom member", true, true, ActionClone, "a"},
		{"without from_leader: the clonefrom member", false, true, ActionClone, "c"},
		{"from_leader with the leader not running: wait, no fallback to clonefrom", true, false, ActionWait, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := replicaObs()
			o.Cluster.Member("c").Tags = dcs.Tags{dcs.TagCloneFrom: true}
			if !tc.leaderUp {
				o.Cluster.Member("a").State = dcs.StateStopped
			}
			o.Local = wiped(tc.fromLeader)
			if o.Local.CloneFromLeader != tc.fromLeader || !o.Local.DataEmpty {
				t.Fatalf("local status after wiped(%v): %+v", tc.fromLeader, o.Local)
			}
			d := Decide(o)
			if d.Action != tc.action || d.Target != tc.target {
				t.Fatalf("decision %v target %q (%s), want %v %q", d.Action, d.Target, d.Reason, tc.action, tc.target)
			}
		})
	}
	if m := (memory{}).wiped(true).cloned("a", 2); m.cloneFromLeader {
		t.Error("a successful clone must end the from_leader request")
	}
}
