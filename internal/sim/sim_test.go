package sim

import (
	"bytes"
	"flag"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
)

var (
	flagSeeds = flag.Int("sim.seeds", 2000, "number of seeds TestSimulation runs (1..N)")
	flagSeed  = flag.Uint64("sim.seed", 0, "replay one seed with its full event log on stdout (0: run -sim.seeds seeds)")
)

// TestSimulation runs -sim.seeds seeds (or replays -sim.seed) and fails on
// the first invariant violation, with the seed and the event log tail.
func TestSimulation(t *testing.T) {
	if *flagSeed != 0 {
		res, err := Run(*flagSeed, ConfigForSeed(*flagSeed), os.Stdout)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("stats: %+v", res.Stats)
		if res.Violation != nil {
			t.Fatal(res.Violation)
		}
		return
	}
	n := *flagSeeds
	workers := max(1, runtime.GOMAXPROCS(0))
	results := make([]Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	next := make(chan int)
	started := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				seed := uint64(i + 1)
				results[i], errs[i] = Run(seed, ConfigForSeed(seed), nil)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	var total Stats
	failures := 0
	for i, res := range results {
		if errs[i] != nil {
			t.Fatalf("seed %d: %v", i+1, errs[i])
		}
		if res.Violation != nil {
			failures++
			if failures <= 3 {
				t.Error(res.Violation)
			} else {
				t.Errorf("%.200s", res.Violation)
			}
		}
		st := res.Stats
		total.Events += st.Events
		total.Faults += st.Faults
		total.Promotions += st.Promotions
		total.Decisions += st.Decisions
		total.WritesAcked += st.WritesAcked
		total.WritesRefused += st.WritesRefused
		total.LossyPromotions += st.LossyPromotions
		total.MaxLoss = max(total.MaxLoss, st.MaxLoss)
		total.MaxAvoidableLoss = max(total.MaxAvoidableLoss, st.MaxAvoidableLoss)
		total.MaxPromotedLag = max(total.MaxPromotedLag, st.MaxPromotedLag)
		total.RawPrimaryOverlap += st.RawPrimaryOverlap
	}
	t.Logf("%d seeds in %v (%d failed): %+v", n, time.Since(started).Round(time.Millisecond), failures, total)
	if failures > 0 {
		t.Errorf("%d of %d seeds violated an invariant", failures, n)
	}
	// Guard against a vacuous run, not a speed goal.
	if n >= 100 && (total.Promotions < n/10 || total.Faults < n) {
		t.Errorf("too little happened: %d promotions and %d faults in %d seeds", total.Promotions, total.Faults, n)
	}
}

// TestDeterminism runs seeds twice: the event logs must be byte-identical.
func TestDeterminism(t *testing.T) {
	for _, seed := range []uint64{1, 7, 42, 1234, 99999} {
		var a, b bytes.Buffer
		ra, err := Run(seed, ConfigForSeed(seed), &a)
		if err != nil {
			t.Fatal(err)
		}
		rb, err := Run(seed, ConfigForSeed(seed), &b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) || ra.LogHash != rb.LogHash {
			t.Fatalf("seed %d: event logs differ (%d and %d bytes)", seed, a.Len(), b.Len())
		}
		if a.Len() == 0 {
			t.Fatalf("seed %d: empty event log", seed)
		}
	}
}

// TestConfigValidate checks that bad configurations are refused with the
// field named.
func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"too few nodes", func(c *Config) { c.Nodes = 1 }},
		{"sync mode unknown", func(c *Config) { c.SyncMode = "sometimes"; c.Settings.SynchronousMode = "sometimes" }},
		{"sync mode differs from settings", func(c *Config) { c.SyncMode = "on" }},
		{"keepalive too slow", func(c *Config) { c.KeepAliveInterval = 5 * time.Second }},
		{"margin too small", func(c *Config) { c.Margin = 0 }},
		{"bad write size", func(c *Config) { c.WriteSize = [2]int64{0, 1} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ConfigForSeed(1)
			tc.mutate(&c)
			if _, err := Run(1, c, nil); err == nil {
				t.Fatal("Run accepted an invalid config")
			}
		})
	}
}

// TestCheckerCatchesDefects breaks the agents on purpose and expects the
// invariants to notice within a few hundred seeds: the simulation would
// otherwise pass vacuously.
func TestCheckerCatchesDefects(t *testing.T) {
	tests := []struct {
		name      string
		mutate    func(*Config)
		invariant string
	}{
		{"deadline beyond the lease", func(c *Config) { c.mutDeadlineSlack = 15 * time.Second }, "at most one writable primary"},
		{"lag bound ignored", func(c *Config) {
			c.Settings.MaximumLagOnFailover = 256 << 10
			c.mutLagSlack = 1 << 40
			c.Tags = make([]dcs.Tags, c.Nodes)
			c.Tags[1] = dcs.Tags{dcs.TagFailoverPriority: 2}
		}, "lag"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for seed := uint64(1); seed <= 400; seed++ {
				c := ConfigForSeed(seed)
				tc.mutate(&c)
				res, err := Run(seed, c, nil)
				if err != nil {
					t.Fatal(err)
				}
				if res.Violation != nil {
					if !strings.Contains(res.Violation.Error(), tc.invariant) {
						t.Fatalf("seed %d: caught, but not by %q: %.300v", seed, tc.invariant, res.Violation)
					}
					t.Logf("caught at seed %d: %.200v", seed, res.Violation)
					return
				}
			}
			t.Fatalf("400 seeds with the defect passed every invariant")
		})
	}
}
