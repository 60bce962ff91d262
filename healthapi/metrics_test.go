package healthapi

import (
	"strings"
	"testing"

	"github.com/pgha/pgha/dcs"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func scrape(t *testing.T, h *Handler) map[string]*dto.MetricFamily {
	t.Helper()
	w := do(h, "GET", "/metrics", "", false)
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
	cache := &StateCache{}
	h := testHandler(t, cache, nil)
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

	cache.Store(with(replicaState(), func(s *NodeState) {
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
	cache.Store(with(primaryState(), func(s *NodeState) { s.Name = "\xff" }))
	if w := do(h, "GET", "/metrics", "", false); w.Code != 500 {
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
	a, b := &StateCache{}, &StateCache{}
	a.Store(primaryState())
	b.Store(replicaState())
	ha, hb := testHandler(t, a, nil), testHandler(t, b, nil)
	if value(t, scrape(t, ha), "patroni_primary") != 1 || value(t, scrape(t, hb), "patroni_primary") != 0 {
		t.Error("handlers share metrics")
	}
}

func TestRegistererOption(t *testing.T) {
	cache := &StateCache{}
	cache.Store(primaryState())
	reg := prometheus.NewRegistry()
	h, err := New(Options{Source: cache, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if h.Registry() == reg {
		t.Fatal("handler uses the caller's registry for /metrics")
	}
	fams, err := reg.Gather()
	if err != nil || len(fams) == 0 {
		t.Fatalf("external registry: %v, %d families", err, len(fams))
	}
	// Registering the same handler's collector twice is refused, not a panic.
	if _, err := New(Options{Source: cache, Registerer: reg}); err == nil {
		t.Error("duplicate registration accepted")
	}
}
