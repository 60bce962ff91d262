package failover_test

import (
	"context"
	"log"
	"net/http"
	"os/signal"
	"syscall"

	"github.com/pgha/pgha/dcs/etcd"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/pg"
	"github.com/pgha/pgha/pg/pglocal"
)

// ExampleNewController assembles a node agent: an etcd store, a local
// PostgreSQL, the Controller, and its health API (which peers query
// during the leader race). It is compiled, not run.
func ExampleNewController() {
	store, err := etcd.New(etcd.Config{Endpoints: []string{"http://127.0.0.1:2379"}, Scope: "demo"})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	inst, err := pglocal.New(pglocal.Config{
		Name: "node1", Scope: "demo", BinDir: "/usr/lib/postgresql/15/bin", DataDir: "/var/lib/pgha/node1",
		Port: 5432, Superuser: pglocal.Credentials{Password: "secret"}, Replication: pglocal.Credentials{Password: "secret"},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctrl, err := failover.NewController(failover.ControllerOptions{
		Name: "node1", Scope: "demo", Store: store, Instance: inst,
		ConnURL:   "postgres://10.0.0.1:5432/postgres",
		APIURL:    "http://10.0.0.1:8008/patroni",
		Settings:  failover.DefaultSettings(), // ttl 6 s, loop_wait 1 s
		Bootstrap: &pg.BootstrapOptions{DataChecksums: true},
	})
	if err != nil {
		log.Fatal(err)
	}
	h, err := healthapi.New(healthapi.Options{Source: ctrl, Manager: ctrl,
		Auth: healthapi.Auth{Username: "admin", Password: "secret"}})
	if err != nil {
		log.Fatal(err)
	}
	srv := healthapi.NewServer(h, healthapi.ServerOptions{Addr: "10.0.0.1:8008"})
	go func() {
		if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
			log.Print(err)
		}
	}()
	defer srv.Close()

	// On SIGTERM a leader hands over (clean stop, then resign) before Run
	// returns.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := ctrl.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
