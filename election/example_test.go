package election_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/memory"
	"github.com/pgha/pgha/election"
)

// Two members compete for leadership on an in-memory store; the leader
// makes a fenced write, then resigns and the other member takes over.
func Example() {
	ctx := context.Background()
	cluster := memory.NewCluster(memory.ClusterOptions{})
	defer cluster.Close()
	opts := election.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	newCandidate := func(name string) *election.Candidate {
		c, err := election.New(cluster.Store(dcs.Prefix("", "demo"), memory.StoreOptions{}), name, opts)
		if err != nil {
			log.Fatal(err)
		}
		return c
	}
	alice, bob := newCandidate("alice"), newCandidate("bob")
	defer alice.Close()
	defer bob.Close()

	term, err := alice.Campaign(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("leader:", term.Leader().Name)

	// Every write made on behalf of the leader is fenced by the term.
	if _, err := term.Put(ctx, dcs.KeyStatus, []byte(`{"optime":0}`), dcs.Cond{}); err != nil {
		log.Fatal(err)
	}

	if _, err := bob.Lease(ctx); err != nil {
		log.Fatal(err)
	}
	_, err = bob.TryAcquire(ctx)
	fmt.Println("bob's attempt fails:", errors.Is(err, election.ErrLeaderExists))

	if err := term.Resign(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("alice still valid:", term.Valid(time.Now()))
	_, err = term.Put(ctx, dcs.KeyStatus, []byte(`{"optime":1}`), dcs.Cond{})
	fmt.Println("alice's fenced write fails:", errors.Is(err, dcs.ErrConflict))

	next, err := bob.Campaign(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("leader:", next.Leader().Name, "newer token:", next.Token() > term.Token())
	// Output:
	// leader: alice
	// bob's attempt fails: true
	// alice still valid: false
	// alice's fenced write fails: true
	// leader: bob newer token: true
}
