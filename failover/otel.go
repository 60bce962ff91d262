package failover

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// instrumentationName names the tracer and meter of this package.
const instrumentationName = "github.com/pgha/pgha/failover"

// instruments are the Controller's OpenTelemetry tracer and metrics (API
// only: the embedder chooses the SDK).
type instruments struct {
	tracer    trace.Tracer
	decisions metric.Int64Counter
	cycles    metric.Float64Histogram
}

func newInstruments(tp trace.TracerProvider, mp metric.MeterProvider, log *slog.Logger) instruments {
	in := instruments{tracer: tp.Tracer(instrumentationName)}
	m := mp.Meter(instrumentationName)
	var err error
	if in.decisions, err = m.Int64Counter("pgha.failover.decisions",
		metric.WithDescription("HA loop decisions by action and reason code")); err != nil {
		log.Warn("failover: creating metric", "err", err)
	}
	if in.cycles, err = m.Float64Histogram("pgha.failover.cycle.duration", metric.WithUnit("s"),
		metric.WithDescription("duration of HA loop cycles")); err != nil {
		log.Warn("failover: creating metric", "err", err)
	}
	return in
}

func (in instruments) decision(ctx context.Context, d Decision) {
	if in.decisions != nil {
		in.decisions.Add(ctx, 1, metric.WithAttributes(attribute.String("action", d.Action.String()), attribute.String("code", string(d.Code))))
	}
}

func (in instruments) cycleDuration(ctx context.Context, d time.Duration) {
	if in.cycles != nil {
		in.cycles.Record(ctx, d.Seconds())
	}
}
