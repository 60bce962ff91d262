package etcdembed

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// Start starts m with the configuration Config builds.
func Start(m Member, initialCluster, token string) (*embed.Etcd, error) {
	cfg, err := Config(m, initialCluster, token)
	if err != nil {
		return nil, err
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcdembed: start member %s: %w", m.Name, err)
	}
	return e, nil
}

// WaitReady waits until e serves clients (it has joined a cluster with a
// leader), for at most timeout.
func WaitReady(ctx context.Context, e *embed.Etcd, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-e.Server.ReadyNotify():
		return nil
	case <-e.Server.StopNotify():
		return fmt.Errorf("server stopped before becoming ready")
	case <-t.C:
		return fmt.Errorf("not ready after %v", timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// HardStop stops e abruptly, as close to a crash as an in-process server
// gets: raft stops without a leadership transfer before the rest of the
// server is closed. The data directory is kept.
func HardStop(e *embed.Etcd) {
	e.Server.HardStop()
	e.Close()
}

// HardStopAll hard-stops every server concurrently: stopping one at a time
// would let the survivors lose quorum and wait for elections.
func HardStopAll(servers []*embed.Etcd) {
	var wg sync.WaitGroup
	for _, e := range servers {
		wg.Go(func() { HardStop(e) })
	}
	wg.Wait()
}
