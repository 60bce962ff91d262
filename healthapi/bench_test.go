package healthapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkPrimaryLoopback measures GET /primary through a real loopback
// HTTP server with concurrent keep-alive clients, as a fleet of HAProxies
// would check it. It reports requests per second and the p99 latency; run
// with -cpu 1 for the one-core figure.
func BenchmarkPrimaryLoopback(b *testing.B) {
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		b.Run(method, func(b *testing.B) {
			cache := &StateCache{}
			cache.Store(primaryState())
			addr := serve(b, NewServer(testHandler(b, cache, nil), ServerOptions{Logger: quiet()}), false)
			const clients = 16
			tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
			b.Cleanup(tr.CloseIdleConnections)
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			url := "http://" + addr + "/primary"

			var next atomic.Int64
			lat := make([][]time.Duration, clients)
			var wg sync.WaitGroup
			var failed atomic.Int64
			b.ResetTimer()
			start := time.Now()
			for g := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						t := time.Now()
						req, _ := http.NewRequest(method, url, nil)
						resp, err := c.Do(req)
						if err != nil {
							failed.Add(1)
							continue
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 200 {
							failed.Add(1)
						}
						lat[g] = append(lat[g], time.Since(t))
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d requests failed", n)
			}
			all := slices.Concat(lat...)
			slices.Sort(all)
			if len(all) > 0 {
				b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
		})
	}
}

// BenchmarkPrimaryHandler measures the handler alone (no network).
func BenchmarkPrimaryHandler(b *testing.B) {
	cache := &StateCache{}
	cache.Store(primaryState())
	h := testHandler(b, cache, nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := httptest.NewRequest(http.MethodGet, "/primary", nil)
		for pb.Next() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Errorf("status %d", w.Code)
				return
			}
		}
	})
}
