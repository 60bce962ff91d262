package memory_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pgha/pgha/clock"
	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/memory"
)

// Two nodes race for the leader key on one in-memory DCS driven by a
// virtual clock; the winner's lease expires when the clock passes its TTL.
func ExampleNewCluster() {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	c := memory.NewCluster(memory.ClusterOptions{Clock: clk})
	defer c.Close()

	prefix := dcs.Prefix("", "demo")
	n1 := c.Store(prefix, memory.StoreOptions{})
	n2 := c.Store(prefix, memory.StoreOptions{})

	l1, _ := n1.Grant(ctx, 10*time.Second)
	rev, err := n1.Put(ctx, dcs.KeyLeader, []byte("n1"), l1, dcs.Cond{Absent: true})
	fmt.Println("n1 acquires:", rev, err)

	l2, _ := n2.Grant(ctx, 10*time.Second)
	_, err = n2.Put(ctx, dcs.KeyLeader, []byte("n2"), l2, dcs.Cond{Absent: true})
	fmt.Println("n2 loses:", errors.Is(err, dcs.ErrConflict))

	// n1 is cut off from the DCS; its calls fail fast.
	n1.SetUnavailable(true)
	fmt.Println("n1 keepalive:", errors.Is(n1.KeepAlive(ctx, l1), dcs.ErrUnavailable))

	clk.Advance(5 * time.Second)
	_ = n2.KeepAlive(ctx, l2) // n2 renews; n1 cannot
	clk.Advance(5 * time.Second)
	snap, _ := n2.Get(ctx)
	fmt.Println("keys after TTL:", len(snap.KVs))

	rev, err = n2.Put(ctx, dcs.KeyLeader, []byte("n2"), l2, dcs.Cond{Absent: true})
	fmt.Println("n2 acquires:", rev, err)
	// Output:
	// n1 acquires: 2 <nil>
	// n2 loses: true
	// n1 keepalive: true
	// keys after TTL: 0
	// n2 acquires: 4 <nil>
}
