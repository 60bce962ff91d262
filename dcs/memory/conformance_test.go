package memory_test

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

// backend describes a memory cluster on clk to the conformance suite.
func backend(t *testing.T, clk clock.Clock) dcstest.Backend {
	c := memory.NewCluster(memory.ClusterOptions{Clock: clk})
	t.Cleanup(func() { _ = c.Close() })
	var n atomic.Int64
	open := func(t *testing.T, prefix string, opts memory.StoreOptions) *memory.Store {
		s := c.Store(prefix, opts)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	return dcstest.Backend{
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
	}
}

func TestConformanceFakeClock(t *testing.T) {
	clk := clock.NewFake(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	b := backend(t, clk)
	b.TTL = 10 * time.Second
	b.Advance = clk.Advance
	dcstest.Run(t, b)
}

func TestConformanceRealClock(t *testing.T) {
	b := backend(t, clock.Real())
	b.TTL = time.Second
	b.ExpiryTolerance = 500 * time.Millisecond
	dcstest.Run(t, b)
}
