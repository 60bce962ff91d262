package memory

import (
	"context"
	"sort"
	"strings"

	"github.com/pgha/pgha/dcs"
)

// watcher is one Watch: a bounded backlog filled by writers under c.mu and
// drained by its own goroutine into the caller's channel, so that a writer
// never waits for a reader.
type watcher struct {
	s      *Store
	ctx    context.Context
	cancel context.CancelFunc
	out    chan dcs.WatchResponse
	wake   chan struct{} // capacity 1

	// Guarded by s.c.mu.
	pending  []dcs.WatchResponse
	nPending int
	resync   bool
}

// Watch delivers every change under the prefix after revision rev (after
// the current revision when rev <= 0), one response per revision, until ctx
// ends or the Store is closed; the channel is then closed. If rev is older
// than the retained history, or the watcher falls more than WatchBuffer
// events behind, it receives a response with a Snapshot and continues after
// the snapshot's revision.
func (s *Store) Watch(ctx context.Context, rev int64) <-chan dcs.WatchResponse {
	wctx, cancel := context.WithCancel(ctx)
	w := &watcher{s: s, ctx: wctx, cancel: cancel, out: make(chan dcs.WatchResponse), wake: make(chan struct{}, 1)}
	c := s.c
	c.mu.Lock()
	if s.closed || c.closed {
		c.mu.Unlock()
		cancel()
		close(w.out)
		return w.out
	}
	c.expireLocked()
	if rev <= 0 {
		rev = c.rev
	}
	if rev < c.compacted {
		w.resync = true
		c.log.Debug("memory: watch from a compacted revision; resyncing", "rev", rev, "compacted", c.compacted)
	} else {
		i := sort.Search(len(c.history), func(i int) bool { return c.history[i].e.mod > rev })
		for i < len(c.history) {
			j := i + 1
			for j < len(c.history) && c.history[j].e.mod == c.history[i].e.mod {
				j++
			}
			w.queueLocked(c.history[i:j])
			i = j
		}
	}
	s.watchers[w] = struct{}{}
	c.mu.Unlock()
	w.signal()
	go w.run()
	return w.out
}

// queueLocked adds the events of one revision that fall under the
// watcher's prefix; s.c.mu must be held.
func (w *watcher) queueLocked(evs []event) {
	if w.resync {
		return // the coming snapshot covers them
	}
	var resp dcs.WatchResponse
	for _, ev := range evs {
		if rel, ok := strings.CutPrefix(ev.key, w.s.prefix); ok {
			resp.Events = append(resp.Events, dcs.Event{Type: ev.typ, KV: ev.e.kv(rel)})
		}
	}
	if len(resp.Events) == 0 {
		return
	}
	resp.Revision = evs[0].e.mod
	w.pending = append(w.pending, resp)
	w.nPending += len(resp.Events)
	if w.nPending > w.s.watchBuffer {
		w.s.c.log.Debug("memory: slow watcher; dropping its backlog for a resync", "prefix", w.s.prefix, "backlog", w.nPending)
		w.pending, w.nPending, w.resync = nil, 0, true
	}
	w.signal()
}

func (w *watcher) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// take returns what is ready to deliver: the resync snapshot or the
// backlog. Nothing is ready while the handle is cut off by a fault.
func (w *watcher) take() []dcs.WatchResponse {
	c := w.s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := w.s.fault; f.Hang || f.Unavailable {
		return nil
	}
	if w.resync {
		snap := c.snapshotLocked(w.s.prefix)
		w.resync = false
		return []dcs.WatchResponse{{Revision: snap.Revision, Snapshot: &snap}}
	}
	out := w.pending
	w.pending, w.nPending = nil, 0
	return out
}

// run delivers responses until the watch ends, then closes the channel.
func (w *watcher) run() {
	defer close(w.out)
	defer func() {
		w.s.c.mu.Lock()
		delete(w.s.watchers, w)
		w.s.c.mu.Unlock()
		w.cancel()
	}()
	for {
		select {
		case <-w.wake:
		case <-w.ctx.Done():
			return
		}
		for batch := w.take(); len(batch) > 0; batch = w.take() {
			for _, resp := range batch {
				select {
				case w.out <- resp:
				case <-w.ctx.Done():
					return
				}
			}
		}
	}
}
