package consul

import (
	"context"
	"sort"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/pgha/pgha/dcs"
)

// Backoff bounds between failed blocking queries of a watch.
const (
	watchBackoffMin = 50 * time.Millisecond
	watchBackoffMax = 2 * time.Second
)

// state is one read of the prefix: relative key -> pair, at index.
type state struct {
	index uint64
	kvs   map[string]dcs.KV
}

// Watch follows the prefix with blocking queries and turns the difference
// between two successive reads into put and delete events, in revision
// order. Consul keeps no per-key history, so:
//
//   - changes between two reads are collapsed into their net effect (a key
//     written twice yields one put, a key created and deleted in between
//     yields nothing);
//   - the state at rev is read before Watch returns; if the prefix has
//     changed since rev by then, the first response is a resync Snapshot
//     (Consul cannot replay the past);
//   - after a failed blocking query, or if Consul's index goes backwards
//     (its data was reset), the next response is a resync Snapshot.
//
// A delete event carries the index of the key's tombstone when Consul still
// has it, otherwise the index of the read that noticed the deletion.
func (s *Store) Watch(ctx context.Context, rev int64) <-chan dcs.WatchResponse {
	ch := make(chan dcs.WatchResponse, 1)
	base, err := s.read(ctx, 0)
	go s.watch(ctx, ch, rev, base, err)
	return ch
}

func (s *Store) watch(ctx context.Context, ch chan<- dcs.WatchResponse, rev int64, known state, err error) {
	defer close(ch)
	send := func(r dcs.WatchResponse) bool {
		select {
		case ch <- r:
			return true
		case <-ctx.Done():
			return false
		}
	}
	resync := err != nil
	if !resync && rev > 0 && known.index > uint64(rev) {
		if !send(s.resync(known)) {
			return
		}
	}
	backoff := watchBackoffMin
	for ctx.Err() == nil {
		if resync {
			next, err := s.read(ctx, 0)
			if err != nil {
				s.log.Debug("watch: read failed", "err", err)
				if !sleep(ctx, backoff) {
					return
				}
				backoff = min(2*backoff, watchBackoffMax)
				continue
			}
			if !send(s.resync(next)) {
				return
			}
			known, resync, backoff = next, false, watchBackoffMin
			continue
		}
		next, err := s.read(ctx, max(known.index, 1))
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			s.log.Debug("watch: blocking query failed; will resync", "err", err)
			resync = true
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, watchBackoffMax)
			continue
		case next.index < known.index:
			s.log.Warn("watch: Consul index went backwards (data reset?); resyncing", "from", known.index, "to", next.index)
			if !send(s.resync(next)) {
				return
			}
			known = next
			continue
		case next.index == known.index:
			continue // the wait timed out, or a change elsewhere
		}
		events := s.diff(ctx, known, next)
		known = next
		if len(events) > 0 && !send(dcs.WatchResponse{Revision: int64(next.index), Events: events}) {
			return
		}
	}
}

// read lists the prefix. With waitIndex > 0 it is a blocking query that
// returns when the prefix index exceeds waitIndex or the wait time passes.
func (s *Store) read(ctx context.Context, waitIndex uint64) (state, error) {
	timeout := s.cfg.RequestTimeout
	q := s.readOpts(ctx)
	if waitIndex > 0 {
		q.WaitIndex = waitIndex
		q.WaitTime = s.cfg.WatchWait
		// Consul adds up to WaitTime/16 of jitter.
		timeout += s.cfg.WatchWait + s.cfg.WatchWait/16
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pairs, meta, err := s.client.KV().List(s.prefix, q.WithContext(rctx))
	if err != nil {
		return state{}, wrap("watch", err)
	}
	st := state{index: meta.LastIndex, kvs: make(map[string]dcs.KV, len(pairs))}
	for _, kv := range s.snapshot(pairs, meta.LastIndex).KVs {
		st.kvs[kv.Key] = kv
	}
	return st, nil
}

func (s *Store) resync(st state) dcs.WatchResponse {
	snap := dcs.Snapshot{Revision: int64(st.index)}
	for _, kv := range st.kvs {
		snap.KVs = append(snap.KVs, kv)
	}
	sort.Slice(snap.KVs, func(i, j int) bool { return snap.KVs[i].Key < snap.KVs[j].Key })
	return dcs.WatchResponse{Revision: snap.Revision, Snapshot: &snap}
}

// diff returns the events that take old to next, ordered by revision.
func (s *Store) diff(ctx context.Context, old, next state) []dcs.Event {
	var events []dcs.Event
	for key, kv := range next.kvs {
		prev, existed := old.kvs[key]
		switch {
		case !existed:
			events = append(events, dcs.Event{Type: dcs.EventPut, KV: kv})
		case kv.ModRevision == prev.ModRevision:
		case kv.CreateRevision > prev.ModRevision:
			// Deleted and re-created between the reads.
			at := s.deletedAt(ctx, key, prev.ModRevision, kv.CreateRevision)
			events = append(events,
				dcs.Event{Type: dcs.EventDelete, KV: dcs.KV{Key: key, ModRevision: at}},
				dcs.Event{Type: dcs.EventPut, KV: kv})
		default:
			events = append(events, dcs.Event{Type: dcs.EventPut, KV: kv})
		}
	}
	for key, prev := range old.kvs {
		if _, ok := next.kvs[key]; !ok {
			// The read's index cannot stand in for the deletion's: keys
			// created and deleted between the reads leave tombstones too.
			at := s.deletedAt(ctx, key, prev.ModRevision, int64(next.index))
			events = append(events, dcs.Event{Type: dcs.EventDelete, KV: dcs.KV{Key: key, ModRevision: at}})
		}
	}
	sort.SliceStable(events, func(i, j int) bool {
		a, b := events[i].KV, events[j].KV
		if a.ModRevision != b.ModRevision {
			return a.ModRevision < b.ModRevision
		}
		if a.Key != b.Key {
			return a.Key < b.Key
		}
		return events[i].Type == dcs.EventDelete && events[j].Type == dcs.EventPut
	})
	return events
}

// deletedAt estimates the index at which key was deleted, known to lie in
// (after, upTo]. Consul answers a list of a prefix with the highest index
// among the live keys and the tombstones under it, so listing the key itself
// as a prefix gives its tombstone's index when no live key under that
// prefix (a longer key sharing it, or the key re-created) is newer. When
// one is, or the answer falls outside the window (the tombstone was reaped
// and Consul answered with its whole table's index), upTo is used: still
// inside the window, so the order of events holds.
func (s *Store) deletedAt(ctx context.Context, key string, after, upTo int64) int64 {
	rctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	pairs, meta, err := s.client.KV().List(s.prefix+key, (&api.QueryOptions{RequireConsistent: true}).WithContext(rctx))
	if err != nil {
		return upTo
	}
	at := int64(meta.LastIndex)
	for _, p := range pairs {
		if int64(p.ModifyIndex) >= at {
			return upTo // a live key's index, not the tombstone's
		}
	}
	if at > after && at <= upTo {
		return at
	}
	return upTo
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
