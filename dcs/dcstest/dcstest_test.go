package dcstest_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgha/pgha/clock"
	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/dcstest"
	"github.com/pgha/pgha/dcs/memory"
)

// TestNoHistoryAcceptsHistory runs the suite's NoHistory checks on the
// memory backend: they are a weakening of the strict ones, so a backend
// with a history must pass them too.
func TestNoHistoryAcceptsHistory(t *testing.T) {
	clk := clock.NewFake(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	c := memory.NewCluster(memory.ClusterOptions{Clock: clk})
	t.Cleanup(func() { _ = c.Close() })
	var n atomic.Int64
	open := func(t *testing.T, prefix string, opts memory.StoreOptions) *memory.Store {
		s := c.Store(prefix, opts)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	dcstest.Run(t, dcstest.Backend{
		NewStore: func(t *testing.T) dcs.Store {
			return open(t, dcs.Prefix("", fmt.Sprintf("scope%d", n.Add(1))), memory.StoreOptions{})
		},
		NewStoreOn: func(t *testing.T, s dcs.Store) dcs.Store {
			return open(t, s.(*memory.Store).Prefix(), memory.StoreOptions{})
		},
		NewUnreachableStore: func(t *testing.T, timeout time.Duration) dcs.Store {
			s := open(t, dcs.Prefix("", "unreachable"), memory.StoreOptions{RequestTimeout: timeout})
			s.SetFault(memory.Fault{Hang: true})
			return s
		},
		TTL:       10 * time.Second,
		Advance:   clk.Advance,
		NoHistory: true,
	})
}
