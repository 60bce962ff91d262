package pg_test

import (
	"context"
	"fmt"
	"log"

	"github.com/pgha/pgha/pg"
)

func ExampleSlotName() {
	fmt.Println(pg.SlotName("Node-1.dc-east"))
	fmt.Println(pg.SlotName("db@primary"))
	// Output:
	// node_1_dc_east
	// dbu0064primary
}

func ExampleParseLSN() {
	lsn, err := pg.ParseLSN("0/3000060")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(lsn, lsn.Int64())
	// Output: 0/3000060 50331744
}

// A primary and a replica on one host. Needs PostgreSQL, so it is compiled
// but not run.
func ExampleLocal() {
	ctx := context.Background()
	common := pg.LocalConfig{
		BinDir:      "/usr/lib/postgresql/15/bin",
		Superuser:   pg.Credentials{Password: "secret"},
		Replication: pg.Credentials{Password: "repl-secret"},
		Rewind:      pg.Credentials{Password: "rewind-secret"},
	}
	pcfg, rcfg := common, common
	pcfg.Name, pcfg.DataDir, pcfg.Port = "node1", "/var/lib/pgha/node1", 5432
	rcfg.Name, rcfg.DataDir, rcfg.Port = "node2", "/var/lib/pgha/node2", 5433

	primary, err := pg.NewLocal(pcfg)
	if err != nil {
		log.Fatal(err)
	}
	if err := primary.Bootstrap(ctx, pg.BootstrapOptions{DataChecksums: true}); err != nil {
		log.Fatal(err)
	}
	if err := primary.CreateSlot(ctx, pg.SlotName("node2")); err != nil {
		log.Fatal(err)
	}

	replica, err := pg.NewLocal(rcfg)
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
