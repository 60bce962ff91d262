package etcdembed

import (
	"strings"
	"testing"
)

func TestAgreedLeader(t *testing.T) {
	tests := []struct {
		name    string
		ids     []uint64
		views   []uint64
		want    int
		wantErr string
	}{
		{name: "single member", ids: []uint64{7}, views: []uint64{7}, want: 0},
		{name: "agree on second", ids: []uint64{7, 8, 9}, views: []uint64{8, 8, 8}, want: 1},
		{name: "none", wantErr: "no running member"},
		{name: "disagree", ids: []uint64{7, 8}, views: []uint64{7, 8}, wantErr: "disagree"},
		{name: "no leader yet", ids: []uint64{7, 8}, views: []uint64{0, 0}, wantErr: "not a running member"},
		{name: "leader elsewhere", ids: []uint64{7, 8}, views: []uint64{9, 9}, wantErr: "not a running member"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := agreedLeader(tt.ids, tt.views)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("agreedLeader error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("agreedLeader = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}
