package consul

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/consul/api"

	"github.com/pgha/pgha/dcs"
)

// Get returns every key under the prefix from one recursive read, with the
// configured consistency (linearizable by default). Revision is the
// X-Consul-Index of the read: at least the ModifyIndex of every key under
// the prefix and the index of the last deletion under it.
func (s *Store) Get(ctx context.Context) (dcs.Snapshot, error) {
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	pairs, meta, err := s.client.KV().List(s.prefix, s.readOpts(ctx))
	if err != nil {
		return dcs.Snapshot{}, wrap("get", err)
	}
	return s.snapshot(pairs, meta.LastIndex), nil
}

// snapshot converts a recursive read into a dcs snapshot with relative keys.
func (s *Store) snapshot(pairs api.KVPairs, index uint64) dcs.Snapshot {
	snap := dcs.Snapshot{Revision: int64(index)}
	for _, p := range pairs {
		rel, ok := strings.CutPrefix(p.Key, s.prefix)
		if !ok || rel == "" {
			continue
		}
		snap.KVs = append(snap.KVs, s.kvOf(rel, p))
	}
	return snap
}

// kvOf converts one Consul pair. The session becomes the lease, and is
// remembered so that this store can renew or revoke it by lease ID.
func (s *Store) kvOf(rel string, p *api.KVPair) dcs.KV {
	kv := dcs.KV{
		Key:            rel,
		Value:          p.Value,
		CreateRevision: int64(p.CreateIndex),
		ModRevision:    int64(p.ModifyIndex),
	}
	if p.Session != "" {
		kv.Lease = leaseIDOf(p.Session)
		s.remember(kv.Lease, p.Session)
	}
	return kv
}

