package pglocal_test

import (
	"context"
	"fmt"
	"log"

	"github.com/pgha/pgha/pg"
	"github.com/pgha/pgha/pg/pglocal"
)

// A primary and a replica on one host. Needs PostgreSQL, so it is compiled
// but not run.
func ExampleLocal() {
	ctx := context.Background()
	common := pglocal.Config{
		BinDir:      "/usr/lib/postgresql/15/bin",
		Superuser:   pglocal.Credentials{Password: "secret"},
		Replication: pglocal.Credentials{Password: "repl-secret"},
		Rewind:      pglocal.Credentials{Password: "rewind-secret"},
	}
	pcfg, rcfg := common, common
	pcfg.Name, pcfg.DataDir, pcfg.Port = "node1", "/var/lib/pgha/node1", 5432
	rcfg.Name, rcfg.DataDir, rcfg.Port = "node2", "/var/lib/pgha/node2", 5433

	primary, err := pglocal.New(pcfg)
	if err != nil {
		log.Fatal(err)
	}
	if err := primary.Bootstrap(ctx, pg.BootstrapOptions{DataChecksums: true}); err != nil {
		log.Fatal(err)
	}
	if err := primary.CreateSlot(ctx, pg.SlotName("node2")); err != nil {
		log.Fatal(err)
	}

	replica, err := pglocal.New(rcfg)
	if err != nil {
		log.Fatal(err)
	}
	if err := replica.Clone(ctx, pg.CloneRequest{Upstream: primary.Upstream()}); err != nil {
		log.Fatal(err)
	}
	if err := replica.Follow(ctx, pg.FollowConfig{Upstream: primary.Upstream(), SlotName: pg.SlotName("node2")}); err != nil {
		log.Fatal(err)
	}
	st, err := replica.Status(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.Role, st.Receiver, st.ReplayLSN)
}
