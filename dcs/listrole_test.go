package dcs

import "testing"

func TestListRole(t *testing.T) {
	mode := func(m string) *ClusterConfig { return &ClusterConfig{SynchronousMode: &m} }
	sync := &SyncState{Leader: "a", SyncStandby: []string{"b"}}
	tests := []struct {
		name    string
		cluster Cluster
		member  string
		standby bool
		want    string
	}{
		{"leader", Cluster{Leader: &Leader{Name: "a"}}, "a", false, "leader"},
		{"standby leader", Cluster{Leader: &Leader{Name: "a"}}, "a", true, "standby_leader"},
		{"no leader key", Cluster{Sync: sync, Config: mode("on")}, "a", false, "sync_standby"},
		{"sync standby", Cluster{Leader: &Leader{Name: "a"}, Sync: sync, Config: mode("on")}, "b", false, "sync_standby"},
		{"quorum standby", Cluster{Leader: &Leader{Name: "a"}, Sync: sync, Config: mode("quorum")}, "b", false, "quorum_standby"},
		{"sync key but mode off", Cluster{Leader: &Leader{Name: "a"}, Sync: sync}, "b", false, "replica"},
		{"not in the sync key", Cluster{Leader: &Leader{Name: "a"}, Sync: sync, Config: mode("on")}, "c", false, "replica"},
		{"replica in a standby cluster", Cluster{Leader: &Leader{Name: "a"}}, "c", true, "replica"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cluster.ListRole(tt.member, tt.standby); got != tt.want {
				t.Errorf("ListRole(%q, %v) = %q, want %q", tt.member, tt.standby, got, tt.want)
			}
		})
	}
}
