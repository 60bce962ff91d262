// Package metrics serves a healthapi.StateSource as Prometheus metrics in
// Patroni's names (patroni_primary, patroni_xlog_location, ...) plus
// pgha's own (pgha_term, pgha_failovers_total, ...), computed at scrape
// time. Plug an [Exporter] into healthapi.Options.Metrics to serve it at
// GET /metrics, as Patroni's REST API does.
//
// It is a package of its own so that importing healthapi (and failover,
// which uses healthapi's types) does not pull in the Prometheus client.
package metrics

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/pgha/pgha/clock"
	"github.com/pgha/pgha/healthapi"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options configure an [Exporter]. Zero values take the defaults named.
type Options struct {
	// Version is the agent's version; as a semantic version such as
	// "4.0.2" it is the patroni_version metric (40002), as in Patroni;
	// anything else gives 0.
	Version string
	// Registerer, when set, also receives the exporter's collector (for a
	// process-wide registry); the Exporter always serves its own registry.
	Registerer prometheus.Registerer
	// Clock judges the freshness of the cached DCS view
	// (patroni_cluster_unlocked); default clock.Real().
	Clock clock.Clock
	// Logger receives scrape errors; default slog.Default().
	Logger *slog.Logger
}

// Exporter is an http.Handler serving one StateSource's metrics in
// Prometheus's text format. It is safe for concurrent use.
type Exporter struct {
	registry *prometheus.Registry
	handler  http.Handler
}

// New returns an Exporter for src, registered in a registry of its own (no
// global state: two exporters in one process do not collide).
func New(src healthapi.StateSource, o Options) (*Exporter, error) {
	if src == nil {
		return nil, healthapi.ErrNoSource
	}
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	col := newCollector(src, o.Clock, o.Version)
	reg := prometheus.NewRegistry()
	if err := reg.Register(col); err != nil {
		return nil, fmt.Errorf("metrics: registering the collector: %w", err)
	}
	if o.Registerer != nil {
		if err := o.Registerer.Register(col); err != nil {
			return nil, fmt.Errorf("metrics: registering the collector: %w", err)
		}
	}
	return &Exporter{
		registry: reg,
		handler:  promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogPromLogger{o.Logger}}),
	}, nil
}

// Registry returns the exporter's registry, so an embedder can add
// collectors of its own to /metrics.
func (e *Exporter) Registry() *prometheus.Registry { return e.registry }

// ServeHTTP implements http.Handler.
func (e *Exporter) ServeHTTP(w http.ResponseWriter, r *http.Request) { e.handler.ServeHTTP(w, r) }

// slogPromLogger adapts slog to promhttp's error logger.
type slogPromLogger struct{ log *slog.Logger }

func (l slogPromLogger) Println(v ...any) {
	l.log.Error("metrics: serving metrics", "err", fmt.Sprint(v...))
}
