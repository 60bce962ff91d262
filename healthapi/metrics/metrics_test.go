package metrics

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/clock"
	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/healthapi"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func i64(v int64) *int64 { return &v }

// cluster is n1 leading n2 (synchronous standby) and n3.
func cluster() *dcs.Cluster {
	ttl := 30.0
	return &dcs.Cluster{
		Revision: 10,
		Config:   &dcs.ClusterConfig{ModRevision: 7, TTL: &ttl},
		Leader:   &dcs.Leader{Name: "n1", Revision: 5},
		Members: []*dcs.Member{
			{Name: "n1", State: "running", Role: "primary", XLogLocation: i64(100 << 20), Timeline: i64(2)},
			{Name: "n2", State: "running", Role: "replica", ReceiveLSN: i64(100 << 20), ReplayLSN: i64(99 << 20), Timeline: i64(2)},
		},
		Sync:   &dcs.SyncState{Leader: "n1", SyncStandby: []string{"n2"}},
		Status: &dcs.Status{Optime: 100 << 20},
	}
}

// primaryState is n1 leading a healthy cluster.
func primaryState() *healthapi.NodeState {
	return &healthapi.NodeState{
		Name: "n1", Scope: "batman", Role: dcs.RolePrimary, PGState: dcs.StateRunning,
		ServerVersion: 150004, PostmasterStartTime: t0.Add(-time.Hour), SystemIdentifier: "7000000000000000001",
		Timeline: 2, XLogLocation: 100 << 20, IsLeader: true, Term: 5,
		Cluster: cluster(), DCSLastSeen: t0.Add(-time.Second), TTL: 30 * time.Second, NextRun: t0.Add(5 * time.Second),
		FailoversTotal: map[string]uint64{"switchover": 2, "failover": 1}, DCSErrorsTotal: 3,
		LoopDuration: healthapi.Histogram{Count: 4, Sum: 0.2, Buckets: map[float64]uint64{0.01: 1, 0.1: 4}},
	}
}

// replicaState is n2: streaming, 1 MiB of replay lag.
func replicaState() *healthapi.NodeState {
	return &healthapi.NodeState{
		Name: "n2", Scope: "batman", Role: dcs.RoleReplica, PGState: dcs.StateRunning,
		ServerVersion: 150004, PostmasterStartTime: t0.Add(-time.Hour), Timeline: 2,
		ReceivedLSN: 100 << 20, ReplayedLSN: 99 << 20, ReplayedTimestamp: t0.Add(-2 * time.Second),
		ReplicationState: dcs.ReplicationStreaming, LeaderLSN: 100 << 20,
		Cluster: cluster(), DCSLastSeen: t0.Add(-time.Second), TTL: 30 * time.Second, NextRun: t0.Add(5 * time.Second),
	}
}

func with(s *healthapi.NodeState, f func(*healthapi.NodeState)) *healthapi.NodeState {
	c := *s
	f(&c)
	return &c
}

// testHandler is a healthapi.Handler serving cache with an Exporter at
// /metrics, on a clock at t0.
func testHandler(t *testing.T, cache *healthapi.StateCache) http.Handler {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	exp, err := New(cache, Options{Clock: clock.NewFake(t0), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	h, err := healthapi.New(healthapi.Options{Source: cache, Metrics: exp, Clock: clock.NewFake(t0), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(h http.Handler, target string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
	return w
}

func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	w := get(h, "/metrics")
	if w.Code != 200 {
		t.Fatalf("GET /metrics = %d: %s", w.Code, w.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(w.Body.String()))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, w.Body)
	}
	return fams
}

// value returns the single sample of a gauge or counter family, checking
// its scope and name labels.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok || len(f.Metric) == 0 {
		t.Fatalf("metric %s missing", name)
	}
	m := f.Metric[0]
	labels := map[string]string{}
	for _, l := range m.Label {
		labels[l.GetName()] = l.GetValue()
	}
	if labels["scope"] != "batman" || labels["name"] == "" {
		t.Errorf("%s labels %v", name, labels)
	}
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	}
	t.Fatalf("%s is neither gauge nor counter", name)
	return 0
}

