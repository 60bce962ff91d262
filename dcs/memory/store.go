package memory

import (
	"context"
	"fmt"
	"time"

	"github.com/pgha/pgha/dcs"
)

// DefaultRequestTimeout bounds every call of a Store that waits (a hanging
// or delayed one) when StoreOptions.RequestTimeout is zero.
const DefaultRequestTimeout = 5 * time.Second

// DefaultWatchBuffer is the per-watcher event backlog when
// StoreOptions.WatchBuffer is zero.
const DefaultWatchBuffer = 1024

// StoreOptions configure one client handle. The zero value is usable.
type StoreOptions struct {
	// RequestTimeout bounds every call, measured on the cluster clock: a
	// call held up by a fault returns an error wrapping dcs.ErrUnavailable
	// when it elapses. DefaultRequestTimeout when zero or negative.
	RequestTimeout time.Duration
	// WatchBuffer is how many events a watcher may have queued before its
	// backlog is dropped for a resync snapshot. DefaultWatchBuffer when
	// zero or negative.
	WatchBuffer int
}

// Store is one client handle on a Cluster, scoped to a key prefix. It
// implements dcs.Store and adds fault controls. It is safe for concurrent
// use.
type Store struct {
	c           *Cluster
	prefix      string
	timeout     time.Duration
	watchBuffer int

	// Guarded by c.mu.
	fault    Fault
	closed   bool
	watchers map[*watcher]struct{}
}

var _ dcs.Store = (*Store)(nil)

func newStore(c *Cluster, prefix string, opts StoreOptions) *Store {
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.WatchBuffer <= 0 {
		opts.WatchBuffer = DefaultWatchBuffer
	}
	return &Store{
		c:           c,
		prefix:      prefix,
		timeout:     opts.RequestTimeout,
		watchBuffer: opts.WatchBuffer,
		watchers:    map[*watcher]struct{}{},
	}
}

// Prefix returns the key prefix of the handle.
func (s *Store) Prefix() string { return s.prefix }

// Cluster returns the cluster the handle belongs to.
func (s *Store) Cluster() *Cluster { return s.c }

// Get returns a snapshot of every key under the prefix at the current
// revision.
func (s *Store) Get(ctx context.Context) (dcs.Snapshot, error) {
	var snap dcs.Snapshot
	err := s.do(ctx, "get", func() error {
		snap = s.c.snapshotLocked(s.prefix)
		return nil
	})
	return snap, err
}

// Grant creates a lease that expires ttl after its last keepalive on the
// cluster clock. ttl must be positive.
func (s *Store) Grant(ctx context.Context, ttl time.Duration) (dcs.LeaseID, error) {
	if ttl <= 0 {
		return 0, fmt.Errorf("memory: grant: TTL %v is not positive: %w", ttl, ErrInvalid)
	}
	var id dcs.LeaseID
	err := s.do(ctx, "grant", func() error {
		id = s.c.grantLocked(ttl)
		return nil
	})
	return id, err
}

// KeepAlive renews the lease; ErrLeaseLost if it has expired or was revoked.
func (s *Store) KeepAlive(ctx context.Context, id dcs.LeaseID) error {
	return s.do(ctx, "keepalive", func() error { return s.c.keepAliveLocked(id) })
}

// Revoke ends the lease now, deleting its keys in one revision.
func (s *Store) Revoke(ctx context.Context, id dcs.LeaseID) error {
	return s.do(ctx, "revoke", func() error {
		s.c.revokeLocked(id)
		return nil
	})
}

// Put writes key if cond holds; see dcs.Store.
func (s *Store) Put(ctx context.Context, key string, value []byte, lease dcs.LeaseID, cond dcs.Cond) (int64, error) {
	if key == "" {
		return 0, fmt.Errorf("memory: put: empty key: %w", ErrInvalid)
	}
	var rev int64
	err := s.do(ctx, "put", func() error {
		var err error
		rev, err = s.c.putLocked(s.prefix, key, value, lease, cond)
		return err
	})
	return rev, err
}

// Delete removes key if cond holds; see dcs.Store.
func (s *Store) Delete(ctx context.Context, key string, cond dcs.Cond) error {
	if key == "" {
		return fmt.Errorf("memory: delete: empty key: %w", ErrInvalid)
	}
	return s.do(ctx, "delete", func() error { return s.c.deleteLocked(s.prefix, key, cond) })
}

// Close ends the handle's watches; later calls return ErrClosed. Leases
// are not revoked. It is idempotent.
func (s *Store) Close() error {
	s.c.mu.Lock()
	s.closed = true
	delete(s.c.stores, s)
	ws := s.watchers
	s.watchers = map[*watcher]struct{}{}
	s.c.mu.Unlock()
	for w := range ws {
		w.cancel()
	}
	return nil
}

// do runs one call: it applies the handle's fault, then expiry, then fn,
// all under the request timeout and ctx. fn runs with c.mu held.
func (s *Store) do(ctx context.Context, op string, fn func() error) error {
	s.c.mu.Lock()
	closed, f := s.closed || s.c.closed, s.fault
	s.c.mu.Unlock()
	if closed {
		return fmt.Errorf("memory: %s: %w: %w", op, dcs.ErrUnavailable, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: %s: %w: %w", op, dcs.ErrUnavailable, err)
	}
	switch {
	case f.Hang:
		return s.wait(ctx, op, s.timeout, "no answer (hang fault)")
	case f.Unavailable:
		return fmt.Errorf("memory: %s: unavailable fault: %w", op, dcs.ErrUnavailable)
	case f.Delay > 0:
		if f.Delay >= s.timeout {
			return s.wait(ctx, op, s.timeout, fmt.Sprintf("delay %v exceeds the request timeout", f.Delay))
		}
		if err := s.wait(ctx, op, f.Delay, ""); err != nil {
			return err
		}
	}
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	if s.closed || s.c.closed {
		return fmt.Errorf("memory: %s: %w: %w", op, dcs.ErrUnavailable, ErrClosed)
	}
	s.c.expireLocked()
	if err := fn(); err != nil {
		return fmt.Errorf("memory: %s: %w", op, err)
	}
	return nil
}

// wait blocks for d on the cluster clock. With a reason, elapsing is a
// failure (a timed-out request); without, it is a delay that then lets the
// call proceed. Either way ctx ending first fails the call.
func (s *Store) wait(ctx context.Context, op string, d time.Duration, reason string) error {
	t := s.c.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		if reason != "" {
			return fmt.Errorf("memory: %s: request timeout %v: %s: %w", op, s.timeout, reason, dcs.ErrUnavailable)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("memory: %s: %w: %w", op, dcs.ErrUnavailable, ctx.Err())
	case <-s.c.done:
		return fmt.Errorf("memory: %s: %w: %w", op, dcs.ErrUnavailable, ErrClosed)
	}
}
