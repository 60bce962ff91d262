package failover

import (
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
)

// TestHandOverPending: a running replica refreshes fast only while a due
// switchover may hand over to it.
func TestHandOverPending(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	later := t0.Add(time.Minute)
	obs := func(f *dcs.Failover, leader string, role Role) Observation {
		cl := &dcs.Cluster{Failover: f}
		if leader != "" {
			cl.Leader = &dcs.Leader{Name: leader}
		}
		return Observation{Now: t0, Cluster: cl, Local: LocalStatus{State: PGRunning, Role: role}}
	}
	for _, tc := range []struct {
		name string
		obs  Observation
		want bool
	}{
		{"switchover to me", obs(&dcs.Failover{Leader: "n1", Member: "n2"}, "n1", RoleReplica), true},
		{"switchover to anyone", obs(&dcs.Failover{Leader: "n1"}, "n1", RoleReplica), true},
		{"switchover to another", obs(&dcs.Failover{Leader: "n1", Member: "n3"}, "n1", RoleReplica), false},
		{"scheduled later", obs(&dcs.Failover{Leader: "n1", Member: "n2", ScheduledAt: &later}, "n1", RoleReplica), false},
		{"no failover key", obs(nil, "n1", RoleReplica), false},
		{"no leader", obs(&dcs.Failover{Member: "n2"}, "", RoleReplica), false},
		{"I am the leader", obs(&dcs.Failover{Leader: "n2", Member: "n3"}, "n2", RoleReplica), false},
		{"primary", obs(&dcs.Failover{Leader: "n1", Member: "n2"}, "n1", RolePrimary), false},
		{"no DCS", Observation{Now: t0, Local: LocalStatus{State: PGRunning, Role: RoleReplica}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := handOverPending(tc.obs, "n2"); got != tc.want {
				t.Fatalf("handOverPending = %v, want %v", got, tc.want)
			}
		})
	}
}
