package failover

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/pg"
)

// DefaultMemberSlotsTTL is how long the slot of a member that left the
// cluster is kept before it is dropped (Patroni 4's member_slots_ttl
// default): long enough for a node to be rebooted or re-imaged and come
// back without a re-clone, short enough that a node gone for good does not
// fill the primary's disk with WAL.
const DefaultMemberSlotsTTL = 30 * time.Minute

// slotPolicy is what the config key says about replication slots.
type slotPolicy struct {
	// useSlots is postgresql.use_slots (default true): replicas stream
	// through a slot on their upstream.
	useSlots bool
	// permanent are the slots of the `slots` key, by name.
	permanent map[string]permanentSlot
	// ignore are the `ignore_slots` rules: a matching slot is never
	// created or dropped by pgha.
	ignore []slotMatch
	// memberTTL is member_slots_ttl.
	memberTTL time.Duration
}

// permanentSlot is one entry of the `slots` key.
type permanentSlot struct {
	Type     string `json:"type"`
	Database string `json:"database"`
	Plugin   string `json:"plugin"`
}

// slotMatch is one ignore_slots rule: every field that is set must match.
type slotMatch struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Database string `json:"database"`
	Plugin   string `json:"plugin"`
}

func (m slotMatch) matches(name, typ, database, plugin string) bool {
	eq := func(rule, v string) bool { return rule == "" || rule == v }
	return eq(m.Name, name) && eq(m.Type, typ) && eq(m.Database, database) && eq(m.Plugin, plugin)
}

// ignored reports whether an ignore_slots rule covers the slot.
func (p slotPolicy) ignored(name, typ, database, plugin string) bool {
	for _, m := range p.ignore {
		if m.matches(name, typ, database, plugin) {
			return true
		}
	}
	return false
}

// slotPolicyOf reads the slot keys of the config key, with a warning for
// each entry it cannot use (the rest still applies).
func slotPolicyOf(c *dcs.ClusterConfig) (slotPolicy, []string) {
	p := slotPolicy{useSlots: true, memberTTL: DefaultMemberSlotsTTL}
	if c == nil {
		return p, nil
	}
	var warn []string
	if c.Postgresql != nil && c.Postgresql.UseSlots != nil {
		p.useSlots = *c.Postgresql.UseSlots
	}
	if raw, ok := c.Extra["slots"]; ok && string(raw) != "null" {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			warn = append(warn, "slots: must be a mapping of slot names to {type, database, plugin}: ignored")
		}
		for _, name := range slices.Sorted(maps.Keys(m)) {
			var s permanentSlot
			if err := json.Unmarshal(m[name], &s); err != nil {
				warn = append(warn, fmt.Sprintf("slots.%s: must be a mapping {type, database, plugin}: ignored", name))
				continue
			}
			if s.Type == "" {
				s.Type = "physical"
			}
			switch {
			case pg.ValidSlotName(name) != nil:
				warn = append(warn, fmt.Sprintf("slots.%s: a slot name may contain only [a-z0-9_], up to 63: ignored", name))
			case s.Type != "physical" && s.Type != "logical":
				warn = append(warn, fmt.Sprintf("slots.%s: type %q is not physical or logical: ignored", name, s.Type))
			case s.Type == "logical" && (s.Database == "" || s.Plugin == ""):
				warn = append(warn, fmt.Sprintf("slots.%s: a logical slot needs database and plugin: ignored", name))
			default:
				if p.permanent == nil {
					p.permanent = map[string]permanentSlot{}
				}
				p.permanent[name] = s
			}
		}
	}
	if raw, ok := c.Extra["ignore_slots"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &p.ignore); err != nil {
			p.ignore = nil
			warn = append(warn, "ignore_slots: must be a list of {name, type, database, plugin}: ignored")
		}
		p.ignore = slices.DeleteFunc(p.ignore, func(m slotMatch) bool {
			if m == (slotMatch{}) {
				warn = append(warn, "ignore_slots: an empty rule would match every slot: ignored")
				return true
			}
			return false
		})
	}
	if raw, ok := c.Extra["member_slots_ttl"]; ok && string(raw) != "null" {
		d, err := parseSlotsTTL(raw)
		if err != nil {
			warn = append(warn, fmt.Sprintf("member_slots_ttl: %v: using %v", err, DefaultMemberSlotsTTL))
		} else {
			p.memberTTL = d
		}
	}
	return p, warn
}

// parseSlotsTTL reads member_slots_ttl as Patroni does: seconds as a
// number, or a string with a unit (30min, 1h, 10s, 1d; Go's 90m too).
func parseSlotsTTL(raw json.RawMessage) (time.Duration, error) {
	var f float64
	if err := json.Unmarshal(raw, &f); err == nil {
		if f < 0 || f > 365*24*3600 {
			return 0, fmt.Errorf("%g seconds is out of range", f)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, fmt.Errorf("must be seconds or a duration such as 30min")
	}
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		d      time.Duration
	}{{"min", time.Minute}, {"ms", time.Millisecond}, {"s", time.Second}, {"h", time.Hour}, {"d", 24 * time.Hour}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			if n, err := strconv.ParseFloat(strings.TrimSpace(num), 64); err == nil && n >= 0 && n <= 1e6 {
				return time.Duration(n * float64(u.d)), nil
			}
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return d, nil
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil && n >= 0 && n <= 365*24*3600 {
		return time.Duration(n * float64(time.Second)), nil
	}
	return 0, fmt.Errorf("%q is not a duration such as 30min", s)
}
