package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/failover"
)

// ErrInvalidConfig is wrapped by every error Config.Validate returns.
var ErrInvalidConfig = errors.New("sim: invalid config")

// Config is one simulated cluster and its fault schedule. Start from
// [ConfigForSeed]; every field is plain data, so a test can tweak one knob.
type Config struct {
	// Nodes is the cluster size, 3 to 5.
	Nodes int
	// Settings are the failover settings every agent uses.
	Settings failover.Settings
	// KeepAliveInterval, Margin and RequestTimeout are the election
	// timings: deadline = send time of the last successful keepalive +
	// TTL − Margin; a DCS call slower than RequestTimeout fails unapplied.
	KeepAliveInterval time.Duration
	Margin            time.Duration
	RequestTimeout    time.Duration
	// LoopJitter is the most a loop_wait sleep is lengthened or shortened.
	LoopJitter time.Duration
	// WatchLatency is how long a leader key change takes to wake the other
	// agents (their watch).
	WatchLatency time.Duration

	// Warmup is fault-free time for the bootstrap; faults are injected
	// during FaultWindow after it; Settle is the liveness bound after the
	// last fault healed, at which the simulation ends.
	Warmup      time.Duration
	FaultWindow time.Duration
	Settle      time.Duration
	// MeanFaultGap is the mean time between fault injections;
	// MaxFaultDuration bounds each fault.
	MeanFaultGap     time.Duration
	MaxFaultDuration time.Duration

	// ReplicationLatency is each replica's normal WAL shipping delay.
	ReplicationLatency [2]time.Duration
	// WriteGap and WriteSize bound the client's commits: one every
	// WriteGap, of WriteSize bytes.
	WriteGap  [2]time.Duration
	WriteSize [2]int64
	// StartTime, CloneTime and RewindTime are PostgreSQL operation
	// durations; RewindFailPercent is the chance pg_rewind fails.
	StartTime         time.Duration
	CloneTime         time.Duration
	RewindTime        time.Duration
	RewindFailPercent int

	// Tags are the member tags of each node (by index; nil for none):
	// nofailover and failover_priority make the lag rule decide races.
	Tags []dcs.Tags

	// SyncMode is the commit acknowledgement rule: failover.SyncOff (or
	// "": asynchronous, ack at primary flush), SyncOn or SyncQuorum (ack
	// once the standbys synchronous_standby_names requires flushed the
	// commit). It must equal Settings.SynchronousMode, which the agents
	// manage the standbys with (see SyncConfigForSeed).
	SyncMode string

	// Deliberate defects, for tests that show the checker catches them:
	// mutDeadlineSlack lengthens the agents' local deadline beyond the
	// election rule; mutLagSlack loosens the lag bound the agents decide
	// with (the checker keeps Settings.MaximumLagOnFailover).
	mutDeadlineSlack time.Duration
	mutLagSlack      int64
	// mutSyncIgnoreKey makes the agents decide races as if synchronous
	// mode were off.
	mutSyncIgnoreKey bool
}

