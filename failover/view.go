package failover

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/pgha/pgha/clock"
	"github.com/pgha/pgha/dcs"
)

// The cluster view (see "Reading the DCS" in the package doc). The loop
// reads the cluster from the snapshot its watch keeps current
// (dcs.Snapshot.Apply) instead of a full read every loop_wait, and falls
// back to a full read (Store.Get) whenever it cannot vouch for the view:
//
//   - no watch follows the view (not started yet, broken, restarting);
//   - a store call of this node failed since the last full read began (a
//     failed keepalive, a guarded write that lost, a timeout);
//   - this node deleted a key since the last full read (a delete returns
//     no revision to wait for), or wrote one the view does not show yet;
//   - no store call succeeded within 2 keepalive intervals plus a request
//     timeout (the DCS may be gone without a call having failed yet);
//   - the last full read is one ttl old;
//   - the previous cycle acted, or its action failed.
//
// Every decision that acquires or keeps leadership is still fenced by the
// store, not by the view: acquisition is create-if-absent, every write of
// a leader carries the term guard (the leader key's value and create
// revision), and a leader's deadline comes from its own keepalives. A new
// leader acts only on a view at or after its term's revision
// (CodeSnapshotBehindTerm), which, applied in order from the watch,
// includes every write the previous leader made. A stale view can
// therefore delay a reaction, never make an unsafe one; and for as long
// as a healthy watch delivers, the view is newer than a Get made at the
// start of the cycle would be.

// dcsView is the DCS as this node's watch delivers it, and what is known
// of how current it is. Safe for concurrent use.
type dcsView struct {
	mu   sync.Mutex
	snap dcs.Snapshot
	have bool // snap holds a read
	// following: a watch applies its responses to snap.
	following bool
	// readAt is when the latest full read reflected in snap was sent.
	readAt time.Time
	// ownRev is the highest revision of this node's successful writes.
	ownRev int64
	// needRead: a call failed, or this node deleted a key, since the
	// last full read began; epoch counts such events.
	needRead bool
	epoch    uint64
	// okAt is when the latest successful store call was sent.
	okAt time.Time
}

// current returns the view when it can stand in for a full read at now:
// see the list above. maxAge bounds the time since the last full read,
// quiet the time since a store call last succeeded.
func (v *dcsView) current(now time.Time, maxAge, quiet time.Duration) (dcs.Snapshot, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	ok := v.have && v.following && !v.needRead && v.snap.Revision >= v.ownRev &&
		now.Sub(v.readAt) < maxAge && now.Sub(v.okAt) < quiet
	if !ok {
		return dcs.Snapshot{}, false
	}
	return v.snap, true
}

// begin is called before a full read; its result goes to read.
func (v *dcsView) begin() uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.epoch
}

// read records a successful full read sent at sent, begun at epoch, and
// returns the view: the read, or what the watch delivered since when that
// is newer. A read clears needRead unless a call failed (or a delete was
// made) after it began.
func (v *dcsView) read(snap dcs.Snapshot, sent time.Time, epoch uint64) dcs.Snapshot {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.have || snap.Revision >= v.snap.Revision {
		v.snap, v.have = snap, true
	}
	if sent.After(v.readAt) {
		v.readAt = sent
	}
	if epoch == v.epoch {
		v.needRead = false
	}
	return v.snap
}

// follow starts applying a watch that runs from snap.Revision (a full read
// sent at sent, begun at epoch).
func (v *dcsView) follow(snap dcs.Snapshot, sent time.Time, epoch uint64) {
	v.read(snap, sent, epoch)
	v.mu.Lock()
	v.following = true
	v.mu.Unlock()
}

// apply applies one watch response received at now; a Snapshot in it is a
// full read the store made just before.
func (v *dcsView) apply(resp dcs.WatchResponse, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.snap = v.snap.Apply(resp)
	if resp.Snapshot != nil && now.After(v.readAt) {
		v.readAt = now
	}
}

// unfollow records that the watch ended.
func (v *dcsView) unfollow() {
	v.mu.Lock()
	v.following = false
	v.mu.Unlock()
}

// called records the outcome of a store call sent at sent: rev is the
// revision of a successful write (0 for other calls); deleted says that a
// successful call removed keys.
func (v *dcsView) called(sent time.Time, rev int64, deleted bool, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err != nil || deleted {
		v.needRead = true
		v.epoch++
	}
	if err != nil {
		return
	}
	if sent.After(v.okAt) {
		v.okAt = sent
	}
	v.ownRev = max(v.ownRev, rev)
}

// trackedStore is the Controller's store: it passes every call through and
// tells the view how each one went. The election candidate uses it too, so
// failed keepalives and lost races count.
type trackedStore struct {
	dcs.Store
	v   *dcsView
	clk clock.Clock
}

func (s *trackedStore) Get(ctx context.Context) (dcs.Snapshot, error) {
	sent := s.clk.Now()
	snap, err := s.Store.Get(ctx)
	s.v.called(sent, 0, false, err)
	return snap, err
}

func (s *trackedStore) Grant(ctx context.Context, ttl time.Duration) (dcs.LeaseID, error) {
	sent := s.clk.Now()
	id, err := s.Store.Grant(ctx, ttl)
	s.v.called(sent, 0, false, err)
	return id, err
}

func (s *trackedStore) KeepAlive(ctx context.Context, id dcs.LeaseID) error {
	sent := s.clk.Now()
	err := s.Store.KeepAlive(ctx, id)
	s.v.called(sent, 0, false, err)
	return err
}

func (s *trackedStore) Revoke(ctx context.Context, id dcs.LeaseID) error {
	sent := s.clk.Now()
	err := s.Store.Revoke(ctx, id)
	s.v.called(sent, 0, true, err)
	return err
}

func (s *trackedStore) Put(ctx context.Context, key string, value []byte, lease dcs.LeaseID, cond dcs.Cond) (int64, error) {
	sent := s.clk.Now()
	rev, err := s.Store.Put(ctx, key, value, lease, cond)
	s.v.called(sent, rev, false, err)
	return rev, err
}

func (s *trackedStore) Delete(ctx context.Context, key string, cond dcs.Cond) error {
	sent := s.clk.Now()
	err := s.Store.Delete(ctx, key, cond)
	s.v.called(sent, 0, true, err)
	return err
}

// lookup returns the key's entry in snap, nil when absent.
func lookup(snap dcs.Snapshot, key string) *dcs.KV {
	for i := range snap.KVs {
		if snap.KVs[i].Key == key {
			kv := snap.KVs[i]
			return &kv
		}
	}
	return nil
}

// written is what this node last wrote to one of its keys, and at which
// revision (0: nothing yet).
type written struct {
	value []byte
	lease dcs.LeaseID
	rev   int64
}

// upToDate reports whether a key this node wrote as last needs no new
// write of value bound to lease: the same value and lease were written,
// and the view (at viewRev, where the key is seen, nil when absent) either
// predates that write or still shows it. A key deleted or changed behind
// this node's back, or bound to another lease, is written again, as is
// anything that changed; nothing is rewritten only because time passed
// (Patroni's touch_member works the same way).
func upToDate(last written, value []byte, lease dcs.LeaseID, viewRev int64, seen *dcs.KV) bool {
	if last.rev == 0 || !bytes.Equal(last.value, value) || last.lease != lease {
		return false
	}
	if viewRev < last.rev {
		return true
	}
	return seen != nil && bytes.Equal(seen.Value, value) && seen.Lease == lease
}
