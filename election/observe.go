package election

import (
	"context"
	"fmt"
	"strings"

	"github.com/pgha/pgha/clock"
	"github.com/pgha/pgha/dcs"
)

// Observation is the leader as seen at a store revision. Leader is nil when
// there is no leader key.
type Observation struct {
	Leader   *dcs.Leader
	Revision int64
}

// String renders the observation for logs.
func (o Observation) String() string {
	if o.Leader == nil {
		return fmt.Sprintf("no leader @%d", o.Revision)
	}
	return fmt.Sprintf("leader %s (token %d, lease %d) @%d", o.Leader.Name, o.Leader.Revision, o.Leader.Lease, o.Revision)
}

// same reports whether a and b name the same holder (or both none).
func (o Observation) same(b Observation) bool {
	if o.Leader == nil || b.Leader == nil {
		return o.Leader == nil && b.Leader == nil
	}
	return o.Leader.Name == b.Leader.Name && o.Leader.Revision == b.Leader.Revision && o.Leader.Lease == b.Leader.Lease
}

// leaderOf converts the leader key, whatever its value: a present key blocks
// acquisition, so it is reported even when the name is not one pgha accepts.
func leaderOf(kv dcs.KV) *dcs.Leader {
	return &dcs.Leader{Name: strings.TrimSpace(string(kv.Value)), Revision: kv.CreateRevision, ModRevision: kv.ModRevision, Lease: kv.Lease}
}

func fromSnapshot(s dcs.Snapshot) Observation {
	for _, kv := range s.KVs {
		if kv.Key == dcs.KeyLeader {
			return Observation{Leader: leaderOf(kv), Revision: s.Revision}
		}
	}
	return Observation{Revision: s.Revision}
}

// Current reads the leader key once (a linearizable read).
func Current(ctx context.Context, store dcs.Store) (Observation, error) {
	s, err := store.Get(ctx)
	if err != nil {
		return Observation{}, fmt.Errorf("election: read leader: %w", err)
	}
	return fromSnapshot(s), nil
}

func current(ctx context.Context, store dcs.Store, o Options) (Observation, error) {
	ctx, cancel := o.timeout(ctx)
	defer cancel()
	return Current(ctx, store)
}

// Observe reports the leader and its changes, including "no leader"
// (Leader nil) when the key is deleted, expires or is resigned. On a store
// without watch history (Consul) a term that begins and ends between two of
// the store's reads is not seen; every term change the store's reads show
// is. The first
// value is the current state. It survives broken watches by re-reading
// (WatchResponse.Snapshot, closed watch channels) and does not trust the
// absence of events: it re-reads the store every RetryInterval. Consecutive
// duplicates are suppressed, nothing else is: the consumer must keep reading.
// While the store is unreachable nothing is sent; the last value may then be
// stale. The channel closes when ctx ends.
func Observe(ctx context.Context, store dcs.Store, opts Options) (<-chan Observation, error) {
	if store == nil {
		return nil, fmt.Errorf("election: nil store")
	}
	o, err := opts.normalize()
	if err != nil {
		return nil, err
	}
	out := make(chan Observation)
	go (&observer{store: store, o: o, out: out}).run(ctx)
	return out, nil
}

// Observe is [Observe] with the candidate's store and options.
func (c *Candidate) Observe(ctx context.Context) <-chan Observation {
	out := make(chan Observation)
	go (&observer{store: c.store, o: c.opts(), out: out}).run(ctx)
	return out
}

type observer struct {
	store dcs.Store
	o     Options
	out   chan<- Observation
	last  *Observation // last sent
	rev   int64        // revision the last sent value reflects
}

// emit sends obs unless it repeats the last value or is older than it;
// false when ctx ended.
func (ob *observer) emit(ctx context.Context, obs Observation) bool {
	if obs.Revision < ob.rev {
		return true // a stale event behind a newer re-read
	}
	ob.rev = obs.Revision
	if ob.last != nil && ob.last.same(obs) {
		return true
	}
	select {
	case ob.out <- obs:
		ob.last = &obs
		return true
	case <-ctx.Done():
		return false
	}
}

func (ob *observer) run(ctx context.Context) {
	defer close(ob.out)
	clk := ob.o.Clock
	timer := clk.NewTimer(ob.o.RetryInterval)
	defer timer.Stop()
	for ctx.Err() == nil {
		snap, err := ob.read(ctx)
		if err != nil {
			ob.o.Logger.Debug("election: observe: read failed", "err", err)
			timer.Reset(ob.o.RetryInterval)
			select {
			case <-timer.C():
				continue
			case <-ctx.Done():
				return
			}
		}
		if !ob.emit(ctx, fromSnapshot(snap)) {
			return
		}
		if !ob.follow(ctx, snap.Revision, timer) {
			return
		}
	}
}

func (ob *observer) read(ctx context.Context) (dcs.Snapshot, error) {
	rctx, cancel := ob.o.timeout(ctx)
	defer cancel()
	return ob.store.Get(rctx)
}

// follow applies watch events after rev until the watch breaks (true: re-read)
// or ctx ends (false).
func (ob *observer) follow(ctx context.Context, rev int64, timer clock.Timer) bool {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := ob.store.Watch(wctx, rev)
	timer.Reset(ob.o.RetryInterval)
	for {
		select {
		case <-ctx.Done():
			return false
		case resp, ok := <-ch:
			if !ok {
				return ctx.Err() == nil
			}
			if resp.Snapshot != nil {
				if !ob.emit(ctx, fromSnapshot(*resp.Snapshot)) {
					return false
				}
				continue
			}
			for _, ev := range resp.Events {
				if ev.KV.Key != dcs.KeyLeader {
					continue
				}
				obs := Observation{Revision: ev.KV.ModRevision}
				if ev.Type == dcs.EventPut {
					obs.Leader = leaderOf(ev.KV)
				}
				if !ob.emit(ctx, obs) {
					return false
				}
			}
		case <-timer.C():
			// Do not trust silence: a hung watch looks exactly like a quiet one.
			if snap, err := ob.read(ctx); err == nil {
				if !ob.emit(ctx, fromSnapshot(snap)) {
					return false
				}
			}
			timer.Reset(ob.o.RetryInterval)
		}
	}
}
