package election

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/internal/testutil"
)

// countingStore counts keepalive requests.
type countingStore struct {
	dcs.Store
	keepalives atomic.Int64
}

func (s *countingStore) KeepAlive(ctx context.Context, id dcs.LeaseID) error {
	s.keepalives.Add(1)
	return s.Store.KeepAlive(ctx, id)
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// expiryOpts use etcd's smallest TTL so that 50 expiries fit in a minute.
var expiryOpts = Options{
	TTL:               time.Second,
	KeepAliveInterval: 200 * time.Millisecond,
	RequestTimeout:    250 * time.Millisecond,
	Margin:            200 * time.Millisecond,
	RetryInterval:     500 * time.Millisecond,
}

// BenchmarkElection prints, on a 3-member embedded etcd, the acquisition
// latency after a resign and after a lease expiry (p50/p99 over 50 rounds
// each), and the keepalive requests per second of a holder at default
// settings. It runs the rounds once whatever b.N is; use -benchtime 1x.
func BenchmarkElection(b *testing.B) {
	ec := testutil.StartEtcd(b, 3)
	const rounds = 50

	b.Run("resign", func(b *testing.B) {
		for range b.N {
			lat := handoverRounds(b, ec, "bench-resign", Options{}, rounds, func(t *Term, _ *Candidate) time.Time {
				start := time.Now()
				if err := t.Resign(context.Background()); err != nil {
					b.Fatalf("resign: %v", err)
				}
				return start
			})
			b.ReportMetric(float64(percentile(lat, 0.5).Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
		}
	})

	b.Run("expiry", func(b *testing.B) {
		for range b.N {
			// The holder stops (keepalives and timers frozen); latency is
			// counted from the earliest moment etcd may expire its lease:
			// its last successful keepalive's send time + TTL.
			var frozen *Candidate
			lat := handoverRounds(b, ec, "bench-expiry", expiryOpts, rounds, func(t *Term, c *Candidate) time.Time {
				frozen = c
				c.freeze()
				return t.Deadline().Add(expiryOpts.Margin)
			})
			frozen.thaw()
			b.ReportMetric(float64(percentile(lat, 0.5).Microseconds())/1000, "p50-ms-after-ttl")
			b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms-after-ttl")
			b.ReportMetric(expiryOpts.TTL.Seconds(), "ttl-s")
		}
	})

	b.Run("keepalive", func(b *testing.B) {
		for range b.N {
			cs := &countingStore{Store: newEtcdStore(b, ec.Endpoints(), "bench-keepalive")}
			c := newEtcdCandidate(b, cs, "holder", Options{})
			if _, err := c.Campaign(context.Background()); err != nil {
				b.Fatal(err)
			}
			start, n0 := time.Now(), cs.keepalives.Load()
			window := 5 * DefaultKeepAliveInterval
			testutil.EventuallyEvery(b, window+10*time.Second, 50*time.Millisecond, func() error {
				if time.Since(start) < window {
					return fmt.Errorf("measuring")
				}
				return nil
			}, "measurement window")
			rate := float64(cs.keepalives.Load()-n0) / time.Since(start).Seconds()
			c.Close()
			b.ReportMetric(rate, "keepalives/s/holder")
		}
	})
}

// handoverRounds runs rounds of: holder acquired, a waiter campaigning, then
// release(holder term) returns the reference instant; the latency is the
// waiter's acquisition minus that instant. Roles alternate between two
// candidates; the released one is replaced by a fresh candidate.
func handoverRounds(b *testing.B, ec *testutil.EtcdCluster, scope string, o Options, rounds int, release func(*Term, *Candidate) time.Time) []time.Duration {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o.Logger = warnLogger()
	mk := func(i int) *Candidate {
		return newEtcdCandidate(b, newEtcdStore(b, ec.Endpoints(), scope), fmt.Sprintf("c%d", i), o)
	}
	holder := mk(0)
	term, err := holder.Campaign(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	for i := 1; i <= rounds; i++ {
		waiter := mk(i)
		waiting := make(chan struct{}, 1)
		waiter.hookWaiting = func() {
			select {
			case waiting <- struct{}{}:
			default:
			}
		}
		won := campaignAsync(ctx, waiter)
		select {
		case <-waiting:
		case <-time.After(20 * time.Second):
			b.Fatal("waiter never waited")
		}
		ref := release(term, holder)
		next := awaitTerm(b, won, 20*time.Second, "hand-over")
		lat = append(lat, next.Acquired().Sub(ref))
		holder.thaw()
		holder.Close()
		holder, term = waiter, next
	}
	return lat
}
