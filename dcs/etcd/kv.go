package etcd

import (
	"context"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/pgha/pgha/dcs"
)

// Get returns a linearizable snapshot of every key under the prefix.
func (s *Store) Get(ctx context.Context) (dcs.Snapshot, error) {
	ctx, cancel, err := s.call(ctx)
	if err != nil {
		return dcs.Snapshot{}, err
	}
	defer cancel()
	resp, err := s.cli.Get(ctx, s.prefix, clientv3.WithPrefix())
	if err != nil {
		return dcs.Snapshot{}, wrap("get "+s.prefix, err)
	}
	snap := dcs.Snapshot{Revision: resp.Header.Revision, KVs: make([]dcs.KV, 0, len(resp.Kvs))}
	for _, kv := range resp.Kvs {
		snap.KVs = append(snap.KVs, s.kv(kv))
	}
	return snap, nil
}

func (s *Store) kv(kv *mvccpb.KeyValue) dcs.KV {
	return dcs.KV{
		Key:            s.rel(kv.Key),
		Value:          kv.Value,
		CreateRevision: kv.CreateRevision,
		ModRevision:    kv.ModRevision,
		Lease:          dcs.LeaseID(kv.Lease),
	}
}

// Put writes key if cond holds, bound to lease when it is non-zero, and
// returns the revision of the write.
func (s *Store) Put(ctx context.Context, key string, value []byte, lease dcs.LeaseID, cond dcs.Cond) (int64, error) {
	what := fmt.Sprintf("put %q", key)
	if err := checkKey(key); err != nil {
		return 0, err
	}
	var opts []clientv3.OpOption
	if lease != 0 {
		opts = append(opts, clientv3.WithLease(clientv3.LeaseID(lease)))
	}
	op := clientv3.OpPut(s.abs(key), string(value), opts...)
	return s.txn(ctx, what, key, cond, op)
}

// Delete removes key if cond holds. An unconditional delete of an absent key
// succeeds.
func (s *Store) Delete(ctx context.Context, key string, cond dcs.Cond) error {
	if err := checkKey(key); err != nil {
		return err
	}
	_, err := s.txn(ctx, fmt.Sprintf("delete %q", key), key, cond, clientv3.OpDelete(s.abs(key)))
	return err
}

// txn runs op, inside a transaction guarded by cond when cond is not zero,
// and returns the header revision.
func (s *Store) txn(ctx context.Context, what, key string, cond dcs.Cond, op clientv3.Op) (int64, error) {
	ctx, cancel, err := s.call(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	cmps, desc := s.compares(key, cond)
	if len(cmps) == 0 {
		resp, err := s.cli.Do(ctx, op)
		if err != nil {
			return 0, wrap(what, err)
		}
		return opRevision(resp), nil
	}
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(op).Commit()
	if err != nil {
		return 0, wrap(what, err)
	}
	if !resp.Succeeded {
		return 0, conflict(what, "condition failed: "+desc)
	}
	return resp.Header.Revision, nil
}

// compares translates cond into etcd comparisons (all must hold) and a
// description for error messages.
func (s *Store) compares(key string, cond dcs.Cond) ([]clientv3.Cmp, string) {
	var cmps []clientv3.Cmp
	var desc []string
	k := s.abs(key)
	if cond.Absent {
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
		desc = append(desc, fmt.Sprintf("%q absent", key))
	}
	if cond.ModRevision != 0 {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", cond.ModRevision))
		desc = append(desc, fmt.Sprintf("%q at mod revision %d", key, cond.ModRevision))
	}
	if l := cond.Leader; l != nil {
		lk := s.abs(dcs.KeyLeader)
		// Value alone is what Patroni compares; the create revision makes it
		// a fencing token: a new term of the same member is another term.
		cmps = append(cmps,
			clientv3.Compare(clientv3.Value(lk), "=", l.Name),
			clientv3.Compare(clientv3.CreateRevision(lk), "=", l.Revision))
		desc = append(desc, fmt.Sprintf("leader %q term %d", l.Name, l.Revision))
	}
	return cmps, strings.Join(desc, " and ")
}

// opRevision returns the header revision of a put or delete response.
func opRevision(resp clientv3.OpResponse) int64 {
	switch {
	case resp.Put() != nil:
		return resp.Put().Header.Revision
	case resp.Del() != nil:
		return resp.Del().Header.Revision
	}
	return 0
}
