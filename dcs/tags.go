package dcs

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
)

// Tags are a member's tags as published in its member key. Values keep their
// JSON form; the accessors interpret them the way Patroni does (booleans may
// be written as true, "true", "yes", "on", 1).
type Tags map[string]any

// Well-known tag names.
const (
	TagNoFailover       = "nofailover"
	TagFailoverPriority = "failover_priority"
	TagNoLoadBalance    = "noloadbalance"
	TagCloneFrom        = "clonefrom"
	TagNoSync           = "nosync"
	TagSyncPriority     = "sync_priority"
	TagReplicateFrom    = "replicatefrom"
	// TagNoStream marks a replica that does not stream (it replays from
	// the WAL archive): no slot is kept for it.
	TagNoStream = "nostream"
)

// Bool returns the tag interpreted as a boolean; absent or unparsable is false.
func (t Tags) Bool(name string) bool {
	switch v := t[name].(type) {
	case bool:
		return v
	case string:
		switch strings.ToLower(v) {
		case "true", "yes", "on", "1", "y":
			return true
		}
	case json.Number:
		n, err := v.Float64()
		return err == nil && n != 0
	case float64:
		return v != 0
	}
	return false
}

// Int returns the tag as an integer and whether it was present and numeric.
func (t Tags) Int(name string) (int64, bool) {
	switch v := t[name].(type) {
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n, true
		}
		if f, err := v.Float64(); err == nil {
			return int64(f), true
		}
	case float64:
		return int64(v), true
	case int:
		return int64(v), true
	case int64:
		return v, true
	case string:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n, true
		}
	}
	return 0, false
}

// String returns a string tag ("" when absent or not a string).
func (t Tags) String(name string) string {
	s, _ := t[name].(string)
	return s
}

// NoFailover reports whether the member must never be promoted
// automatically: nofailover is true or failover_priority is <= 0.
func (t Tags) NoFailover() bool {
	if t.Bool(TagNoFailover) {
		return true
	}
	if p, ok := t.Int(TagFailoverPriority); ok && p <= 0 {
		return true
	}
	return false
}

// FailoverPriority returns failover_priority, 1 when absent, 0 with nofailover.
func (t Tags) FailoverPriority() int64 {
	if t.Bool(TagNoFailover) {
		return 0
	}
	if p, ok := t.Int(TagFailoverPriority); ok {
		return p
	}
	return 1
}

func (t Tags) encode() []byte {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var w objWriter
	for _, k := range keys {
		b, err := marshalCompact(t[k])
		if err != nil {
			continue
		}
		w.raw(k, b)
	}
	return w.bytes()
}

func decodeTags(raw json.RawMessage) (Tags, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var t Tags
	if err := d.Decode(&t); err != nil {
		return nil, err
	}
	return t, nil
}
