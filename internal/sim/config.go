package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/internal/mutation"
)

// ErrInvalidConfig is wrapped by every error Config.Validate returns.
var ErrInvalidConfig = errors.New("sim: invalid config")

// Timing is one set of the cluster's main timings.
type Timing struct {
	Name     string
	TTL      time.Duration
	LoopWait time.Duration
}

// Timings are the timing sets runs draw from: pgha's defaults (the ones
// users run), a shorter set, and Patroni's defaults.
var Timings = []Timing{
	{"defaults", 6 * time.Second, time.Second},
	{"short", 4 * time.Second, 500 * time.Millisecond},
	{"patroni", 30 * time.Second, 10 * time.Second},
}

// Config is one simulated cluster and its fault schedule. Start from
// [ConfigForSeed]; every field is plain data.
type Config struct {
	// Nodes is the cluster size, 3 to 5.
	Nodes int
	// Timing is the ttl and loop_wait the run starts with (a config
	// change fault may change them).
	Timing Timing
	// SyncMode is synchronous_mode: failover.SyncOff, SyncOn or
	// SyncQuorum; Strict is synchronous_mode_strict.
	SyncMode string
	Strict   bool
	// Failsafe is failsafe_mode at the start.
	Failsafe bool

	// Warmup is fault-free time for the bootstrap and clones; faults start
	// during FaultWindow after it; the run ends Settle after the last
	// fault healed.
	Warmup      time.Duration
	FaultWindow time.Duration
	Settle      time.Duration
	// MeanFaultGap is the mean time between fault starts; MaxFaultLength
	// bounds each fault.
	MeanFaultGap   time.Duration
	MaxFaultLength time.Duration
	// Faults are the kinds drawn from; empty: all.
	Faults []FaultKind

	// NoFailover is the index of a node tagged nofailover, -1 for none:
	// it never races, but its WAL counts when others measure their lag.
	NoFailover int

	// Step is how often the simulation moves WAL, writes and checks the
	// invariants; WriteEvery is how often each client writes, a commit of
	// up to MaxCommit bytes; Bandwidth bounds the WAL a replica receives
	// per Step, so that a replica that reconnects catches up over time.
	Step       time.Duration
	WriteEvery time.Duration
	MaxCommit  int
	Bandwidth  int

	// Mutation, when set, runs every Controller with this deliberate
	// defect (internal/mutation); NoFenceKeeper switches the servers'
	// out-of-agent fences off.
	Mutation      mutation.Kind
	NoFenceKeeper bool
}

// Settings returns the Controllers' settings for c.
func (c Config) Settings() failover.Settings {
	s := failover.DefaultSettings()
	s.TTL, s.LoopWait = c.Timing.TTL, c.Timing.LoopWait
	s.SynchronousMode = c.SyncMode
	if s.SynchronousMode == "" {
		s.SynchronousMode = failover.SyncOff
	}
	s.SynchronousModeStrict = c.Strict
	s.FailsafeMode = c.Failsafe
	return s
}

// LivenessBound is how long after the last fault healed a cluster must
// have a primary that holds the leader key: the old key's expiry (ttl),
// a start or restart of PostgreSQL within primary_start_timeout, the race
// postponement, and a few loops for clones and rewinds.
func (c Config) LivenessBound() time.Duration {
	s := c.Settings()
	return 2*s.TTL + s.PrimaryStartTimeout + s.RacePostponeMax + 5*s.LoopWait
}

// KeyBound is how long a leader key may name a node whose PostgreSQL does
// not run as primary: a leader restarts a crashed primary within
// primary_start_timeout while it keeps the key, and a frozen or cut-off
// leader's key expires within ttl.
func (c Config) KeyBound() time.Duration {
	s := c.Settings()
	return max(s.TTL, s.PrimaryStartTimeout) + 3*s.LoopWait
}

