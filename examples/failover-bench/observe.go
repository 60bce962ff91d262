package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/pgha/pgha/examples/internal/localcluster"
)

// leaderEvent is one change of the leader key as received by a watch;
// Name is "" when the key was deleted (released or expired).
type leaderEvent struct {
	At   time.Time
	Name string
}

// leaderWatch records every change of the leader key with the time it was
// received: when the lease expired, when a new leader appeared, and
// whether anything changed at all.
type leaderWatch struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	events []leaderEvent
}

// watchLeader starts recording changes of key until Stop.
func watchLeader(ctx context.Context, cli *clientv3.Client, key string) (*leaderWatch, error) {
	ctx, cancel := context.WithCancel(ctx)
	get, err := cli.Get(ctx, key)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("read leader key: %w", err)
	}
	lw := &leaderWatch{cancel: cancel, done: make(chan struct{})}
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
				lw.events = append(lw.events, leaderEvent{At: now, Name: name})
			}
			lw.mu.Unlock()
		}
	}()
	return lw, nil
}

// Stop ends the watch and waits for its goroutine.
func (lw *leaderWatch) Stop() {
	lw.cancel()
	<-lw.done
}

// first returns the first event after at for which match is true.
func (lw *leaderWatch) first(at time.Time, match func(name string) bool) (leaderEvent, bool) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	for _, ev := range lw.events {
		if ev.At.After(at) && match(ev.Name) {
			return ev, true
		}
	}
	return leaderEvent{}, false
}

// gap is an interval without acknowledged writes.
type gap struct {
	LastBefore, FirstAfter time.Time
}

// Duration is the length of the gap.
func (g gap) Duration() time.Duration { return g.FirstAfter.Sub(g.LastBefore) }

// outage returns the longest gap between consecutive acknowledged writes
// that ends after from and starts before until. For a crash the gap that
// contains the fault is the outage; for a switchover the writes pause some
// time after the request, so the whole window is searched.
func outage(acks []localcluster.Ack, from, until time.Time) (gap, bool) {
	var best gap
	found := false
	for i := 1; i < len(acks); i++ {
		prev, next := acks[i-1].At, acks[i].At
		if !next.After(from) || !prev.Before(until) {
			continue
		}
		if g := (gap{prev, next}); !found || g.Duration() > best.Duration() {
			best, found = g, true
		}
	}
	return best, found
}
