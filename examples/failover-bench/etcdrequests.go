package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// etcdRequestMetric counts, per gRPC method, the calls the embedded etcd
// members started: one per unary request (Range, Put, Txn, LeaseGrant,
// ...) and one per stream. Each lease keepalive of the agents is a
// LeaseKeepAliveOnce, which opens a LeaseKeepAlive stream for its one
// message; a Watch stream is opened once and then costs nothing per
// second. (grpc_server_msg_received_total would count a keepalive twice:
// its message and the end of the stream.) etcd registers the metric in the
// process's default Prometheus registry, and all embedded members share
// it, so it is the whole cluster's figure.
const etcdRequestMetric = "grpc_server_started_total"

// etcdRequests returns the requests received so far by the embedded etcd
// members of this process, by gRPC method ("Range", "LeaseKeepAlive").
func etcdRequests(g prometheus.Gatherer) (map[string]float64, error) {
	mfs, err := g.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather etcd metrics: %w", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != etcdRequestMetric {
			continue
		}
		for _, m := range mf.GetMetric() {
			method := label(m, "grpc_method")
			if v := m.GetCounter().GetValue(); v > 0 {
				out[method] += v
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("no %s in the default registry: is etcd embedded in this process?", etcdRequestMetric)
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// EtcdRate is the rate of requests to etcd over the idle period.
type EtcdRate struct {
	// PerSecond is every request of every client (the agents; the bench
	// makes none while idle) to all members, per second.
	PerSecond float64 `json:"per_s"`
	// ByMethod splits it by gRPC method; methods with no request are left
	// out.
	ByMethod map[string]float64 `json:"by_method_per_s"`
}

// etcdRate is the difference between two readings of etcdRequests taken
// seconds apart.
func etcdRate(before, after map[string]float64, seconds float64) EtcdRate {
	r := EtcdRate{ByMethod: map[string]float64{}}
	if seconds <= 0 {
		return r
	}
	for m, v := range after {
		if d := v - before[m]; d > 0 {
			r.ByMethod[m] = d / seconds
			r.PerSecond += d / seconds
		}
	}
	return r
}

// String renders the rate as "9.10/s (LeaseKeepAlive 3.00, Range 3.00, ...)",
// the largest first.
func (r EtcdRate) String() string {
	methods := slices.Sorted(maps.Keys(r.ByMethod))
	slices.SortStableFunc(methods, func(a, b string) int {
		switch {
		case r.ByMethod[a] > r.ByMethod[b]:
			return -1
		case r.ByMethod[a] < r.ByMethod[b]:
			return 1
		}
		return 0
	})
	parts := make([]string, 0, len(methods))
	for _, m := range methods {
		parts = append(parts, fmt.Sprintf("%s %.2f", m, r.ByMethod[m]))
	}
	return fmt.Sprintf("%.2f/s (%s)", r.PerSecond, strings.Join(parts, ", "))
}
