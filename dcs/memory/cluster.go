package memory

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/pgha/pgha/clock"
	"github.com/pgha/pgha/dcs"
)

// DefaultHistoryLimit is the number of events a cluster retains for watches
// that start in the past, when ClusterOptions.HistoryLimit is zero.
const DefaultHistoryLimit = 10000

// ClusterOptions configure a Cluster. The zero value is usable.
type ClusterOptions struct {
	// Clock drives lease expiry, request timeouts and fault delays;
	// clock.Real() when nil.
	Clock clock.Clock
	// HistoryLimit is how many events are retained for watches from an old
	// revision; older ones are compacted away. DefaultHistoryLimit when
	// zero or negative.
	HistoryLimit int
	// Logger receives debug records about expiries and resyncs;
	// slog.Default() when nil.
	Logger *slog.Logger
}

// Cluster is one shared in-memory DCS. Create it with NewCluster, hand out
// client handles with Store, and Close it when done. It is safe for
// concurrent use.
type Cluster struct {
	clock        clock.Clock
	historyLimit int
	log          *slog.Logger

	mu        sync.Mutex
	closed    bool
	rev       int64
	kvs       map[string]*entry
	leases    map[dcs.LeaseID]*lease
	lastLease dcs.LeaseID
	history   []event // events with revision > compacted, in order
	compacted int64
	stores    map[*Store]struct{}

	wake     chan struct{} // re-arms the expiry timer; capacity 1
	done     chan struct{} // closed by Close
	loopDone chan struct{} // closed when the expiry goroutine ends
}

// entry is one stored key.
type entry struct {
	value  []byte
	create int64
	mod    int64
	lease  dcs.LeaseID
}

// event is one change, with the full key.
type event struct {
	typ dcs.EventType
	key string
	e   entry // value empty for deletes; mod is the event's revision
}

// NewCluster returns an empty cluster at revision 1. It starts one goroutine
// for lease expiry, stopped by Close.
func NewCluster(opts ClusterOptions) *Cluster {
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	if opts.HistoryLimit <= 0 {
		opts.HistoryLimit = DefaultHistoryLimit
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c := &Cluster{
		clock:        opts.Clock,
		historyLimit: opts.HistoryLimit,
		log:          opts.Logger,
		rev:          1,
		kvs:          map[string]*entry{},
		leases:       map[dcs.LeaseID]*lease{},
		stores:       map[*Store]struct{}{},
		wake:         make(chan struct{}, 1),
		done:         make(chan struct{}),
		loopDone:     make(chan struct{}),
	}
	go c.expiryLoop()
	return c
}

// Close stops the expiry goroutine and closes every Store and watch of the
// cluster. Later calls on its stores return ErrClosed. It is idempotent.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-c.loopDone
		return nil
	}
	c.closed = true
	stores := make([]*Store, 0, len(c.stores))
	for s := range c.stores {
		stores = append(stores, s)
	}
	c.mu.Unlock()
	close(c.done)
	for _, s := range stores {
		_ = s.Close()
	}
	<-c.loopDone
	return nil
}

// Revision returns the current cluster revision.
func (c *Cluster) Revision() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLocked()
	return c.rev
}

// ExpireNow revokes every lease whose deadline has been reached on the
// cluster clock and queues the delete events to watchers. Every Store call
// does the same first; a simulation calls it after advancing a fake clock
// to fix the moment the expiry events are emitted.
func (c *Cluster) ExpireNow() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLocked()
}

// Compact discards the retained history up to and including rev (all of it
// when rev is at or past the current revision). Watches from a compacted
// revision start with a resync snapshot.
func (c *Cluster) Compact(rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rev = min(rev, c.rev)
	i := sort.Search(len(c.history), func(i int) bool { return c.history[i].e.mod > rev })
	c.history = append([]event(nil), c.history[i:]...)
	c.compacted = max(c.compacted, rev)
}

// Store returns a new client handle scoped to prefix: its keys are relative
// to prefix, as dcs.Store requires (use dcs.Prefix to build one). Handles
// on the same prefix see the same keys; leases are cluster-wide, as in
// etcd.
func (c *Cluster) Store(prefix string, opts StoreOptions) *Store {
	s := newStore(c, prefix, opts)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		s.closed = true
	} else {
		c.stores[s] = struct{}{}
	}
	return s
}

// snapshotLocked reads every key under prefix; c.mu must be held.
func (c *Cluster) snapshotLocked(prefix string) dcs.Snapshot {
	snap := dcs.Snapshot{Revision: c.rev}
	for k, e := range c.kvs {
		if rel, ok := strings.CutPrefix(k, prefix); ok {
			snap.KVs = append(snap.KVs, e.kv(rel))
		}
	}
	sort.Slice(snap.KVs, func(i, j int) bool { return snap.KVs[i].Key < snap.KVs[j].Key })
	return snap
}

