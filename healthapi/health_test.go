package healthapi

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
)

func TestHealthEndpoints(t *testing.T) {
	stale := func(s *NodeState) { s.DCSLastSeen = t0.Add(-time.Minute) }
	states := map[string]*NodeState{
		"nil":     nil,
		"primary": primaryState(),
		// A primary whose PostgreSQL crashed still answers /primary while
		// it holds the lock, as in Patroni.
		"primary-crashed": with(primaryState(), func(s *NodeState) { s.PGState = dcs.StateCrashed }),
		"primary-no-lock": with(primaryState(), func(s *NodeState) { s.IsLeader = false }),
		"replica":         replicaState(),
		"replica-archive": with(replicaState(), func(s *NodeState) { s.ReplicationState = dcs.ReplicationArchiveRecovery }),
		"replica-far":     with(replicaState(), func(s *NodeState) { s.ReplayedLSN = 10 << 20 }),
		"replica-paused":  with(replicaState(), func(s *NodeState) { s.ReplayPaused = true }),
		"replica-stopped": with(replicaState(), func(s *NodeState) { s.PGState = dcs.StateStopped }),
		"replica-noload":  with(replicaState(), func(s *NodeState) { s.Tags = dcs.Tags{"noloadbalance": "yes"} }),
		"replica-sync":    with(replicaState(), func(s *NodeState) { s.Cluster = cluster("on") }),
		"replica-quorum":  with(replicaState(), func(s *NodeState) { s.Cluster = cluster("quorum") }),
		"replica-stale":   with(replicaState(), stale),
		"standby-leader": with(replicaState(), func(s *NodeState) {
			s.Role, s.IsLeader, s.StandbyCluster = dcs.RoleStandbyLeader, true, true
		}),
		"paused-primary-no-dcs": with(primaryState(), func(s *NodeState) { s.IsLeader, s.Paused = false, true; stale(s) }),
		"loop-stuck":            with(replicaState(), func(s *NodeState) { s.NextRun = t0.Add(-61 * time.Second) }),
		"primary-loop-slow":     with(primaryState(), func(s *NodeState) { s.NextRun = t0.Add(-31 * time.Second) }),
	}
	// want lists the paths answering 200; every other path answers 503.
	paths := []string{"/", "/primary", "/master", "/read-write", "/leader", "/standby-leader", "/standby_leader",
		"/replica", "/read-only", "/sync", "/synchronous", "/quorum", "/async", "/asynchronous",
		"/read-only-sync", "/read-only-quorum", "/health", "/liveness", "/readiness", "/streaming",
		"/replica?lag=1MB", "/replica?lag=1048575", "/replica?replication_state=streaming",
		"/replica?tag_zone=a", "/replica?tag_zone=b", "/replica?tag_clonefrom=true", "/replica?tag_missing=x",
		"/streaming?lag=16MB", "/readiness?lag=0", "/readiness?mode=write&lag=0"}
	primaryOK := []string{"/", "/primary", "/master", "/read-write", "/leader", "/read-only", "/read-only-sync",
		"/read-only-quorum", "/readiness", "/readiness?lag=0", "/readiness?mode=write&lag=0"}
	replicaOK := []string{"/replica", "/read-only", "/async", "/asynchronous", "/health", "/liveness", "/readiness",
		"/streaming", "/replica?lag=1MB", "/replica?replication_state=streaming", "/replica?tag_zone=a",
		"/replica?tag_clonefrom=true", "/streaming?lag=16MB", "/readiness?mode=write&lag=0"}
	minus := func(list []string, drop ...string) []string {
		var out []string
	next:
		for _, p := range list {
			for _, d := range drop {
				if p == d {
					continue next
				}
			}
			out = append(out, p)
		}
		return out
	}
	plus := func(list []string, add ...string) []string { return append(append([]string(nil), list...), add...) }
	want := map[string][]string{
		"nil":             nil,
		"primary":         plus(primaryOK, "/health", "/liveness"),
		"primary-crashed": plus(primaryOK, "/liveness"),
		"primary-no-lock": {"/health", "/liveness"},
		"replica":         replicaOK,
		"replica-archive": minus(replicaOK, "/streaming", "/replica?replication_state=streaming", "/streaming?lag=16MB",
			"/readiness", "/readiness?mode=write&lag=0"),
		"replica-far":     minus(replicaOK, "/replica?lag=1MB", "/streaming?lag=16MB", "/readiness"),
		"replica-paused":  minus(replicaOK, "/streaming", "/streaming?lag=16MB"),
		"replica-stopped": {"/liveness"},
		"replica-noload": minus(replicaOK, "/replica", "/read-only", "/async", "/asynchronous", "/streaming",
			"/replica?lag=1MB", "/replica?replication_state=streaming", "/replica?tag_zone=a",
			"/replica?tag_clonefrom=true", "/streaming?lag=16MB"),
		"replica-sync":   plus(minus(replicaOK, "/async", "/asynchronous"), "/sync", "/synchronous", "/read-only-sync"),
		"replica-quorum": plus(minus(replicaOK, "/async", "/asynchronous"), "/quorum", "/read-only-quorum"),
		// A stale DCS view fails the DCS-dependent checks only.
		"replica-stale": minus(replicaOK, "/async", "/asynchronous"),
		"standby-leader": {"/leader", "/standby-leader", "/standby_leader", "/read-only", "/health", "/liveness",
			"/readiness", "/readiness?lag=0", "/readiness?mode=write&lag=0"},
		"paused-primary-no-dcs": {"/", "/primary", "/master", "/read-write", "/leader", "/health", "/liveness"},
		"loop-stuck":            minus(replicaOK, "/liveness"),
		"primary-loop-slow":     plus(primaryOK, "/health"),
	}
	for name, st := range states {
		cache := &StateCache{}
		cache.Store(st)
		h := testHandler(t, cache, nil)
		ok := map[string]bool{}
		for _, p := range want[name] {
			ok[p] = true
		}
		for _, p := range paths {
			code := http.StatusServiceUnavailable
			if ok[p] {
				code = http.StatusOK
			}
			for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodOptions} {
				w := do(h, m, p, "", false)
				if w.Code != code {
					t.Errorf("%s: %s %s = %d, want %d", name, m, p, w.Code, code)
					continue
				}
				if m != http.MethodGet {
					if w.Body.Len() != 0 {
						t.Errorf("%s: %s %s has a body %q", name, m, p, w.Body)
					}
					continue
				}
				var doc map[string]any
				if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
					t.Errorf("%s: GET %s body: %v", name, p, err)
					continue
				}
				if _, ok := doc["state"]; !ok {
					t.Errorf("%s: GET %s body has no state: %s", name, p, w.Body)
				}
			}
		}
	}
}

