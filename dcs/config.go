package dcs

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ClusterConfig is the dynamic configuration kept in the config key, with
// Patroni's names. Fields are pointers so that "not set" is distinct from a
// zero value and survives a round trip; unknown keys are kept in Extra.
// Time values are seconds and may be fractional.
type ClusterConfig struct {
	TTL                   *float64
	LoopWait              *float64
	RetryTimeout          *float64
	MaximumLagOnFailover  *int64
	MaximumLagOnSyncnode  *int64
	PrimaryStartTimeout   *float64
	PrimaryStopTimeout    *float64
	SynchronousMode       *string // "off", "on" or "quorum"; JSON booleans map to off/on
	SynchronousModeStrict *bool
	SynchronousNodeCount  *int64
	FailsafeMode          *bool
	CheckTimeline         *bool
	Pause                 *bool
	MaxTimelinesHistory   *int64
	Postgresql            *PostgresqlConfig
	Extra                 map[string]json.RawMessage

	// ModRevision is the key's revision, for compare-and-swap.
	ModRevision int64
}

// PostgresqlConfig is the "postgresql" section of the dynamic configuration.
type PostgresqlConfig struct {
	UsePgRewind *bool
	UseSlots    *bool
	Parameters  map[string]any
	Extra       map[string]json.RawMessage
}

// Seconds converts an optional seconds value to a duration, or def.
func Seconds(v *float64, def time.Duration) time.Duration {
	if v == nil {
		return def
	}
	return time.Duration(*v * float64(time.Second))
}

// IsPaused reports whether maintenance mode is on.
func (c *ClusterConfig) IsPaused() bool { return c != nil && c.Pause != nil && *c.Pause }

// SyncMode returns the synchronous mode, "off" when unset.
func (c *ClusterConfig) SyncMode() string {
	if c == nil || c.SynchronousMode == nil {
		return "off"
	}
	return *c.SynchronousMode
}

// Encode returns the config JSON.
func (c *ClusterConfig) Encode() []byte {
	var w objWriter
	opt := func(k string, v any, set bool) {
		if set {
			w.value(k, v)
		}
	}
	if c.TTL != nil {
		w.value("ttl", *c.TTL)
	}
	if c.LoopWait != nil {
		w.value("loop_wait", *c.LoopWait)
	}
	if c.RetryTimeout != nil {
		w.value("retry_timeout", *c.RetryTimeout)
	}
	if c.MaximumLagOnFailover != nil {
		w.value("maximum_lag_on_failover", *c.MaximumLagOnFailover)
	}
	if c.MaximumLagOnSyncnode != nil {
		w.value("maximum_lag_on_syncnode", *c.MaximumLagOnSyncnode)
	}
	if c.PrimaryStartTimeout != nil {
		w.value("primary_start_timeout", *c.PrimaryStartTimeout)
	}
	if c.PrimaryStopTimeout != nil {
		w.value("primary_stop_timeout", *c.PrimaryStopTimeout)
	}
	if c.SynchronousMode != nil {
		switch *c.SynchronousMode {
		case "on":
			w.value("synchronous_mode", true)
		case "off":
			w.value("synchronous_mode", false)
		default:
			w.value("synchronous_mode", *c.SynchronousMode)
		}
	}
	opt("synchronous_mode_strict", deref(c.SynchronousModeStrict), c.SynchronousModeStrict != nil)
	opt("synchronous_node_count", deref(c.SynchronousNodeCount), c.SynchronousNodeCount != nil)
	opt("failsafe_mode", deref(c.FailsafeMode), c.FailsafeMode != nil)
	opt("check_timeline", deref(c.CheckTimeline), c.CheckTimeline != nil)
	opt("pause", deref(c.Pause), c.Pause != nil)
	opt("max_timelines_history", deref(c.MaxTimelinesHistory), c.MaxTimelinesHistory != nil)
	if p := c.Postgresql; p != nil {
		var pw objWriter
		if p.UsePgRewind != nil {
			pw.value("use_pg_rewind", *p.UsePgRewind)
		}
		if p.UseSlots != nil {
			pw.value("use_slots", *p.UseSlots)
		}
		if p.Parameters != nil {
			pw.value("parameters", p.Parameters)
		}
		pw.extra(p.Extra)
		w.raw("postgresql", pw.bytes())
	}
	w.extra(c.Extra)
	return w.bytes()
}

func deref[T any](p *T) T {
	var z T
	if p == nil {
		return z
	}
	return *p
}

// DecodeConfig parses the config key. Badly typed fields are reported and
// left unset; the rest is returned.
func DecodeConfig(data []byte) (*ClusterConfig, error) {
	f, err := decodeObject(data)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c := &ClusterConfig{}
	var errs []error
	c.TTL = takeFloat(f, "ttl", &errs)
	c.LoopWait = takeFloat(f, "loop_wait", &errs)
	c.RetryTimeout = takeFloat(f, "retry_timeout", &errs)
	c.MaximumLagOnFailover = takeInt(f, "maximum_lag_on_failover", &errs)
	c.MaximumLagOnSyncnode = takeInt(f, "maximum_lag_on_syncnode", &errs)
	c.PrimaryStartTimeout = takeFloat(f, "primary_start_timeout", &errs)
	c.PrimaryStopTimeout = takeFloat(f, "primary_stop_timeout", &errs)
	if raw, ok := f["synchronous_mode"]; ok {
		delete(f, "synchronous_mode")
		if m, err := parseSyncMode(raw); err != nil {
			errs = append(errs, err)
		} else if m != "" {
			c.SynchronousMode = &m
		}
	}
	c.SynchronousModeStrict = takeBool(f, "synchronous_mode_strict", &errs)
	c.SynchronousNodeCount = takeInt(f, "synchronous_node_count", &errs)
	c.FailsafeMode = takeBool(f, "failsafe_mode", &errs)
	c.CheckTimeline = takeBool(f, "check_timeline", &errs)
	c.Pause = takeBool(f, "pause", &errs)
	c.MaxTimelinesHistory = takeInt(f, "max_timelines_history", &errs)
	if raw, ok := f["postgresql"]; ok {
		delete(f, "postgresql")
		pf, err := decodeObject(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("field \"postgresql\": %w", err))
		} else {
			p := &PostgresqlConfig{}
			p.UsePgRewind = takeBool(pf, "use_pg_rewind", &errs)
			p.UseSlots = takeBool(pf, "use_slots", &errs)
			pf.take("parameters", &p.Parameters, &errs)
			p.Extra = pf.rest()
			c.Postgresql = p
		}
	}
	c.Extra = f.rest()
	if len(errs) > 0 {
		return c, fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return c, nil
}

func parseSyncMode(raw json.RawMessage) (string, error) {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		if b {
			return "on", nil
		}
		return "off", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		switch strings.ToLower(s) {
		case "on", "true", "yes":
			return "on", nil
		case "off", "false", "no", "":
			return "off", nil
		case "quorum":
			return "quorum", nil
		}
	}
	if string(raw) == "null" {
		return "", nil
	}
	return "", fmt.Errorf("field \"synchronous_mode\": want true, false or \"quorum\", got %.40s", raw)
}

func takeFloat(f fields, key string, errs *[]error) *float64 {
	var v float64
	if !f.take(key, &v, errs) {
		return nil
	}
	return &v
}

func takeBool(f fields, key string, errs *[]error) *bool {
	var v bool
	if !f.take(key, &v, errs) {
		return nil
	}
	return &v
}
