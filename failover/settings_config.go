package failover

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/pgha/pgha/dcs"
)

// Bounds applied to values read from the cluster's config key. Like
// Patroni, pgha clamps an out-of-range value with a warning instead of
// refusing it: the key is shared by every node and written by operators
// (patronictl edit-config), and a refused value would leave every node
// without automatic failover (DESIGN §3 invariant 7).
const (
	// MinConfigTTL is the shortest ttl taken from the config key: below it
	// the default election timings cannot ride out three failed
	// keepalives with the demote lead on top (see doc.go's timing rule),
	// and etcd leases have whole-second granularity.
	MinConfigTTL = 4 * time.Second
	// MaxConfigTTL is the longest ttl taken from the config key.
	MaxConfigTTL = time.Hour
	// MinLoopWait is the shortest loop_wait taken from the config key.
	MinLoopWait = 100 * time.Millisecond
	// maxConfigSeconds bounds other durations from the key, far beyond any
	// sensible value, so that converting them cannot overflow.
	maxConfigSeconds = 365 * 24 * 3600
)

// ApplyConfig returns s with the cluster's dynamic configuration applied,
// as [Settings.WithConfig], and clamps every value into the range the
// decision rules need, returning one warning per value it changed or does
// not act on:
//
//   - ttl within [MinConfigTTL, MaxConfigTTL];
//   - loop_wait within [MinLoopWait, ttl/2]: Patroni's default loop_wait
//     of 10 s with pgha's ttl of 6 s becomes 3 s instead of disabling
//     failover;
//   - primary_start_timeout, maximum_lag_on_failover and
//     synchronous_node_count at their lower bounds; an unknown
//     synchronous_mode keeps the local setting;
//   - retry_timeout has no effect: the lease is renewed on its own
//     schedule, and how long a primary rides out a DCS outage follows from
//     ttl (election.Options.OutageTolerance), so a retry_timeout is named
//     in a warning rather than silently ignored. The same goes for the
//     Patroni keys pgha does not implement yet.
//
// The result passes [Settings.Validate] whenever s did.
func (s Settings) ApplyConfig(c *dcs.ClusterConfig) (Settings, []string) {
	if c == nil {
		return s, nil
	}
	var warn []string
	w := func(format string, args ...any) { warn = append(warn, fmt.Sprintf(format, args...)) }
	secs := func(name string, v *float64, lo, hi time.Duration, def time.Duration) time.Duration {
		if v == nil {
			return def
		}
		f := *v
		switch {
		case math.IsNaN(f):
			w("%s: %v is not a number: using %v", name, f, def)
			return def
		case f*float64(time.Second) < float64(lo):
			w("%s: %gs is below the minimum %v: using %v", name, f, lo, lo)
			return lo
		case f*float64(time.Second) > float64(hi):
			w("%s: %gs is above the maximum %v: using %v", name, f, hi, hi)
			return hi
		}
		return time.Duration(f * float64(time.Second))
	}
	s.TTL = secs("ttl", c.TTL, MinConfigTTL, MaxConfigTTL, s.TTL)
	s.LoopWait = secs("loop_wait", c.LoopWait, MinLoopWait, max(s.TTL/2, MinLoopWait), min(s.LoopWait, max(s.TTL/2, MinLoopWait)))
	s.PrimaryStartTimeout = secs("primary_start_timeout", c.PrimaryStartTimeout, 0, maxConfigSeconds*time.Second, s.PrimaryStartTimeout)
	if v := c.MaximumLagOnFailover; v != nil {
		s.MaximumLagOnFailover = *v
		if *v < 0 {
			w("maximum_lag_on_failover: %d is negative: using 0", *v)
			s.MaximumLagOnFailover = 0
		}
	}
	if v := c.SynchronousMode; v != nil {
		switch *v {
		case SyncOff, SyncOn, SyncQuorum:
			s.SynchronousMode = *v
		default:
			w("synchronous_mode: %q is not off, on or quorum: keeping %q", *v, s.SynchronousMode)
		}
	}
	sc, scWarn := StandbyClusterOf(c)
	s.StandbyCluster = sc
	warn = append(warn, scWarn...)
	if sc.Active() && s.SynchronousMode != "" && s.SynchronousMode != SyncOff {
		w("synchronous_mode: %q is ignored in a standby cluster (standby_cluster is set): using off", s.SynchronousMode)
		s.SynchronousMode = SyncOff
	}
	if v := c.SynchronousModeStrict; v != nil {
		s.SynchronousModeStrict = *v
	}
	if v := c.SynchronousNodeCount; v != nil {
		s.SynchronousNodeCount = int(min(max(*v, 1), 1<<20))
		if *v < 1 {
			w("synchronous_node_count: %d is below 1: using 1", *v)
		}
	}
	if v := c.CheckTimeline; v != nil {
		s.CheckTimeline = *v
	}
	if c.Postgresql != nil && c.Postgresql.UsePgRewind != nil {
		s.UsePgRewind = *c.Postgresql.UsePgRewind
	}
	if c.RetryTimeout != nil {
		w("retry_timeout: has no effect in pgha: the lease is renewed on its own schedule and a primary rides out DCS outages for a time derived from ttl (see the timing table)")
	}
	if c.FailsafeMode != nil {
		s.FailsafeMode = *c.FailsafeMode
	}
	for name, set := range map[string]bool{
		"primary_stop_timeout":    c.PrimaryStopTimeout != nil,
		"maximum_lag_on_syncnode": c.MaximumLagOnSyncnode != nil,
		"max_timelines_history":   c.MaxTimelinesHistory != nil,
	} {
		if set {
			w("%s: not implemented yet: ignored", name)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.Extra)) {
		switch k {
		case "slots", "ignore_slots", "member_slots_ttl":
			// Read by slotPolicyOf.
		case StandbyClusterKey:
			// Read above.
		default:
			w("%s: not supported by pgha: ignored", k)
		}
	}
	if c.Postgresql != nil {
		for _, k := range slices.Sorted(maps.Keys(c.Postgresql.Extra)) {
			switch k {
			case "pg_hba", "pg_ident":
			case "recovery_conf":
				w("postgresql.recovery_conf: not supported by pgha in the cluster's configuration: ignored (set postgresql.recovery_conf in each member's own configuration, pglocal.Config.RecoveryConf)")
			default:
				w("postgresql.%s: not supported by pgha: ignored", k)
			}
		}
	}
	return s, warn
}

