package failover_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/memory"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/internal/testutil"
	"github.com/pgha/pgha/pg"
	"github.com/pgha/pgha/pg/pgtest"
)

// TestControllerBootstrapFailure: a bootstrap that fails after it created
// a data directory (a custom method's restore, post_bootstrap) does not
// leave the cluster stuck: the initialize key is deleted so another
// member can bootstrap, the data directory is set aside (not deleted),
// and Run returns ErrBootstrapFailed. A second node then bootstraps the
// cluster.
func TestControllerBootstrapFailure(t *testing.T) {
	mc := memory.NewCluster(memory.ClusterOptions{Logger: quiet()})
	t.Cleanup(func() { _ = mc.Close() })
	store := mc.Store(dcs.Prefix("", "bootfail"), memory.StoreOptions{})
	net := pgtest.NewNetwork(nil)
	n1 := net.NewServer("n1")
	restoreFailed := errors.New("restore command exited with status 1")
	n1.FailBootstrap(restoreFailed)
	opts := func(name string, srv *pgtest.Server) failover.ControllerOptions {
		return failover.ControllerOptions{
			Name: name, Scope: "bootfail", Store: store, Instance: srv, DataDir: srv,
			ConnURL: "postgres://" + name + ":5432/postgres", APIURL: "http://" + name + ":8008/patroni",
			Bootstrap: &pg.BootstrapOptions{Method: &pg.BootstrapMethod{Name: "restore", Command: []string{"restore"}}},
			Logger:    quiet(),
		}
	}
	c1, err := failover.NewController(opts("n1", n1))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	runErr := c1.Run(ctx)
	if !errors.Is(runErr, failover.ErrBootstrapFailed) || !errors.Is(runErr, restoreFailed) {
		t.Fatalf("Run = %v, want ErrBootstrapFailed wrapping the bootstrap's error", runErr)
	}
	if ctx.Err() != nil {
		t.Fatalf("Run returned only when its context ended: %v", runErr)
	}
	if cl := read(t, store); cl.Initialize != nil {
		t.Errorf("initialize key %q left after the failed bootstrap", *cl.Initialize)
	}
	if got := n1.MovedAside(); len(got) != 1 {
		t.Errorf("data directories moved aside: %v, want one", got)
	}
	if empty, _, _ := n1.Inspect(); !empty {
		t.Errorf("n1's data directory is not empty after being moved aside")
	}

	// Another member can now bootstrap the cluster.
	n2 := net.NewServer("n2")
	c2, _ := runController(t, opts("n2", n2))
	testutil.Eventually(t, 10*time.Second, func() error {
		cl := read(t, store)
		switch {
		case cl.Initialize == nil || *cl.Initialize == "":
			return fmt.Errorf("initialize key %v", cl.Initialize)
		}
		return nil
	}, "n2 bootstraps the cluster")
	waitLeading(t, c2)
}

// TestControllerBootstrapRefusalIsNotFatal: an Instance that refuses to
// bootstrap before changing anything (its data directory is not empty)
// gives the initialize key back but neither moves data nor stops the loop.
func TestControllerBootstrapRefusalIsNotFatal(t *testing.T) {
	_, store := memStore(t)
	srv := pgtest.NewNetwork(nil).NewServer("n1")
	srv.FailNext("Bootstrap", pg.ErrDataDirNotEmpty)
	o := failover.ControllerOptions{
		Name: "n1", Scope: "unit", Store: store, Instance: srv, DataDir: srv,
		ConnURL: "postgres://n1:5432/postgres", APIURL: "http://n1:8008/patroni",
		Bootstrap: &pg.BootstrapOptions{}, Logger: quiet(),
	}
	c, _ := runController(t, o)
	// The injected refusal is one-off: the next race wins and bootstraps.
	waitLeading(t, c)
	if got := srv.MovedAside(); len(got) != 0 {
		t.Errorf("data moved aside after a refusal: %v", got)
	}
}

// TestControllerStandbyBootstrapNoSource: a standby cluster whose
// section has no host and whose create_replica_methods cannot run
// without one (none, or basebackup only) fails to bootstrap with a clear
// ErrInvalidConfig error, changing nothing.
func TestControllerStandbyBootstrapNoSource(t *testing.T) {
	for _, tc := range []struct {
		name, section, want string
		clones              int
	}{
		{"no methods", `{"restore_command":"cp /archive/%f %p"}`, "no host to clone from and no create_replica_methods", 0},
		{"basebackup only", `{"restore_command":"cp /archive/%f %p","create_replica_methods":["basebackup"]}`, "runs without a leader", 1},
		{"undefined method", `{"restore_command":"cp /archive/%f %p","create_replica_methods":["pgbackrest"]}`, `"pgbackrest" is not defined`, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, store := memStore(t)
			srv := pgtest.NewNetwork(nil).NewServer("n1")
			c, err := failover.NewController(failover.ControllerOptions{
				Name: "n1", Scope: "unit", Store: store, Instance: srv, DataDir: srv,
				ConnURL: "postgres://n1:5432/postgres", APIURL: "http://n1:8008/patroni",
				Bootstrap: &pg.BootstrapOptions{}, Logger: quiet(),
				BootstrapConfig: &dcs.ClusterConfig{Extra: map[string]json.RawMessage{failover.StandbyClusterKey: json.RawMessage(tc.section)}},
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			runErr := c.Run(ctx)
			if !errors.Is(runErr, failover.ErrBootstrapFailed) || !errors.Is(runErr, pg.ErrInvalidConfig) || !strings.Contains(runErr.Error(), tc.want) {
				t.Fatalf("Run = %v, want ErrBootstrapFailed wrapping ErrInvalidConfig with %q", runErr, tc.want)
			}
			if got := srv.CloneRequests(); len(got) != tc.clones {
				t.Errorf("clone requests %+v, want %d", got, tc.clones)
			}
			if empty, _, _ := srv.Inspect(); !empty {
				t.Errorf("the refused bootstrap left data")
			}
			if cl := read(t, store); cl.Initialize != nil {
				t.Errorf("initialize key %q left after the failed bootstrap", *cl.Initialize)
			}
		})
	}
}
