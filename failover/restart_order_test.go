package failover

import (
	"slices"
	"testing"

	"github.com/pgha/pgha/dcs"
)

func TestRestartOrder(t *testing.T) {
	member := func(name, reason string) *dcs.Member {
		m := &dcs.Member{Name: name}
		if reason != "" {
			m.PendingRestart, m.PendingReason = true, []byte(reason)
		}
		return m
	}
	cluster := func(reason string) *dcs.Cluster {
		return &dcs.Cluster{Leader: &dcs.Leader{Name: "a"}, Members: []*dcs.Member{member("a", reason), member("b", reason), member("c", reason)}}
	}
	tests := []struct {
		name, reason string
		want         []string
		mixed        bool
	}{
		{"raised: replicas first", `{"max_connections":{"old_value":"100","new_value":"200"}}`, []string{"b", "c", "a"}, false},
		{"lowered: leader first", `{"max_connections":{"old_value":"200","new_value":"100"}}`, []string{"a", "b", "c"}, false},
		{"wal_level raised", `{"wal_level":{"old_value":"replica","new_value":"logical"}}`, []string{"b", "c", "a"}, false},
		{"not shared: leader last", `{"shared_buffers":{"old_value":"128MB","new_value":"64MB"}}`, []string{"b", "c", "a"}, false},
		{"mixed", `{"max_connections":{"old_value":"100","new_value":"200"},"max_wal_senders":{"old_value":"10","new_value":"5"}}`, []string{"b", "c", "a"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, mixed := RestartOrder(cluster(tt.reason), []string{"a", "b", "c"})
			if !slices.Equal(got, tt.want) || mixed != tt.mixed {
				t.Fatalf("order %v mixed %v, want %v %v", got, mixed, tt.want, tt.mixed)
			}
		})
	}
}
