package dcs

import (
	"fmt"
	"sort"
	"strings"
)

// Cluster is the decoded state of one cluster at a revision. Absent keys are
// nil. Keys whose values could not be decoded are treated as absent and
// described in Problems.
type Cluster struct {
	Revision int64

	// Initialize is the system identifier; nil when the key is absent, ""
	// while a bootstrap is in progress.
	Initialize *string
	// InitializeRevision is the mod revision of the initialize key.
	InitializeRevision int64
	Config             *ClusterConfig
	Leader             *Leader
	// Members are sorted by name.
	Members  []*Member
	Failover *Failover
	// FailoverRevision is the mod revision of the failover key, for CAS.
	FailoverRevision int64
	Sync             *SyncState
	History          History
	Status           *Status
	Failsafe         Failsafe

	// Problems lists keys that were ignored and why.
	Problems []error
}

// Member returns the member with the given name, or nil.
func (c *Cluster) Member(name string) *Member {
	for _, m := range c.Members {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// LeaderMember returns the member holding the leader key, or nil.
func (c *Cluster) LeaderMember() *Member {
	if c.Leader == nil {
		return nil
	}
	return c.Member(c.Leader.Name)
}

// ListRole is the role Patroni's member listing (cluster_as_json, hence
// GET /cluster and patronictl list) gives the member called name: leader
// (standby_leader when standby, in a standby cluster), sync_standby or
// quorum_standby by the sync key and the synchronous mode, else replica.
// It is read from the keys alone, not from the member's server.
func (c *Cluster) ListRole(name string, standby bool) string {
	switch mode := c.Config.SyncMode(); {
	case c.Leader != nil && name == c.Leader.Name && standby:
		return "standby_leader"
	case c.Leader != nil && name == c.Leader.Name:
		return "leader"
	case mode == "quorum" && c.Sync.IsSync(name):
		return "quorum_standby"
	case mode == "on" && c.Sync.IsSync(name):
		return "sync_standby"
	default:
		return "replica"
	}
}

// IsPaused reports whether maintenance mode is on.
func (c *Cluster) IsPaused() bool { return c.Config.IsPaused() }

// Timeline is Patroni's cluster timeline: the last history entry's timeline
// plus one, 1 for an empty history, 0 when the history key is absent.
func (c *Cluster) Timeline() int64 {
	if c.History == nil {
		return 0
	}
	if len(c.History) == 0 {
		return 1
	}
	return c.History[len(c.History)-1].Timeline + 1
}

// KeyError describes a key whose value was ignored.
type KeyError struct {
	Key string
	Err error
}

// Error says which key was ignored and why.
func (e *KeyError) Error() string { return fmt.Sprintf("key %q ignored: %v", e.Key, e.Err) }

// Unwrap returns the decoding error, for errors.Is and errors.As.
func (e *KeyError) Unwrap() error { return e.Err }

// Parse decodes a snapshot into a Cluster. It never fails: a value that
// cannot be decoded at all is treated as absent; one with some badly typed
// fields is kept with those fields unset. Both are reported in Problems.
// Keys that belong to no known name are ignored silently, so newer Patroni
// keys do not alarm anyone.
func Parse(s Snapshot) *Cluster {
	c := &Cluster{Revision: s.Revision}
	report := func(key string, err error) {
		c.Problems = append(c.Problems, &KeyError{Key: key, Err: err})
	}
	for _, kv := range s.KVs {
		switch {
		case kv.Key == KeyLeader:
			name := strings.TrimSpace(string(kv.Value))
			if err := ValidateName(name); err != nil {
				report(kv.Key, err)
				continue
			}
			c.Leader = &Leader{Name: name, Revision: kv.CreateRevision, ModRevision: kv.ModRevision, Lease: kv.Lease}
		case strings.HasPrefix(kv.Key, KeyMembersPrefix):
			name := strings.TrimPrefix(kv.Key, KeyMembersPrefix)
			if err := ValidateName(name); err != nil {
				report(kv.Key, err)
				continue
			}
			m, err := DecodeMember(name, kv.Value)
			if err != nil {
				report(kv.Key, err)
			}
			if m != nil {
				c.Members = append(c.Members, m)
			}
		case kv.Key == KeyConfig:
			cfg, err := DecodeConfig(kv.Value)
			if err != nil {
				report(kv.Key, err)
			}
			if cfg != nil {
				cfg.ModRevision = kv.ModRevision
				c.Config = cfg
			}
		case kv.Key == KeyInitialize:
			v := strings.TrimSpace(string(kv.Value))
			if !isSysID(v) {
				report(kv.Key, fmt.Errorf("not a system identifier: %.40q", v))
				continue
			}
			c.Initialize = &v
			c.InitializeRevision = kv.ModRevision
		case kv.Key == KeyFailover:
			f, err := DecodeFailover(kv.Value)
			if err != nil {
				report(kv.Key, err)
			}
			if f != nil {
				c.Failover = f
				c.FailoverRevision = kv.ModRevision
			}
		case kv.Key == KeySync:
			st, err := DecodeSync(kv.Value)
			if err != nil {
				report(kv.Key, err)
			}
			if st != nil {
				st.ModRevision = kv.ModRevision
				c.Sync = st
			}
		case kv.Key == KeyHistory:
			h, err := DecodeHistory(kv.Value)
			if err != nil {
				report(kv.Key, err)
			}
			if h != nil {
				c.History = h
			}
		case kv.Key == KeyStatus:
			st, err := DecodeStatus(kv.Value)
			if err != nil {
				report(kv.Key, err)
			}
			if st != nil {
				c.Status = st
			}
		case kv.Key == KeyFailsafe:
			f, err := DecodeFailsafe(kv.Value)
			if err != nil {
				report(kv.Key, err)
				continue
			}
			c.Failsafe = f
		}
	}
	sort.Slice(c.Members, func(i, j int) bool { return c.Members[i].Name < c.Members[j].Name })
	return c
}

// isSysID accepts "" (bootstrap in progress) or a decimal system identifier.
func isSysID(s string) bool {
	if len(s) > 20 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