// ConfigWarnings returns what pgha will not do as the dynamic
// configuration c asks: values clamped, keys not supported, and
// postgresql parameters or lines that cannot be applied as given. The
// Controller logs the same warnings when the config key changes;
// `pgha-ctl edit-config` prints them after writing it.
func ConfigWarnings(c *dcs.ClusterConfig) []string {
	_, warn := DefaultSettings().ApplyConfig(c)
	_, pgWarn := clusterPGConfig(c)
	_, slotWarn := slotPolicyOf(c)
	return append(append(warn, pgWarn...), slotWarn...)
}

// effectiveSettings overlays the config key on the Controller's settings,
// clamped, and logs the warnings whenever they change (not every cycle);
// c.mu held. A new ttl is applied live: the election moves the lease (and
// a held term's leader key) to one granted with it (election's
// Reconfigure), with the other timings derived from it as at start. A ttl
// whose derived timings cannot ride out a DCS blip with the demote lead is
// not applied, with a warning.
func (c *Controller) effectiveSettings(s Settings, cfg *dcs.ClusterConfig) Settings {
	s, warn := s.ApplyConfig(cfg)
	if cur := c.eopts(); s.TTL != cur.TTL {
		if err := c.applyTTL(s.TTL, s.DemoteLead); err != nil {
			warn = append(warn, fmt.Sprintf("ttl: %v cannot be applied, keeping %v: %v", s.TTL, cur.TTL, err))
			s.TTL = cur.TTL
			s.LoopWait = min(s.LoopWait, max(s.TTL/2, MinLoopWait))
		}
	}
	joined := fmt.Sprint(warn)
	if joined != c.b.configWarnings {
		c.b.configWarnings = joined
		for _, m := range warn {
			c.log.Warn("failover: config key value adjusted", "warning", m)
		}
	}
	return s
}

// applyTTL switches the election to ttl, the other timings derived from it
// where ControllerOptions.Election left them zero; c.mu held.
func (c *Controller) applyTTL(ttl, lead time.Duration) error {
	cur := c.eopts()
	e := c.ebase
	e.TTL = ttl
	e = e.WithDefaults()
	if err := e.Validate(); err != nil {
		return err
	}
	if err := e.CheckRideThrough(lead); err != nil {
		return err
	}
	if c.cand != nil {
		if err := c.cand.Reconfigure(e); err != nil {
			return err
		}
		e = c.cand.Options()
	}
	c.eo.Store(&e)
	c.log.Info("failover: ttl changed: the lease moves to one with the new ttl", "from", cur.TTL, "to", ttl,
		"keepalive", e.KeepAliveInterval, "request_timeout", e.RequestTimeout, "margin", e.Margin)
	return nil
}