// ConfigForSeed returns the configuration of a seed: fixed timings with a
// few knobs drawn from the seed (cluster size, primary_start_timeout,
// maximum_lag_on_failover, rewind or re-clone, replication latency).
func ConfigForSeed(seed uint64) Config {
	r := rand.New(rand.NewPCG(seed, 0x5eed_c0f1))
	s := failover.DefaultSettings()
	s.TTL = 10 * time.Second
	s.LoopWait = 3 * time.Second
	s.DemoteLead = 2 * time.Second
	s.PeerQueryTimeout = time.Second
	s.RacePostponeMax = 10 * time.Second
	s.StreamingFreshness = 3 * time.Second
	s.MaxPositionAge = 10 * time.Second
	s.PrimaryStartTimeout = []time.Duration{0, 5 * time.Second, 20 * time.Second}[r.IntN(3)]
	s.MaximumLagOnFailover = []int64{256 << 10, 1 << 20, 8 << 20}[r.IntN(3)]
	rewindFail := 10
	switch r.IntN(3) {
	case 0:
		s.UsePgRewind = true
		rewindFail = 0 // nothing else could bring a node back from a failed rewind
	case 1:
		s.UsePgRewind, s.RemoveDataOnRewindFailure = true, true
	default:
		s.RemoveDataOnDivergedTimelines = true
	}
	nodes := 3 + r.IntN(3)
	tags := make([]dcs.Tags, nodes)
	switch k := 1 + r.IntN(nodes-1); r.IntN(3) { // n1 bootstraps: keep it untagged
	case 1:
		tags[k] = dcs.Tags{dcs.TagNoFailover: true}
	case 2:
		tags[k] = dcs.Tags{dcs.TagFailoverPriority: 2}
	}
	return Config{
		Nodes:              nodes,
		Tags:               tags,
		Settings:           s,
		KeepAliveInterval:  2 * time.Second,
		Margin:             time.Second,
		RequestTimeout:     2 * time.Second,
		LoopJitter:         300 * time.Millisecond,
		WatchLatency:       50 * time.Millisecond,
		Warmup:             12 * time.Second,
		FaultWindow:        55 * time.Second,
		Settle:             40 * time.Second,
		MeanFaultGap:       8 * time.Second,
		MaxFaultDuration:   25 * time.Second,
		ReplicationLatency: [2]time.Duration{5 * time.Millisecond, time.Duration(50+r.IntN(400)) * time.Millisecond},
		WriteGap:           [2]time.Duration{400 * time.Millisecond, 1600 * time.Millisecond},
		WriteSize:          [2]int64{1 << 10, 240 << 10},
		StartTime:          time.Second,
		CloneTime:          3 * time.Second,
		RewindTime:         2 * time.Second,
		RewindFailPercent:  rewindFail,
		SyncMode:           failover.SyncOff,
	}
}

// Validate reports every invalid field.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Nodes < 2 || c.Nodes > 9 {
		bad("nodes: want 2..9, got %d", c.Nodes)
	}
	if len(c.Tags) > c.Nodes {
		bad("tags: %d entries for %d nodes", len(c.Tags), c.Nodes)
	}
	if err := c.Settings.Validate(); err != nil {
		bad("settings: %w", err)
	}
	if c.KeepAliveInterval <= 0 || c.RequestTimeout <= 0 || c.Margin < c.Settings.TTL/10 {
		bad("keepalive %v, request timeout %v must be positive and margin %v at least ttl/10", c.KeepAliveInterval, c.RequestTimeout, c.Margin)
	} else if c.KeepAliveInterval+max(c.KeepAliveInterval, c.RequestTimeout)+c.RequestTimeout > c.Settings.TTL-c.Margin {
		bad("keepalive %v and request timeout %v do not fit in ttl − margin %v", c.KeepAliveInterval, c.RequestTimeout, c.Settings.TTL-c.Margin)
	}
	if c.LoopJitter < 0 || c.LoopJitter >= c.Settings.LoopWait/2 {
		bad("loop jitter %v: want 0 <= jitter < loop_wait/2", c.LoopJitter)
	}
	if c.Warmup <= 0 || c.FaultWindow < 0 || c.Settle <= 0 || c.MeanFaultGap <= 0 || c.MaxFaultDuration <= 0 {
		bad("warmup, settle, mean fault gap and max fault duration must be positive, fault window >= 0")
	}
	if c.ReplicationLatency[0] <= 0 || c.ReplicationLatency[1] < c.ReplicationLatency[0] {
		bad("replication latency %v: want 0 < min <= max", c.ReplicationLatency)
	}
	if c.WriteGap[0] <= 0 || c.WriteGap[1] < c.WriteGap[0] || c.WriteSize[0] <= 0 || c.WriteSize[1] < c.WriteSize[0] {
		bad("write gap %v and size %v: want 0 < min <= max", c.WriteGap, c.WriteSize)
	}
	if c.StartTime <= 0 || c.CloneTime <= 0 || c.RewindTime <= 0 || c.RewindFailPercent < 0 || c.RewindFailPercent > 100 {
		bad("start, clone and rewind times must be positive, rewind fail percent 0..100")
	}
	mode, want := c.SyncMode, c.Settings.SynchronousMode
	if mode == "" {
		mode = failover.SyncOff
	}
	if want == "" {
		want = failover.SyncOff
	}
	switch {
	case mode != failover.SyncOff && mode != failover.SyncOn && mode != failover.SyncQuorum:
		bad("sync mode %q: want off, on or quorum", c.SyncMode)
	case mode != want:
		bad("sync mode %q differs from settings synchronous_mode %q", mode, want)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}

// between draws a duration in [lo, hi].
func between(r *rand.Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(r.Int64N(int64(hi-lo)+1))
}
