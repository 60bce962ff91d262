package consul

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/pgha/pgha/dcs"
)

// maxSessionTTL is Consul's upper bound on session TTLs.
const maxSessionTTL = 24 * time.Hour

// Grant creates a Consul session with TTL ttl (see the package doc for why
// the session TTL is the dcs TTL itself and not half of it), behavior
// "delete", the configured lock-delay and, by default, no health checks.
// A ttl below the agent's session_ttl_min returns an error wrapping
// [ErrTTLTooShort] that names the agent's minimum.
func (s *Store) Grant(ctx context.Context, ttl time.Duration) (dcs.LeaseID, error) {
	if ttl <= 0 || ttl > maxSessionTTL {
		return 0, fmt.Errorf("consul: grant: ttl %v out of range (0, %v]", ttl, maxSessionTTL)
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	entry := &api.SessionEntry{
		Name:       s.cfg.SessionName,
		TTL:        ttl.String(),
		Behavior:   api.SessionBehaviorDelete,
		LockDelay:  s.cfg.LockDelay,
		NodeChecks: s.cfg.NodeChecks,
	}
	var id string
	var err error
	if len(s.cfg.NodeChecks) > 0 {
		id, _, err = s.client.Session().Create(entry, s.writeOpts(ctx))
	} else {
		id, _, err = s.client.Session().CreateNoChecks(entry, s.writeOpts(ctx))
	}
	if err != nil {
		if strings.Contains(err.Error(), "Invalid Session TTL") {
			return 0, s.ttlTooShort(ctx, ttl, err)
		}
		return 0, wrap("grant", err)
	}
	if id == "" {
		return 0, fmt.Errorf("consul: grant: %w: empty session id", dcs.ErrUnavailable)
	}
	lease := leaseIDOf(id)
	s.mu.Lock()
	s.sessions[lease] = id
	s.mu.Unlock()
	return lease, nil
}

// ttlTooShort builds the error for a TTL the agent refused, naming the
// agent's session_ttl_min when it can be read.
func (s *Store) ttlTooShort(ctx context.Context, ttl time.Duration, cause error) error {
	var self struct {
		DebugConfig struct {
			SessionTTLMin string
		}
	}
	if _, err := s.client.Raw().Query("/v1/agent/self", &self, (&api.QueryOptions{}).WithContext(ctx)); err != nil || self.DebugConfig.SessionTTLMin == "" {
		return fmt.Errorf("consul: grant: ttl %v: %w (%v)", ttl, ErrTTLTooShort, cause)
	}
	return fmt.Errorf("consul: grant: ttl %v: %w %s: raise the TTL or lower session_ttl_min in the Consul agent configuration",
		ttl, ErrTTLTooShort, self.DebugConfig.SessionTTLMin)
}

// KeepAlive renews the session once. A session that no longer exists
// returns an error wrapping dcs.ErrLeaseLost.
func (s *Store) KeepAlive(ctx context.Context, id dcs.LeaseID) error {
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	sid, err := s.session(ctx, id)
	if err != nil {
		return err
	}
	entry, _, err := s.client.Session().Renew(sid, s.writeOpts(ctx))
	if err != nil {
		return wrap("keepalive", err)
	}
	if entry == nil {
		s.forget(id)
		return fmt.Errorf("consul: keepalive: session %s: %w", sid, dcs.ErrLeaseLost)
	}
	return nil
}

// Revoke destroys the session; Consul deletes the keys it holds
// (behavior "delete"). Revoking a session that is gone is not an error.
func (s *Store) Revoke(ctx context.Context, id dcs.LeaseID) error {
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	sid, err := s.session(ctx, id)
	if errors.Is(err, dcs.ErrLeaseLost) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := s.client.Session().Destroy(sid, s.writeOpts(ctx)); err != nil {
		return wrap("revoke", err)
	}
	s.forget(id)
	return nil
}

// session returns the session UUID of lease id: from the cache when this
// store granted or met it, otherwise by listing the sessions of the
// datacenter, so a lease granted through another Store (another process)
// can be renewed and revoked too. An id matching no session is lost.
func (s *Store) session(ctx context.Context, id dcs.LeaseID) (string, error) {
	if id <= 0 {
		return "", fmt.Errorf("consul: lease %d: %w", id, dcs.ErrLeaseLost)
	}
	s.mu.Lock()
	sid, ok := s.sessions[id]
	s.mu.Unlock()
	if ok {
		return sid, nil
	}
	entries, _, err := s.client.Session().List(s.readOpts(ctx))
	if err != nil {
		return "", wrap("list sessions", err)
	}
	for _, e := range entries {
		if leaseIDOf(e.ID) == id {
			s.remember(id, e.ID)
			return e.ID, nil
		}
	}
	return "", fmt.Errorf("consul: lease %d: no such session: %w", id, dcs.ErrLeaseLost)
}

func (s *Store) remember(id dcs.LeaseID, sid string) {
	s.mu.Lock()
	s.sessions[id] = sid
	s.mu.Unlock()
}

func (s *Store) forget(id dcs.LeaseID) {
	s.mu.Lock()
	delete(s.sessions, id)
	s.mu.Unlock()
}

// leaseIDOf derives a lease ID from a session UUID: its first 64 bits with
// the sign bit cleared (never zero). Deterministic, so every Store and
// every process maps a session to the same lease, and KV.Lease in a
// snapshot equals the ID Grant returned on another node. Consul session IDs
// are random UUIDs, so two live sessions colliding on 63 bits is
// negligible.
func leaseIDOf(session string) dcs.LeaseID {
	hex := strings.ReplaceAll(session, "-", "")
	var v uint64
	if len(hex) >= 16 {
		if n, err := strconv.ParseUint(hex[:16], 16, 64); err == nil {
			v = n
		}
	}
	if v == 0 { // not a UUID: hash it
		h := fnv.New64a()
		h.Write([]byte(session))
		v = h.Sum64()
	}
	v &= 1<<63 - 1
	if v == 0 {
		v = 1
	}
	return dcs.LeaseID(v)
}
