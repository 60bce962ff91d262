package etcd

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/pgha/pgha/dcs"
)

// Grant creates a lease that expires ttl after its last renewal. etcd counts
// whole seconds, so ttl is rounded up (never down: a caller computing its
// own deadline from ttl stays on the safe side); etcd may raise it further
// to its minimum TTL.
func (s *Store) Grant(ctx context.Context, ttl time.Duration) (dcs.LeaseID, error) {
	if ttl <= 0 {
		return 0, fmt.Errorf("etcd: grant: ttl %v must be positive", ttl)
	}
	secs := int64((ttl + time.Second - 1) / time.Second)
	ctx, cancel, err := s.call(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	resp, err := s.cli.Grant(ctx, secs)
	if err != nil {
		return 0, wrap(fmt.Sprintf("grant lease (ttl %ds)", secs), err)
	}
	if resp.TTL != secs {
		s.log.Debug("etcd granted a different lease ttl", "requested_s", secs, "granted_s", resp.TTL, "lease", resp.ID)
	}
	return dcs.LeaseID(resp.ID), nil
}

// KeepAlive renews the lease once (one LeaseKeepAlive round trip; see the
// package documentation for why not clientv3's keepalive stream). A lease
// that no longer exists yields an error wrapping [dcs.ErrLeaseLost].
func (s *Store) KeepAlive(ctx context.Context, id dcs.LeaseID) error {
	what := fmt.Sprintf("keepalive lease %x", int64(id))
	if id == 0 {
		return fmt.Errorf("etcd: %s: %w: no lease", what, dcs.ErrLeaseLost)
	}
	ctx, cancel, err := s.call(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	// Require a leader: a member cut off from its quorum must not appear to
	// renew anything.
	resp, err := s.cli.KeepAliveOnce(clientv3.WithRequireLeader(ctx), clientv3.LeaseID(id))
	if err != nil {
		return wrap(what, err)
	}
	if resp.TTL <= 0 {
		return fmt.Errorf("etcd: %s: %w: ttl %d", what, dcs.ErrLeaseLost, resp.TTL)
	}
	return nil
}

// Revoke ends the lease now, deleting the keys bound to it. A lease that is
// already gone is not an error.
func (s *Store) Revoke(ctx context.Context, id dcs.LeaseID) error {
	if id == 0 {
		return nil
	}
	ctx, cancel, err := s.call(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if _, err := s.cli.Revoke(ctx, clientv3.LeaseID(id)); err != nil && !isLeaseNotFound(err) {
		return wrap(fmt.Sprintf("revoke lease %x", int64(id)), err)
	}
	return nil
}
