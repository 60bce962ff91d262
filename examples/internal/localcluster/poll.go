package localcluster

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors.
var (
	// ErrInvalidOptions is wrapped by errors about bad [Options].
	ErrInvalidOptions = errors.New("localcluster: invalid options")
	// ErrUnknownNode is returned for a node name or etcd member index
	// that does not exist.
	ErrUnknownNode = errors.New("localcluster: unknown node")
	// ErrNotRunning is returned for an operation that needs a running
	// process.
	ErrNotRunning = errors.New("localcluster: not running")
)

// Poll calls cond every `every` until it returns nil or ctx ends; the
// error then wraps ctx's error and cond's last one. It is the wait on a
// condition shared by the end-to-end tests and the failover benchmark.
func Poll(ctx context.Context, every time.Duration, cond func() error) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// poll is [Poll] bounded by timeout.
func poll(ctx context.Context, timeout, every time.Duration, cond func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return Poll(ctx, every, cond)
}
