package main

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestEtcdRequests(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := etcdRequests(reg); err == nil {
		t.Fatalf("etcdRequests on a registry without the metric: no error")
	}
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: etcdRequestMetric},
		[]string{"grpc_method", "grpc_service", "grpc_type"})
	reg.MustRegister(c)
	c.WithLabelValues("Range", "etcdserverpb.KV", "unary").Add(30)
	c.WithLabelValues("LeaseKeepAlive", "etcdserverpb.Lease", "bidi_stream").Add(60)
	c.WithLabelValues("Put", "etcdserverpb.KV", "unary")
	before, err := etcdRequests(reg)
	if err != nil {
		t.Fatal(err)
	}
	c.WithLabelValues("Range", "etcdserverpb.KV", "unary").Add(5)
	c.WithLabelValues("LeaseKeepAlive", "etcdserverpb.Lease", "bidi_stream").Add(30)
	after, err := etcdRequests(reg)
	if err != nil {
		t.Fatal(err)
	}
	r := etcdRate(before, after, 10)
	for _, tc := range []struct {
		method string
		want   float64
	}{{"Range", 0.5}, {"LeaseKeepAlive", 3}, {"Put", 0}} {
		if got := r.ByMethod[tc.method]; got != tc.want {
			t.Errorf("%s: %v/s, want %v", tc.method, got, tc.want)
		}
	}
	if r.PerSecond != 3.5 {
		t.Errorf("total %v/s, want 3.5", r.PerSecond)
	}
	if got, want := r.String(), "3.50/s (LeaseKeepAlive 3.00, Range 0.50)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
