package pgtest_test

import (
	"context"
	"fmt"

	"github.com/pgha/pgha/pg"
	"github.com/pgha/pgha/pg/pgtest"
)

// A primary with two replicas, a synchronous one and an asynchronous one;
// the primary crashes and the synchronous replica is promoted. No
// acknowledged commit is lost, the old primary must be rewound, and the
// other replica follows the new primary across the timeline switch.
func Example() {
	ctx := context.Background()
	n := pgtest.NewNetwork(nil)
	a, b, c := n.NewServer("a"), n.NewServer("b"), n.NewServer("c")

	if err := a.Bootstrap(ctx, pg.BootstrapOptions{}); err != nil {
		panic(err)
	}
	for _, r := range []*pgtest.Server{b, c} {
		if err := r.Clone(ctx, pg.CloneRequest{Upstream: a.Addr()}); err != nil {
			panic(err)
		}
		if err := r.Follow(ctx, pg.FollowConfig{Upstream: a.Addr()}); err != nil {
			panic(err)
		}
	}
	if err := a.SetSynchronousStandbyNames(ctx, pg.SyncStandbys{Num: 1, Names: []string{"b"}}); err != nil {
		panic(err)
	}

	commit, _ := a.Commit(100)
	fmt.Println("before replication:", commit.State())
	n.Step() // WAL moves only here
	fmt.Println("after a step:", commit.State())

	a.Crash()
	tli, _ := b.Promote(ctx)
	fmt.Println("b promoted to timeline", tli)
	fmt.Println("acknowledged commits lost:", len(n.LostCommits(b)))

	d, _ := a.CheckDivergence(ctx, b.Addr())
	fmt.Println("old primary diverged:", d.Diverged)

	if err := c.Follow(ctx, pg.FollowConfig{Upstream: b.Addr()}); err != nil {
		panic(err)
	}
	n.Step()
	st, _ := c.Status(ctx)
	fmt.Println("c follows b on timeline", st.Timeline, st.Receiver)
	// Output:
	// before replication: waiting
	// after a step: acknowledged
	// b promoted to timeline 2
	// acknowledged commits lost: 0
	// old primary diverged: true
	// c follows b on timeline 2 streaming
}