// kv returns a copy of e as a dcs.KV under the relative key.
func (e *entry) kv(key string) dcs.KV {
	var v []byte
	if len(e.value) > 0 {
		v = append([]byte(nil), e.value...)
	}
	return dcs.KV{Key: key, Value: v, CreateRevision: e.create, ModRevision: e.mod, Lease: e.lease}
}

// checkLocked evaluates cond for the full key under prefix; c.mu must be
// held. It returns an error wrapping dcs.ErrConflict naming the failed part.
func (c *Cluster) checkLocked(prefix, key string, cond dcs.Cond) error {
	cur, exists := c.kvs[prefix+key]
	if cond.Absent && exists {
		return fmt.Errorf("key %q exists (created at revision %d): %w", key, cur.create, dcs.ErrConflict)
	}
	if cond.ModRevision != 0 {
		if !exists {
			return fmt.Errorf("key %q is absent, want mod revision %d: %w", key, cond.ModRevision, dcs.ErrConflict)
		}
		if cur.mod != cond.ModRevision {
			return fmt.Errorf("key %q has mod revision %d, want %d: %w", key, cur.mod, cond.ModRevision, dcs.ErrConflict)
		}
	}
	if l := cond.Leader; l != nil {
		ld, ok := c.kvs[prefix+dcs.KeyLeader]
		switch {
		case !ok:
			return fmt.Errorf("leader term %s@%d ended: no leader key: %w", l.Name, l.Revision, dcs.ErrConflict)
		case string(ld.value) != l.Name || ld.create != l.Revision:
			return fmt.Errorf("leader term %s@%d ended: leader key holds %q created at %d: %w",
				l.Name, l.Revision, ld.value, ld.create, dcs.ErrConflict)
		}
	}
	return nil
}

// putLocked writes key under prefix if cond holds; c.mu must be held.
func (c *Cluster) putLocked(prefix, key string, value []byte, leaseID dcs.LeaseID, cond dcs.Cond) (int64, error) {
	if err := c.checkLocked(prefix, key, cond); err != nil {
		return 0, err
	}
	var l *lease
	if leaseID != 0 {
		var ok bool
		if l, ok = c.leases[leaseID]; !ok {
			return 0, fmt.Errorf("lease %d: %w", leaseID, dcs.ErrLeaseLost)
		}
	}
	full := prefix + key
	c.rev++
	e := &entry{value: append([]byte(nil), value...), create: c.rev, mod: c.rev, lease: leaseID}
	if cur, ok := c.kvs[full]; ok {
		e.create = cur.create
		if old := c.leases[cur.lease]; old != nil && cur.lease != leaseID {
			delete(old.keys, full)
		}
	}
	if l != nil {
		l.keys[full] = struct{}{}
	}
	c.kvs[full] = e
	c.publishLocked([]event{{typ: dcs.EventPut, key: full, e: *e}})
	return c.rev, nil
}

// deleteLocked removes key under prefix if cond holds; c.mu must be held.
func (c *Cluster) deleteLocked(prefix, key string, cond dcs.Cond) error {
	if err := c.checkLocked(prefix, key, cond); err != nil {
		return err
	}
	full := prefix + key
	if _, ok := c.kvs[full]; !ok {
		return nil
	}
	c.rev++
	c.publishLocked([]event{c.removeLocked(full)})
	return nil
}

// removeLocked deletes an existing full key at the current revision and
// returns its event; c.mu must be held.
func (c *Cluster) removeLocked(full string) event {
	cur := c.kvs[full]
	if l := c.leases[cur.lease]; l != nil {
		delete(l.keys, full)
	}
	delete(c.kvs, full)
	return event{typ: dcs.EventDelete, key: full, e: entry{create: cur.create, mod: c.rev, lease: cur.lease}}
}

// publishLocked appends the events of one revision to the history,
// compacting beyond the limit, and queues them to watchers; c.mu must be
// held.
func (c *Cluster) publishLocked(evs []event) {
	c.history = append(c.history, evs...)
	if over := len(c.history) - c.historyLimit; over > 0 {
		// Compact whole revisions so that "everything after compacted is
		// retained" stays true.
		cut := c.history[over-1].e.mod
		// Reslicing keeps this O(1) amortized: append copies only the
		// live tail when it next grows the array.
		i := sort.Search(len(c.history), func(i int) bool { return c.history[i].e.mod > cut })
		c.history = c.history[i:]
		c.compacted = cut
	}
	for s := range c.stores {
		for w := range s.watchers {
			w.queueLocked(evs)
		}
	}
}
