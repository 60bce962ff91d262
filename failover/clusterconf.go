package failover

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/pg"
)

// pgConfState is what the Controller last gave the instance of the
// cluster's postgresql section; guarded by opMu (the loop holds it).
type pgConfState struct {
	applied  *pg.ClusterConfig // nil: nothing applied yet
	warnings string            // the last warnings logged
	missing  bool              // warned that the instance cannot take it
}

// clusterPGConfig extracts the server's part of the config key:
// postgresql.parameters, pg_hba and pg_ident. Patroni's YAML gives
// parameter values as strings, numbers or booleans; an item of another
// type is named in a warning and left out.
func clusterPGConfig(cfg *dcs.ClusterConfig) (pg.ClusterConfig, []string) {
	var out pg.ClusterConfig
	var warn []string
	if cfg == nil {
		return out, nil
	}
	if cfg.Postgresql == nil {
		return out, enforceHotStandbyFeedback(cfg, &out)
	}
	p := cfg.Postgresql
	if len(p.Parameters) > 0 {
		out.Parameters = make(map[string]string, len(p.Parameters))
	}
	for name, v := range p.Parameters {
		s, ok := pg.SettingValue(v)
		if !ok {
			warn = append(warn, fmt.Sprintf("postgresql.parameters.%s: a %T is not a setting value, not applied", name, v))
			continue
		}
		out.Parameters[name] = s
	}
	lines := func(key string) []string {
		raw, ok := p.Extra[key]
		if !ok || string(raw) == "null" {
			return nil
		}
		var l []string
		if err := json.Unmarshal(raw, &l); err != nil {
			warn = append(warn, fmt.Sprintf("postgresql.%s: must be a list of strings, not applied", key))
			return nil
		}
		return l
	}
	out.HBA, out.Ident = lines("pg_hba"), lines("pg_ident")
	warn = append(warn, enforceHotStandbyFeedback(cfg, &out)...)
	slices.Sort(warn)
	return out, warn
}

// enforceHotStandbyFeedback turns hot_standby_feedback on when permanent
// logical slots are configured, as Patroni does: a replica's copy of a
// logical slot is safe only while the primary keeps the catalog rows it
// needs, which the replica's feedback through its physical slot asks for.
// It matters on replicas only, and a primary ignores it.
func enforceHotStandbyFeedback(cfg *dcs.ClusterConfig, out *pg.ClusterConfig) []string {
	pol, _ := slotPolicyOf(cfg)
	if !pol.useSlots {
		return nil
	}
	logical := false
	for _, s := range pol.permanent {
		logical = logical || s.Type == "logical"
	}
	if !logical {
		return nil
	}
	var warn []string
	if v, ok := out.Parameters["hot_standby_feedback"]; ok && v != "on" && v != "true" && v != "1" && v != "yes" {
		warn = append(warn, fmt.Sprintf("postgresql.parameters.hot_standby_feedback: %q overridden with on: permanent logical slots are copied to replicas, which needs it", v))
	}
	if out.Parameters == nil {
		out.Parameters = map[string]string{}
	}
	out.Parameters["hot_standby_feedback"] = "on"
	return warn
}

// applyPGConfigTimeout bounds applying the cluster's postgresql section,
// which runs in the loop: the postgres binary's check of each parameter and
// the reload with its wait (at most 5 s in pglocal.Local).
const applyPGConfigTimeout = 15 * time.Second

// applyPGConfig gives the instance the cluster's postgresql section when
// it changed (and once at start), so that parameters, pg_hba and pg_ident
// edited with edit-config reach every member: by reload where PostgreSQL
// allows, else as pending_restart in the member key. It runs before the
// decision so that a first start already has it. Until the cluster has a
// config key, the bootstrap configuration stands in for it, as in Patroni:
// a node that initializes the cluster starts with the parameters it is
// about to publish. c.opMu held.
func (c *Controller) applyPGConfig(ctx context.Context, cfg *dcs.ClusterConfig) {
	if cfg == nil {
		cfg = c.o.BootstrapConfig
	}
	want, warn := clusterPGConfig(cfg)
	st := &c.pgConf
	if st.applied != nil && st.applied.Equal(want) {
		return
	}
	cc, ok := c.inst.(pg.ClusterConfigurer)
	if !ok {
		if !st.missing && (len(want.Parameters) > 0 || len(want.HBA) > 0 || len(want.Ident) > 0) {
			st.missing = true
			c.log.Warn("failover: the instance cannot take the cluster's postgresql parameters, pg_hba or pg_ident; not applied",
				"instance", fmt.Sprintf("%T", c.inst))
		}
		return
	}
	actx, cancel := context.WithTimeout(ctx, applyPGConfigTimeout)
	defer cancel()
	res, err := cc.ApplyClusterConfig(actx, want)
	if err != nil {
		c.log.Warn("failover: applying the cluster's postgresql configuration failed; retrying next cycle", "err", err)
		return
	}
	st.applied = &want
	warn = append(warn, res.Warnings...)
	if joined := fmt.Sprint(warn); joined != st.warnings {
		st.warnings = joined
		for _, w := range warn {
			c.log.Warn("failover: cluster postgresql configuration", "warning", w)
		}
	}
	if res.Reloaded {
		pending := slices.Sorted(maps.Keys(res.PendingRestart))
		c.log.Info("failover: cluster postgresql configuration applied by reload", "pending_restart", pending)
		c.emit(EventReloaded, "cluster configuration changed")
	}
}

// pendingReason encodes a pending-restart list as Patroni's
// pending_restart_reason; nil when empty.
func pendingReason(p map[string]pg.PendingChange) json.RawMessage {
	if len(p) == 0 {
		return nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil
	}
	return b
}
