package healthapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pgha/pgha/dcs"
)

// liveSource answers State from its cache and LiveState with fresher
// positions (or nil).
type liveSource struct {
	cached, live *NodeState
}

func (l liveSource) State() *NodeState                        { return l.cached }
func (l liveSource) LiveState(ctx context.Context) *NodeState { return l.live }

// TestPatroniServesLiveState: GET /patroni serves a LiveSource's fresh
// positions, and the cached state when LiveState has none.
func TestPatroniServesLiveState(t *testing.T) {
	cached := &NodeState{Name: "a", Role: dcs.RoleReplica, PGState: dcs.StateRunning, ReceivedLSN: 100, ReplayedLSN: 100}
	fresh := *cached
	fresh.ReceivedLSN, fresh.ReplayedLSN = 200, 150
	tests := []struct {
		name         string
		live         *NodeState
		wantRecv     int64
		wantReplayed int64
	}{
		{"live", &fresh, 200, 150},
		{"no live state", nil, 100, 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := New(Options{Source: liveSource{cached: cached, live: tc.live}, Logger: quiet()})
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/patroni", nil))
			var doc struct {
				XLog struct {
					Received int64 `json:"received_location"`
					Replayed int64 `json:"replayed_location"`
				} `json:"xlog"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
				t.Fatalf("decode %s: %v", rec.Body, err)
			}
			if doc.XLog.Received != tc.wantRecv || doc.XLog.Replayed != tc.wantReplayed {
				t.Fatalf("xlog %+v, want received %d replayed %d", doc.XLog, tc.wantRecv, tc.wantReplayed)
			}
		})
	}
}