func TestMetrics(t *testing.T) {
	cache := &healthapi.StateCache{}
	h := testHandler(t, cache)
	if fams := scrape(t, h); len(fams) != 0 {
		t.Errorf("metrics before any state: %v", fams)
	}

	cache.Store(primaryState())
	fams := scrape(t, h)
	for name, want := range map[string]float64{
		"patroni_primary": 1, "patroni_replica": 0, "patroni_postgres_running": 1,
		"patroni_xlog_location": 100 << 20, "patroni_postgres_timeline": 2, "patroni_cluster_unlocked": 0,
		"patroni_is_paused": 0, "patroni_dcs_last_seen": float64(t0.Unix() - 1), "patroni_postgres_server_version": 150004,
		"patroni_postmaster_start_time": float64(t0.Unix() - 3600), "patroni_postgres_state": 5,
		"patroni_failover_priority": 1, "patroni_pending_restart": 0, "patroni_failsafe_mode_is_active": 0,
		"patroni_failsafe_mode_enabled": 0, "patroni_failsafe_member": 0, "patroni_version": 0,
		"pgha_term": 5, "pgha_is_leader": 1, "pgha_dcs_errors_total": 3,
	} {
		if got := value(t, fams, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	fo := fams["pgha_failovers_total"]
	if fo == nil || len(fo.Metric) != 2 || fo.Metric[0].Counter.GetValue() != 1 || fo.Metric[1].Counter.GetValue() != 2 {
		t.Errorf("pgha_failovers_total: %v", fo)
	}
	hist := fams["pgha_loop_duration_seconds"]
	if hist == nil || hist.Metric[0].Histogram.GetSampleCount() != 4 || hist.Metric[0].Histogram.GetSampleSum() != 0.2 {
		t.Errorf("pgha_loop_duration_seconds: %v", hist)
	}

	cache.Store(with(replicaState(), func(s *healthapi.NodeState) {
		s.ReplicationState = dcs.ReplicationArchiveRecovery
		s.Paused = true
		s.Cluster = nil
	}))
	fams = scrape(t, h)
	for name, want := range map[string]float64{
		"patroni_primary": 0, "patroni_replica": 1, "patroni_xlog_location": 0,
		"patroni_xlog_received_location": 100 << 20, "patroni_xlog_replayed_location": 99 << 20,
		"patroni_postgres_streaming": 0, "patroni_postgres_in_archive_recovery": 1,
		"patroni_cluster_unlocked": 1, "patroni_is_paused": 1, "pgha_replay_lag_bytes": 1 << 20,
		"patroni_xlog_replayed_timestamp": float64(t0.Unix() - 2),
	} {
		if got := value(t, fams, name); got != want {
			t.Errorf("replica %s = %v, want %v", name, got, want)
		}
	}

	// A label value that is not valid UTF-8 makes the scrape report an
	// error instead of panicking.
	cache.Store(with(primaryState(), func(s *healthapi.NodeState) { s.Name = "\xff" }))
	if w := get(h, "/metrics"); w.Code != 500 {
		t.Errorf("bad label: /metrics = %d", w.Code)
	}
}

func TestSemverNumber(t *testing.T) {
	for in, want := range map[string]int{
		"4.0.2": 40002, "v3.0.2": 30002, "3.3": 30300, "1.2.3-rc1": 10203, "1.2.3+abc": 10203,
		"pgha-agent": 0, "": 0, "1.2.3.4": 0, "1.100.0": 0, "x.1": 0,
	} {
		if got := semverNumber(in); got != want {
			t.Errorf("semverNumber(%q) = %d, want %d", in, got, want)
		}
	}
}

// TestMetricsRegistriesAreSeparate checks there is no global registry: two
// handlers register the same collectors without conflict.
func TestMetricsRegistriesAreSeparate(t *testing.T) {
	a, b := &healthapi.StateCache{}, &healthapi.StateCache{}
	a.Store(primaryState())
	b.Store(replicaState())
	ha, hb := testHandler(t, a), testHandler(t, b)
	if value(t, scrape(t, ha), "patroni_primary") != 1 || value(t, scrape(t, hb), "patroni_primary") != 0 {
		t.Error("handlers share metrics")
	}
}

func TestRegistererOption(t *testing.T) {
	cache := &healthapi.StateCache{}
	cache.Store(primaryState())
	reg := prometheus.NewRegistry()
	e, err := New(cache, Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if e.Registry() == reg {
		t.Fatal("exporter uses the caller's registry for /metrics")
	}
	fams, err := reg.Gather()
	if err != nil || len(fams) == 0 {
		t.Fatalf("external registry: %v, %d families", err, len(fams))
	}
	// Registering the same collector twice is refused, not a panic.
	if _, err := New(cache, Options{Registerer: reg}); err == nil {
		t.Error("duplicate registration accepted")
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("an exporter without a source was accepted")
	}
}

// Without an exporter a healthapi handler answers 404 at /metrics.
func TestNoMetricsConfigured(t *testing.T) {
	cache := &healthapi.StateCache{}
	cache.Store(primaryState())
	h, err := healthapi.New(healthapi.Options{Source: cache})
	if err != nil {
		t.Fatal(err)
	}
	if w := get(h, "/metrics"); w.Code != http.StatusNotFound {
		t.Errorf("GET /metrics without an exporter = %d, want 404", w.Code)
	}
}

func TestPostgresStateIndexFollowsPatroniOrder(t *testing.T) {
	states := []string{dcs.StateInitializing, dcs.StateInitdbFailed, dcs.StateCustomBootstrap, dcs.StateCustomBootFailed,
		dcs.StateCreatingReplica, dcs.StateRunning, dcs.StateStarting, dcs.StateBootstrapStarting, dcs.StateStartFailed,
		dcs.StateRestarting, dcs.StateRestartFailed, dcs.StateStopping, dcs.StateStopped, dcs.StateStopFailed, dcs.StateCrashed}
	for i, s := range states {
		if got := postgresStateIndex(s); got != i {
			t.Errorf("postgresStateIndex(%q) = %d, want %d", s, got, i)
		}
	}
	if postgresStateIndex("bogus") != -1 {
		t.Error("unknown state not -1")
	}
}

// Scrapes while the state changes under them (run with -race).
func TestConcurrentPublishAndScrape(t *testing.T) {
	cache := &healthapi.StateCache{}
	h := testHandler(t, cache)
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
	for range 50 {
		if c := get(h, "/metrics").Code; c != 200 {
			t.Errorf("GET /metrics = %d", c)
		}
	}
	<-done
}

// TestStandbyLeaderMetrics: the leader of a standby cluster is
// patroni_standby_leader 1, not primary and not replica.
func TestStandbyLeaderMetrics(t *testing.T) {
	cache := &healthapi.StateCache{}
	h := testHandler(t, cache)
	cache.Store(with(replicaState(), func(s *healthapi.NodeState) {
		s.Role, s.IsLeader, s.StandbyCluster = dcs.RoleStandbyLeader, true, true
	}))
	fams := scrape(t, h)
	for name, want := range map[string]float64{"patroni_standby_leader": 1, "patroni_primary": 0, "patroni_replica": 0} {
		if got := value(t, fams, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}