func TestHealthBadQueryAndMethods(t *testing.T) {
	cache := &StateCache{}
	cache.Store(replicaState())
	h := testHandler(t, cache, nil)
	for _, tc := range []struct {
		method, target string
		code           int
	}{
		{"GET", "/replica?lag=ten", 400},
		{"GET", "/replica?lag=10XB", 400},
		{"GET", "/replica?lag=-1", 400},
		{"GET", "/readiness?mode=fast", 400},
		{"POST", "/replica", 405},
		{"DELETE", "/primary", 405},
		{"GET", "/nonexistent", 404},
		{"GET", "/replica/", 200},
		{"GET", "/patroni", 200},
		{"HEAD", "/patroni", 200},
		{"POST", "/patroni", 405},
		{"PUT", "/metrics", 405},
		{"GET", "/switchover", 405},
		{"PUT", "/restart", 405},
		{"GET", "/reload", 405},
		{"POST", "/config", 405},
	} {
		w := do(h, tc.method, tc.target, "", false)
		if w.Code != tc.code {
			t.Errorf("%s %s = %d, want %d (%s)", tc.method, tc.target, w.Code, tc.code, w.Body)
		}
		if w.Code == 405 && w.Header().Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow", tc.method, tc.target)
		}
	}
}

// TestHealthFollowsPublishedState checks that a new snapshot changes the
// answer at once: the handler holds no state of its own.
func TestHealthFollowsPublishedState(t *testing.T) {
	cache := &StateCache{}
	h := testHandler(t, cache, nil)
	if c := do(h, "HEAD", "/primary", "", false).Code; c != 503 {
		t.Fatalf("before any state: %d", c)
	}
	cache.Store(primaryState())
	if c := do(h, "HEAD", "/primary", "", false).Code; c != 200 {
		t.Fatalf("as primary: %d", c)
	}
	cache.Store(with(primaryState(), func(s *NodeState) { s.IsLeader = false; s.Role = dcs.RoleDemoted }))
	if c := do(h, "HEAD", "/primary", "", false).Code; c != 503 {
		t.Fatalf("after losing the lease: %d", c)
	}
}

// TestConcurrentPublishAndServe runs checks while the producer publishes, for
// the race detector.
func TestConcurrentPublishAndServe(t *testing.T) {
	cache := &StateCache{}
	h := testHandler(t, cache, nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 500 {
			if i%2 == 0 {
				cache.Store(primaryState())
			} else {
				cache.Store(replicaState())
			}
		}
	}()
	// /metrics: healthapi/metrics has its own concurrency test.
	for _, p := range []string{"/primary", "/replica?lag=1MB", "/patroni", "/cluster", "/readiness"} {
		for range 20 {
			if c := do(h, "GET", p, "", false).Code; c != 200 && c != 503 {
				t.Errorf("GET %s = %d", p, c)
			}
		}
	}
	<-done
}
