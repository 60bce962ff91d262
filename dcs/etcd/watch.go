package etcd

import (
	"context"
	"errors"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/pgha/pgha/dcs"
)

// Backoff between attempts to re-establish a broken watch.
const (
	watchRetryMin = 50 * time.Millisecond
	watchRetryMax = 2 * time.Second
)

// Watch delivers every change under the prefix after revision rev, in
// order, until ctx ends or the Store is closed; the channel is then closed.
// When the etcd watch ends (compaction, a member that lost its leader, a
// closed stream) Watch re-reads the prefix, delivers it as
// WatchResponse.Snapshot, and watches on from the snapshot's revision.
// A rev of 0 (or less) asks for all history etcd still keeps; once it has
// been compacted, as it usually has, the first response is a Snapshot.
func (s *Store) Watch(ctx context.Context, rev int64) <-chan dcs.WatchResponse {
	out := make(chan dcs.WatchResponse)
	go s.watchLoop(ctx, rev, out)
	return out
}

func (s *Store) watchLoop(ctx context.Context, rev int64, out chan<- dcs.WatchResponse) {
	defer close(out)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)()

	send := func(r dcs.WatchResponse) bool {
		select {
		case out <- r:
			return true
		case <-ctx.Done():
			return false
		}
	}

	next := max(rev, 0) + 1 // first revision not yet delivered
	resync := false
	delay := watchRetryMin
	for ctx.Err() == nil {
		if resync {
			snap, err := s.Get(ctx)
			if err != nil {
				s.log.Debug("watch: resync read failed", "err", err, "retry_in", delay)
				if !sleep(ctx, delay) {
					return
				}
				delay = min(2*delay, watchRetryMax)
				continue
			}
			if !send(dcs.WatchResponse{Revision: snap.Revision, Snapshot: &snap}) {
				return
			}
			next, resync = snap.Revision+1, false
		}
		started := time.Now()
		var err error
		next, err = s.watchOnce(ctx, next, send, func() { delay = watchRetryMin })
		if time.Since(started) > watchRetryMax {
			delay = watchRetryMin // it was a healthy watch, not a flapping one
		}
		if ctx.Err() != nil {
			return
		}
		s.log.Info("watch broken, resyncing", "err", err, "next_revision", next)
		resync = true
		if !sleep(ctx, delay) {
			return
		}
		delay = min(2*delay, watchRetryMax)
	}
}

// watchOnce runs one etcd watch from revision next until it ends, delivering
// events through send. It returns the next revision not yet delivered and
// why the watch ended.
func (s *Store) watchOnce(ctx context.Context, next int64, send func(dcs.WatchResponse) bool, progress func()) (int64, error) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := s.cli.Watch(wctx, s.prefix, clientv3.WithPrefix(), clientv3.WithRev(next))
	for wr := range wch {
		if err := wr.Err(); err != nil {
			// ErrCompacted (wr.CompactRevision > next), ErrNoLeader, or a
			// closed stream: events may be gone, so the caller resyncs.
			return next, wrap("watch", err)
		}
		if len(wr.Events) == 0 {
			continue // created notice or progress notification
		}
		resp := dcs.WatchResponse{Events: make([]dcs.Event, 0, len(wr.Events))}
		for _, ev := range wr.Events {
			e := dcs.Event{Type: dcs.EventPut, KV: s.kv(ev.Kv)}
			if ev.Type == clientv3.EventTypeDelete {
				e.Type = dcs.EventDelete
				e.KV.Value = nil
			}
			resp.Events = append(resp.Events, e)
		}
		// Revision is the last change delivered: everything up to it has
		// been seen, so watching again from Revision loses nothing.
		resp.Revision = resp.Events[len(resp.Events)-1].KV.ModRevision
		if !send(resp) {
			return next, ctx.Err()
		}
		next = resp.Revision + 1
		progress()
	}
	if err := ctx.Err(); err != nil {
		return next, err
	}
	return next, errors.New("etcd: watch channel closed")
}

// sleep waits d or until ctx ends; it reports whether d passed.
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
