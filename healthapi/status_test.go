package healthapi

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/pgha/pgha/dcs"
)

func getJSON(t *testing.T, h http.Handler, target string, wantCode int) map[string]any {
	t.Helper()
	w := do(h, "GET", target, "", false)
	if w.Code != wantCode {
		t.Fatalf("GET %s = %d, want %d: %s", target, w.Code, wantCode, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET %s: Content-Type %q", target, ct)
	}
	var v map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("GET %s: %v: %s", target, err, w.Body)
	}
	return v
}

func TestPatroniStatus(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state *NodeState
		want  map[string]any
		none  []string
	}{
		{"primary", primaryState(), map[string]any{
			"state": "running", "role": "primary", "server_version": 150004.0, "timeline": 2.0,
			"postmaster_start_time":      "2025-03-01 11:00:00+00:00",
			"xlog":                       map[string]any{"location": float64(100 << 20)},
			"database_system_identifier": "7000000000000000001",
			"dcs_last_seen":              float64(t0.Unix() - 1),
			"patroni":                    map[string]any{"version": "pgha", "scope": "batman", "name": "n1"},
		}, []string{"cluster_unlocked", "replication_state", "pause", "sync_standby"}},
		{"replica", with(replicaState(), func(s *NodeState) { s.Cluster = cluster("on") }), map[string]any{
			"role": "replica", "replication_state": "streaming", "sync_standby": true,
			"xlog": map[string]any{"received_location": float64(100 << 20), "replayed_location": float64(99 << 20),
				"replayed_timestamp": "2025-03-01 11:59:58+00:00", "paused": false},
			"tags": map[string]any{"zone": "a", "clonefrom": true},
		}, []string{"quorum_standby"}},
		{"stopped", with(replicaState(), func(s *NodeState) { s.PGState = dcs.StateStopped; s.Paused = true }), map[string]any{
			"state": "stopped", "role": "replica", "pause": true,
		}, []string{"xlog", "timeline", "server_version", "replication_state"}},
		{"unlocked", with(replicaState(), func(s *NodeState) { s.Cluster.Leader = nil }), map[string]any{
			"cluster_unlocked": true,
		}, nil},
		{"none", nil, map[string]any{"state": "unknown", "cluster_unlocked": true}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := &StateCache{}
			if tc.state != nil {
				cache.Store(tc.state)
			}
			got := getJSON(t, testHandler(t, cache, nil), "/patroni", 200)
			for k, v := range tc.want {
				if !reflect.DeepEqual(got[k], v) {
					t.Errorf("%s = %#v, want %#v", k, got[k], v)
				}
			}
			for _, k := range tc.none {
				if _, ok := got[k]; ok {
					t.Errorf("unexpected %s = %v", k, got[k])
				}
			}
		})
	}
}

func TestClusterHistoryConfigFailsafe(t *testing.T) {
	st := primaryState()
	st.Cluster = cluster("on")
	st.Cluster.Config.FailsafeMode = bptr(true)
	st.Cluster.Config.Pause = bptr(true)
	st.Cluster.Failsafe = dcs.Failsafe{"n1": "http://10.0.0.1:8008/patroni"}
	cache := &StateCache{}
	cache.Store(st)
	h := testHandler(t, cache, nil)

	c := getJSON(t, h, "/cluster", 200)
	if c["scope"] != "batman" || c["pause"] != true {
		t.Errorf("cluster header: %v", c)
	}
	members := c["members"].([]any)
	if len(members) != 3 {
		t.Fatalf("members: %v", members)
	}
	want := []map[string]any{
		{"name": "n1", "role": "leader", "state": "running", "host": "10.0.0.1", "port": 5432.0, "timeline": 2.0},
		{"name": "n2", "role": "sync_standby", "state": "streaming", "port": 5433.0, "receive_lsn": "0/6400000",
			"receive_lag": 0.0, "replay_lsn": "0/6300000", "replay_lag": float64(1 << 20), "lag": 0.0},
		{"name": "n3", "role": "replica", "port": 5432.0, "lsn": "unknown", "lag": "unknown",
			"tags": map[string]any{"nofailover": true}},
	}
	for i, w := range want {
		m := members[i].(map[string]any)
		for k, v := range w {
			if !reflect.DeepEqual(m[k], v) {
				t.Errorf("member %d %s = %#v, want %#v", i, k, m[k], v)
			}
		}
	}
	if _, ok := members[0].(map[string]any)["lag"]; ok {
		t.Errorf("leader has a lag")
	}

	w := do(h, "GET", "/history", "", false)
	var hist [][]any
	if err := json.Unmarshal(w.Body.Bytes(), &hist); err != nil || w.Code != 200 || len(hist) != 1 || hist[0][4] != "n1" {
		t.Errorf("history: %d %s %v", w.Code, w.Body, err)
	}

	cfg := getJSON(t, h, "/config", 200)
	if cfg["ttl"] != 30.0 || cfg["synchronous_mode"] != true || cfg["failsafe_mode"] != true {
		t.Errorf("config: %v", cfg)
	}
	fs := getJSON(t, h, "/failsafe", 200)
	if fs["n1"] != "http://10.0.0.1:8008/patroni" {
		t.Errorf("failsafe: %v", fs)
	}

	// Without a snapshot: empty members and history, 502 for config and
	// failsafe, as Patroni.
	empty := testHandler(t, &StateCache{}, nil)
	if m := getJSON(t, empty, "/cluster", 200)["members"].([]any); len(m) != 0 {
		t.Errorf("members without state: %v", m)
	}
	for target, code := range map[string]int{"/history": 200, "/config": 502, "/failsafe": 502} {
		if w := do(empty, "GET", target, "", false); w.Code != code {
			t.Errorf("GET %s without state = %d, want %d", target, w.Code, code)
		}
	}
}

func TestFormatLSN(t *testing.T) {
	for in, want := range map[int64]string{0: "0/0", 0x16B374D848: "16/B374D848", 100 << 20: "0/6400000"} {
		if got := FormatLSN(in); got != want {
			t.Errorf("FormatLSN(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestClusterScheduledSwitchover(t *testing.T) {
	st := primaryState()
	at := t0.Add(3600e9)
	st.Cluster.Failover = &dcs.Failover{Leader: "n1", Member: "n2", ScheduledAt: &at}
	st.StandbyCluster = true
	cache := &StateCache{}
	cache.Store(st)
	c := getJSON(t, testHandler(t, cache, nil), "/cluster", 200)
	want := map[string]any{"at": "2025-03-01T13:00:00+00:00", "from": "n1", "to": "n2"}
	if !reflect.DeepEqual(c["scheduled_switchover"], want) {
		t.Errorf("scheduled_switchover = %v, want %v", c["scheduled_switchover"], want)
	}
	if role := c["members"].([]any)[0].(map[string]any)["role"]; role != "standby_leader" {
		t.Errorf("leader of a standby cluster has role %v", role)
	}
}
