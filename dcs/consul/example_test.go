package consul_test

import (
	"context"
	"errors"
	"log"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/consul"
)

// Acquire the leader key of cluster "demo" with a session, the way Patroni
// does, and release it guarded by the term. The code is the same as on
// etcd: only the Store changes. (Compiled, not run: it needs a Consul
// agent at 127.0.0.1:8500.)
func ExampleNew() {
	s, err := consul.New(consul.Config{
		Address:        "127.0.0.1:8500", // the local client agent
		Scope:          "demo",           // keys under service/demo/
		RequestTimeout: 2 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()

	lease, err := s.Grant(ctx, 10*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	rev, err := s.Put(ctx, dcs.KeyLeader, []byte("node1"), lease, dcs.Cond{Absent: true})
	switch {
	case errors.Is(err, dcs.ErrConflict):
		log.Print("another member leads")
		return
	case err != nil:
		log.Fatal(err) // dcs.ErrUnavailable: Consul did not answer in time
	}
	term := &dcs.Leader{Name: "node1", Revision: rev, Lease: lease}
	// ... act as leader while KeepAlive(ctx, lease) succeeds in time ...
	if err := s.Delete(ctx, dcs.KeyLeader, dcs.Cond{Leader: term}); err != nil && !errors.Is(err, dcs.ErrConflict) {
		log.Print(err)
	}
}