// ConfigForSeed draws a configuration from seed: cluster size, timing
// set (pgha's defaults half the time), synchronous mode (a third each)
// and failsafe mode.
func ConfigForSeed(seed uint64) Config {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	c := Config{
		Nodes:          3 + rng.IntN(3)/2, // 3 twice as often as 4
		Timing:         Timings[0],
		Warmup:         20 * time.Second,
		FaultWindow:    90 * time.Second,
		MeanFaultGap:   8 * time.Second,
		MaxFaultLength: 15 * time.Second,
		NoFailover:     -1,
		Step:           10 * time.Millisecond,
		WriteEvery:     20 * time.Millisecond,
		// 50 commits/s of up to 32 KiB: a replica cut off for a second or
		// two is past maximum_lag_on_failover (1 MiB), so the lag rule
		// decides races; it catches up at 5 times the write rate.
		MaxCommit: 32 << 10,
		Bandwidth: 40 << 10,
	}
	if rng.IntN(2) == 1 {
		c.Timing = Timings[1+rng.IntN(len(Timings)-1)]
	}
	switch rng.IntN(3) {
	case 1:
		c.SyncMode = failover.SyncOn
	case 2:
		c.SyncMode = failover.SyncQuorum
	}
	c.Strict = c.SyncMode != "" && rng.IntN(3) == 0
	c.Failsafe = rng.IntN(2) == 1
	if rng.IntN(4) == 0 {
		c.NoFailover = 1 + rng.IntN(c.Nodes-1) // never the bootstrap node
	}
	// Faults scale with the timings: a fault shorter than a loop tests
	// nothing, and Patroni's 30 s ttl needs a longer window.
	scale := c.Timing.TTL / Timings[0].TTL
	if scale > 1 {
		c.Warmup *= scale
		c.FaultWindow *= scale
		c.MeanFaultGap *= scale
		c.MaxFaultLength *= scale
	}
	c.Settle = c.LivenessBound() + 5*c.Timing.LoopWait
	return c
}

// Validate reports a configuration the simulation cannot run.
func (c Config) Validate() error {
	var errs []error
	if c.Nodes < 3 || c.Nodes > 5 {
		errs = append(errs, fmt.Errorf("%w: Nodes %d, want 3 to 5", ErrInvalidConfig, c.Nodes))
	}
	if c.NoFailover < -1 || c.NoFailover >= c.Nodes {
		errs = append(errs, fmt.Errorf("%w: NoFailover %d, want -1 or a node index below %d", ErrInvalidConfig, c.NoFailover, c.Nodes))
	}
	if c.MaxCommit < 1 || c.Bandwidth < 0 {
		errs = append(errs, fmt.Errorf("%w: MaxCommit %d and Bandwidth %d: want at least 1 and not negative", ErrInvalidConfig, c.MaxCommit, c.Bandwidth))
	}
	if c.Step <= 0 || c.WriteEvery < c.Step {
		errs = append(errs, fmt.Errorf("%w: Step %v and WriteEvery %v: want 0 < Step <= WriteEvery", ErrInvalidConfig, c.Step, c.WriteEvery))
	}
	if c.Warmup <= 0 || c.FaultWindow < 0 || c.Settle < c.LivenessBound() {
		errs = append(errs, fmt.Errorf("%w: Warmup %v, FaultWindow %v, Settle %v: want a positive warmup and Settle >= LivenessBound %v",
			ErrInvalidConfig, c.Warmup, c.FaultWindow, c.Settle, c.LivenessBound()))
	}
	if c.MeanFaultGap <= 0 || c.MaxFaultLength <= 0 {
		errs = append(errs, fmt.Errorf("%w: MeanFaultGap %v and MaxFaultLength %v must be positive", ErrInvalidConfig, c.MeanFaultGap, c.MaxFaultLength))
	}
	if err := c.Settings().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%w: %w", ErrInvalidConfig, err))
	}
	return errors.Join(errs...)
}
