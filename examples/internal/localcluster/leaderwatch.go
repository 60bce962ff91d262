package localcluster

import (
	"context"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// LeaderEvent is one change of the leader key as received by a watch;
// Name is "" when the key was deleted (released or expired).
type LeaderEvent struct {
	At   time.Time
	Name string
}

// LeaderWatch records every change of the leader key with the time it was
// received, so a scenario can tell when the lease expired, when a new
// leader appeared, and whether anything changed at all. Polling the DCS
// could miss a short-lived change; a watch sees each one.
type LeaderWatch struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	events []LeaderEvent
}

// WatchLeader starts recording the changes of key (the full etcd key of
// the leader lock) made after it was read, until Stop or ctx ends.
func WatchLeader(ctx context.Context, cli *clientv3.Client, key string) (*LeaderWatch, error) {
	ctx, cancel := context.WithCancel(ctx)
	get, err := cli.Get(ctx, key)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("localcluster: read leader key: %w", err)
	}
	lw := &LeaderWatch{cancel: cancel, done: make(chan struct{})}
	wch := cli.Watch(ctx, key, clientv3.WithRev(get.Header.Revision+1))
	go func() {
		defer close(lw.done)
		for resp := range wch {
			now := time.Now()
			lw.mu.Lock()
			for _, ev := range resp.Events {
				name := ""
				if ev.Type == clientv3.EventTypePut {
					name = string(ev.Kv.Value)
				}
				lw.events = append(lw.events, LeaderEvent{At: now, Name: name})
			}
			lw.mu.Unlock()
		}
	}()
	return lw, nil
}

// Stop ends the watch and waits for its goroutine; it is idempotent.
func (lw *LeaderWatch) Stop() {
	lw.cancel()
	<-lw.done
}

// Events returns a copy of the changes seen so far.
func (lw *LeaderWatch) Events() []LeaderEvent {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return append([]LeaderEvent(nil), lw.events...)
}

// First returns the first change after at for which match is true.
func (lw *LeaderWatch) First(at time.Time, match func(name string) bool) (LeaderEvent, bool) {
	for _, ev := range lw.Events() {
		if ev.At.After(at) && match(ev.Name) {
			return ev, true
		}
	}
	return LeaderEvent{}, false
}

// OtherThan returns the changes that name a leader other than name,
// deletions included.
func (lw *LeaderWatch) OtherThan(name string) []LeaderEvent {
	var out []LeaderEvent
	for _, ev := range lw.Events() {
		if ev.Name != name {
			out = append(out, ev)
		}
	}
	return out
}
