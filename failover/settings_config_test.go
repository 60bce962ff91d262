package failover

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
)

// TestApplyConfigClamps: a value from the config key is clamped with a
// warning, never refused: the clamped settings always validate, so no
// value written with patronictl edit-config can disable failover.
func TestApplyConfigClamps(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		name  string
		cfg   dcs.ClusterConfig
		check func(Settings) bool
		warn  string // substring of a warning; "" means none
	}{
		{"valid values pass through", dcs.ClusterConfig{TTL: f(8), LoopWait: f(2)},
			func(s Settings) bool { return s.TTL == 8*time.Second && s.LoopWait == 2*time.Second }, ""},
		{"patroni loop_wait 10 with ttl 6", dcs.ClusterConfig{TTL: f(6), LoopWait: f(10)},
			func(s Settings) bool { return s.LoopWait == 3*time.Second }, "loop_wait: 10s is above the maximum 3s"},
		{"patroni defaults ttl 30 loop_wait 10", dcs.ClusterConfig{TTL: f(30), LoopWait: f(10), RetryTimeout: f(10)},
			func(s Settings) bool { return s.TTL == 30*time.Second && s.LoopWait == 10*time.Second }, "retry_timeout: has no effect"},
		{"ttl too short", dcs.ClusterConfig{TTL: f(1)},
			func(s Settings) bool { return s.TTL == MinConfigTTL }, "ttl: 1s is below the minimum"},
		{"ttl huge", dcs.ClusterConfig{TTL: f(1e300)},
			func(s Settings) bool { return s.TTL == MaxConfigTTL }, "ttl: 1e+300s is above the maximum"},
		{"ttl NaN", dcs.ClusterConfig{TTL: f(math.NaN())},
			func(s Settings) bool { return s.TTL == DefaultSettings().TTL }, "not a number"},
		{"loop_wait zero", dcs.ClusterConfig{LoopWait: f(0)},
			func(s Settings) bool { return s.LoopWait == MinLoopWait }, "loop_wait: 0s is below"},
		{"negative primary_start_timeout", dcs.ClusterConfig{PrimaryStartTimeout: f(-5)},
			func(s Settings) bool { return s.PrimaryStartTimeout == 0 }, "primary_start_timeout"},
		{"negative lag", dcs.ClusterConfig{MaximumLagOnFailover: i64(-1)},
			func(s Settings) bool { return s.MaximumLagOnFailover == 0 }, "maximum_lag_on_failover"},
		{"unknown sync mode keeps local", dcs.ClusterConfig{SynchronousMode: sptr("sometimes")},
			func(s Settings) bool { return s.SynchronousMode == SyncOff }, "synchronous_mode"},
		{"sync node count zero", dcs.ClusterConfig{SynchronousNodeCount: i64(0)},
			func(s Settings) bool { return s.SynchronousNodeCount == 1 }, "synchronous_node_count"},
		{"failsafe_mode on", dcs.ClusterConfig{FailsafeMode: bptr(true)},
			func(s Settings) bool { return s.FailsafeMode }, ""},
		{"failsafe_mode off", dcs.ClusterConfig{FailsafeMode: bptr(false)},
			func(s Settings) bool { return !s.FailsafeMode }, ""},
		{"unimplemented key named", dcs.ClusterConfig{PrimaryStopTimeout: f(30)},
			func(s Settings) bool { return true }, "primary_stop_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, warn := DefaultSettings().ApplyConfig(&tt.cfg)
			if !tt.check(s) {
				t.Errorf("settings not as expected: ttl %v loop_wait %v start %v lag %d sync %q count %d",
					s.TTL, s.LoopWait, s.PrimaryStartTimeout, s.MaximumLagOnFailover, s.SynchronousMode, s.SynchronousNodeCount)
			}
			if err := s.Validate(); err != nil {
				t.Errorf("clamped settings do not validate: %v", err)
			}
			all := strings.Join(warn, "\n")
			switch {
			case tt.warn == "" && len(warn) > 0:
				t.Errorf("unexpected warnings: %s", all)
			case tt.warn != "" && !strings.Contains(all, tt.warn):
				t.Errorf("warnings %q do not contain %q", all, tt.warn)
			}
		})
	}
}

// TestDecideWithPatroniLoopWait: loop_wait 10 written to a cluster running
// pgha's ttl 6 no longer makes every decision "invalid_settings".
func TestDecideWithPatroniLoopWait(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	s := DefaultSettings().WithConfig(&dcs.ClusterConfig{LoopWait: f(10)})
	if err := s.Validate(); err != nil {
		t.Fatalf("loop_wait 10 with ttl 6 disables failover: %v", err)
	}
}
