package fence_test

import (
	"context"
	"log"
	"time"

	"github.com/pgha/pgha/fence"
)

// An agent arms the keeper when it becomes primary and on every keepalive;
// if the agent stops doing so, the keeper stops PostgreSQL at the deadline.
func Example() {
	ctx := context.Background()
	k, err := fence.Start(ctx, fence.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer k.Close()

	pm, err := fence.LookupPostmaster("/var/lib/postgresql/15/main")
	if err != nil {
		log.Fatal(err)
	}
	deadline := time.Now().Add(5400 * time.Millisecond) // term.Deadline()
	if err := k.Arm(pm, deadline); err != nil {
		log.Printf("no fencing keeper: %v", err)
	}
	// ... on every keepalive: k.Arm(pm, term.Deadline())
	// ... after demoting or stopping PostgreSQL: k.Disarm()
}
