package sim

import (
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/internal/mutation"
)

// maxMutationSeeds is how many seeds a mutation may take to be caught.
const maxMutationSeeds = 200

// TestMutationsCaught shows that each invariant catches a deliberately
// broken Controller (internal/mutation) within maxMutationSeeds seeds:
// the checks are not vacuous. Each mutation runs the fault mix and the
// mode in which its defect matters.
func TestMutationsCaught(t *testing.T) {
	tests := []struct {
		mut       mutation.Kind
		invariant string
		tweak     func(*Config)
	}{
		{mutation.NoOutOfAgentFence, InvOnePrimary, func(c *Config) {
			c.Faults = []FaultKind{FreezeAgent, KillAgent, CrashPG}
		}},
		{mutation.SyncBeforeCatchUp, InvNoSyncLoss, func(c *Config) {
			c.SyncMode = failover.SyncOn
			c.Faults = []FaultKind{CutReplication, CrashNode, KillAgent, CrashPG}
			c.MeanFaultGap = 2 * time.Second
		}},
		{mutation.IgnoreLag, InvLagBound, func(c *Config) {
			c.SyncMode, c.Strict, c.NoFailover = "", false, c.Nodes-1
			c.Faults = []FaultKind{CutReplication, CrashNode}
			c.MeanFaultGap = 3 * time.Second
		}},
		{mutation.FailsafeMajority, InvOnePrimary, func(c *Config) {
			c.Failsafe, c.Nodes = true, 3
			c.Faults = []FaultKind{CutDCS, PartitionPair, IsolateAPI}
			c.MeanFaultGap = 3 * time.Second
		}},
		{mutation.KeepKey, InvKeyHeldStale, func(c *Config) {
			c.Faults = []FaultKind{Switchover, CutDCS, CrashPG}
		}},
	}
	for _, tc := range tests {
		t.Run(string(tc.mut), func(t *testing.T) {
			t.Parallel()
			for seed := uint64(1); seed <= maxMutationSeeds; seed++ {
				cfg := ConfigForSeed(seed)
				tc.tweak(&cfg)
				cfg.Mutation = tc.mut
				res := runSeed(t, seed, cfg, nil)
				if res.Violation == nil {
					continue
				}
				if !strings.Contains(res.Violation.Error(), "invariant \""+tc.invariant+"\"") {
					t.Logf("seed %d: another invariant caught it first: %.400s", seed, res.Violation)
					continue
				}
				t.Logf("caught at seed %d", seed)
				// The same run without the defect holds: the violation was
				// the mutation's doing.
				cfg.Mutation = ""
				if res := runSeed(t, seed, cfg, nil); res.Violation != nil {
					t.Errorf("seed %d violates an invariant without the mutation too: %v", seed, res.Violation)
				}
				return
			}
			t.Errorf("mutation %s not caught by %q within %d seeds", tc.mut, tc.invariant, maxMutationSeeds)
		})
	}
}
