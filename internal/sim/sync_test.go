package sim

import (
	"flag"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgha/pgha/failover"
)

// TestSyncCheckerCatchesDefects breaks the synchronous-mode rules on
// purpose and expects the no-loss invariant to notice.
func TestSyncCheckerCatchesDefects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"races ignore the sync key", func(c *Config) { c.mutSyncIgnoreKey = true }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for seed := uint64(1); seed <= 2000; seed++ {
				c := SyncConfigForSeed(seed, failover.SyncQuorum, false)
				tc.mutate(&c)
				res, err := Run(seed, c, nil)
				if err != nil {
					t.Fatal(err)
				}
				if res.Violation != nil {
					if !strings.Contains(res.Violation.Error(), "no acknowledged commit lost") {
						t.Fatalf("seed %d: caught, but not by the no-loss invariant: %.300v", seed, res.Violation)
					}
					t.Logf("caught at seed %d: %.200v", seed, res.Violation)
					return
				}
			}
			t.Fatalf("2000 seeds with the defect passed every invariant")
		})
	}
}

var flagSyncSeeds = flag.Int("sim.syncseeds", 0,
	"number of seeds TestSynchronousSimulation runs, spread over its four variants (0: 2000, or 200 under the race detector)")

// TestSynchronousSimulation runs -sim.syncseeds seeds in each synchronous
// variant (priority strict and non-strict, quorum strict and non-strict,
// spread over the seeds) with crashes, freezes and partitions: no
// acknowledged commit may ever be lost, on top of the other invariants.
func TestSynchronousSimulation(t *testing.T) {
	type variant struct {
		mode   string
		strict bool
	}
	variants := []variant{{failover.SyncOn, false}, {failover.SyncOn, true}, {failover.SyncQuorum, false}, {failover.SyncQuorum, true}}
	n := *flagSyncSeeds
	if n <= 0 {
		// The race detector slows the simulation about tenfold: the 2000
		// seeds are the plain go test run (about 10 s); under -race a
		// smaller default keeps the package within about 90 s.
		n = 2000
		if raceEnabled {
			n = 200
		}
	}
	type job struct {
		seed uint64
		v    variant
	}
	var (
		mu       sync.Mutex
		total    Stats
		failures int
		wg       sync.WaitGroup
	)
	jobs := make(chan job)
	started := time.Now()
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				res, err := Run(j.seed, SyncConfigForSeed(j.seed, j.v.mode, j.v.strict), nil)
				mu.Lock()
				switch {
				case err != nil:
					failures++
					t.Errorf("seed %d (%s strict=%v): %v", j.seed, j.v.mode, j.v.strict, err)
				case res.Violation != nil:
					failures++
					if failures <= 3 {
						t.Errorf("%s strict=%v: %v", j.v.mode, j.v.strict, res.Violation)
					}
				}
				st := res.Stats
				total.Faults += st.Faults
				total.Promotions += st.Promotions
				total.WritesAcked += st.WritesAcked
				total.WritesFailed += st.WritesFailed
				total.WritesRefused += st.WritesRefused
				total.LossyPromotions += st.LossyPromotions
				mu.Unlock()
			}
		}()
	}
	for i := range n {
		seed := uint64(i + 1)
		jobs <- job{seed, variants[i%len(variants)]}
	}
	close(jobs)
	wg.Wait()
	t.Logf("%d synchronous seeds in %v (%d failed): %d faults, %d promotions, %d commits acknowledged, %d failed unanswered, %d refused, %d lossy promotions",
		n, time.Since(started).Round(time.Millisecond), failures, total.Faults, total.Promotions, total.WritesAcked, total.WritesFailed, total.WritesRefused, total.LossyPromotions)
	if n >= 100 && (total.Promotions < n/10 || total.WritesAcked < n) {
		t.Errorf("too little happened: %d promotions, %d acknowledged commits in %d seeds", total.Promotions, total.WritesAcked, n)
	}
}

// TestSyncDeterminism: a synchronous seed replays byte for byte.
func TestSyncDeterminism(t *testing.T) {
	for _, seed := range []uint64{3, 78} {
		var a, b strings.Builder
		ra, err := Run(seed, SyncConfigForSeed(seed, failover.SyncQuorum, seed%2 == 0), &a)
		if err != nil {
			t.Fatal(err)
		}
		rb, err := Run(seed, SyncConfigForSeed(seed, failover.SyncQuorum, seed%2 == 0), &b)
		if err != nil {
			t.Fatal(err)
		}
		if a.String() != b.String() || ra.LogHash != rb.LogHash || a.Len() == 0 {
			t.Fatalf("seed %d: event logs differ or are empty (%d and %d bytes)", seed, a.Len(), b.Len())
		}
	}
}