// Put writes key in one Consul transaction: the guards of cond (see
// [Store.guards]) followed by a "lock" with the lease's session (the
// transactional form of ?acquire=) or a plain "set". It returns the
// ModifyIndex of the write; for a create it is also the key's CreateIndex,
// so the revision a leader acquire returns is the term's fencing token as
// snapshots report it (KV.CreateRevision).
//
// A Put without a lease on a key held by a session leaves it held: Consul
// keeps the session of a key on a plain set.
func (s *Store) Put(ctx context.Context, key string, value []byte, lease dcs.LeaseID, cond dcs.Cond) (int64, error) {
	full, err := s.fullKey(key)
	if err != nil {
		return 0, err
	}
	if lease < 0 {
		return 0, fmt.Errorf("consul: put %q: negative lease %d", key, lease)
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	ops, err := s.guards(ctx, full, cond)
	if err != nil {
		return 0, fmt.Errorf("consul: put %q: %w", key, err)
	}
	write := &api.KVTxnOp{Verb: api.KVSet, Key: full, Value: value}
	if lease != 0 {
		sid, err := s.session(ctx, lease)
		if err != nil {
			return 0, fmt.Errorf("consul: put %q: %w", key, err)
		}
		write = &api.KVTxnOp{Verb: api.KVLock, Key: full, Value: value, Session: sid}
	}
	results, err := s.txn(ctx, "put "+key, lease, append(slices.Clip(ops), write))
	if errors.Is(err, errLockHeld) {
		// etcd's Put binds a key to the given lease whatever lease held
		// it (a holder moves its keys to a new lease when the cluster's
		// ttl changes); Consul does not lock a key another session holds,
		// so release it in the same transaction, guarded by the index
		// read here so that nothing written since is overridden.
		var release []*api.KVTxnOp
		if release, err = s.releaseOther(ctx, full, write.Session); err == nil {
			results, err = s.txn(ctx, "put "+key, lease, append(append(ops, release...), write))
		}
	}
	if err != nil {
		return 0, err
	}
	for i := len(results) - 1; i >= 0; i-- {
		if kv := results[i].KV; kv != nil && kv.Key == full {
			return int64(kv.ModifyIndex), nil
		}
	}
	return 0, fmt.Errorf("consul: put %q: %w: transaction returned no result for the write", key, dcs.ErrUnavailable)
}

// Delete removes key. Without conditions it is a plain delete (absent keys
// are fine); with conditions, one transaction of the guards and a delete.
func (s *Store) Delete(ctx context.Context, key string, cond dcs.Cond) error {
	full, err := s.fullKey(key)
	if err != nil {
		return err
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	ops, err := s.guards(ctx, full, cond)
	if err != nil {
		return fmt.Errorf("consul: delete %q: %w", key, err)
	}
	if len(ops) == 0 {
		_, err := s.client.KV().Delete(full, s.writeOpts(ctx))
		return wrap("delete "+key, err)
	}
	_, err = s.txn(ctx, "delete "+key, 0, append(ops, &api.KVTxnOp{Verb: api.KVDelete, Key: full}))
	return err
}

// guards translates cond into transaction checks on full:
//   - Absent: check-not-exists (Consul's cas=0);
//   - ModRevision: check-index, which also fails on an absent key (unlike
//     delete-cas, which succeeds on one);
//   - Leader: the leader key is read first and must hold the term's name
//     and create revision (Consul's CreateIndex); then check-index on its
//     current ModifyIndex and check-session on its current session make the
//     write conditional on the key not having changed since that read.
//     Any change to the leader key (release, expiry, re-creation, another
//     holder) moves its ModifyIndex, so the guard is atomic.
func (s *Store) guards(ctx context.Context, full string, cond dcs.Cond) ([]*api.KVTxnOp, error) {
	var ops []*api.KVTxnOp
	if l := cond.Leader; l != nil {
		lk := s.prefix + dcs.KeyLeader
		q := (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx)
		pair, _, err := s.client.KV().Get(lk, q)
		if err != nil {
			return nil, wrap("read leader key", err)
		}
		switch {
		case pair == nil:
			return nil, fmt.Errorf("%w: leader term %s@%d ended: no leader key", dcs.ErrConflict, l.Name, l.Revision)
		case string(pair.Value) != l.Name || int64(pair.CreateIndex) != l.Revision:
			return nil, fmt.Errorf("%w: leader term %s@%d ended: leader key holds %q created at %d",
				dcs.ErrConflict, l.Name, l.Revision, pair.Value, pair.CreateIndex)
		}
		ops = append(ops, &api.KVTxnOp{Verb: api.KVCheckIndex, Key: lk, Index: pair.ModifyIndex})
		if pair.Session != "" {
			ops = append(ops, &api.KVTxnOp{Verb: api.KVCheckSession, Key: lk, Session: pair.Session})
		}
	}
	if cond.Absent {
		ops = append(ops, &api.KVTxnOp{Verb: api.KVCheckNotExists, Key: full})
	}
	switch {
	case cond.ModRevision < 0:
		return nil, fmt.Errorf("negative mod revision %d", cond.ModRevision)
	case cond.ModRevision > 0:
		ops = append(ops, &api.KVTxnOp{Verb: api.KVCheckIndex, Key: full, Index: uint64(cond.ModRevision)})
	}
	return ops, nil
}

// txn runs ops as one Consul transaction. A rolled-back transaction is a
// conflict, unless it failed because the session of lease is gone (lease
// lost) or the token lacks permission (returned as is).
func (s *Store) txn(ctx context.Context, op string, lease dcs.LeaseID, ops []*api.KVTxnOp) (api.TxnResults, error) {
	txn := make(api.TxnOps, len(ops))
	for i, o := range ops {
		txn[i] = &api.TxnOp{KV: o}
	}
	ok, resp, _, err := s.client.Txn().Txn(txn, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, wrap(op, err)
	}
	if ok {
		return resp.Results, nil
	}
	var msgs []string
	for _, e := range resp.Errors {
		msgs = append(msgs, e.What)
	}
	what := strings.Join(msgs, "; ")
	lower := strings.ToLower(what)
	switch {
	case lease != 0 && strings.Contains(lower, "lock is already held"):
		return nil, fmt.Errorf("consul: %s: %w: %w: %s", op, dcs.ErrConflict, errLockHeld, what)
	case lease != 0 && strings.Contains(lower, "invalid session"):
		s.forget(lease)
		return nil, fmt.Errorf("consul: %s: %w: %s", op, dcs.ErrLeaseLost, what)
	case strings.Contains(lower, "permission denied"):
		return nil, fmt.Errorf("consul: %s: %s", op, what)
	}
	return nil, fmt.Errorf("consul: %s: %w: %s", op, dcs.ErrConflict, what)
}

// errLockHeld marks a leased write refused because another session holds
// the key.
var errLockHeld = errors.New("consul: the key is locked by another session")

// releaseOther returns the transaction operations that release full from
// the session holding it, unless that is sid or none: a check of the
// key's current index, then an unlock by its session.
func (s *Store) releaseOther(ctx context.Context, full, sid string) ([]*api.KVTxnOp, error) {
	q := (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx)
	pair, _, err := s.client.KV().Get(full, q)
	if err != nil {
		return nil, wrap("read "+full, err)
	}
	if pair == nil || pair.Session == "" || pair.Session == sid {
		return nil, nil
	}
	return []*api.KVTxnOp{
		{Verb: api.KVCheckIndex, Key: full, Index: pair.ModifyIndex},
		{Verb: api.KVUnlock, Key: full, Value: pair.Value, Session: pair.Session},
	}, nil
}
