package failovertest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/failover/failovertest"
	"github.com/pgha/pgha/pg"
	"github.com/pgha/pgha/pg/pgtest"
)

// gatedServer holds Bootstrap and Clone until gate closes: a restore or a
// base backup that takes a while.
type gatedServer struct {
	*pgtest.Server
	gate chan struct{}
}

func (g gatedServer) wait(ctx context.Context) error {
	select {
	case <-g.gate:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g gatedServer) Bootstrap(ctx context.Context, opts pg.BootstrapOptions) error {
	if err := g.wait(ctx); err != nil {
		return err
	}
	return g.Server.Bootstrap(ctx, opts)
}

func (g gatedServer) Clone(ctx context.Context, req pg.CloneRequest) error {
	if err := g.wait(ctx); err != nil {
		return err
	}
	return g.Server.Clone(ctx, req)
}

// TestMemberStateWhileCreating: while a bootstrap or a clone runs, the
// member key and GET /patroni show Patroni's state for it ("initializing
// new cluster", "running custom bootstrap script", "creating replica"),
// not "stopped"; once the server runs, "running".
func TestMemberStateWhileCreating(t *testing.T) {
	tests := []struct {
		name      string
		method    *pg.BootstrapMethod
		bootstrap string
	}{
		{"initdb", nil, dcs.StateInitializing},
		{"custom method", &pg.BootstrapMethod{Name: "restore", Command: []string{"restore-backup"}}, dcs.StateCustomBootstrap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bootGate, cloneGate := make(chan struct{}), make(chan struct{})
			c := failovertest.NewCluster(t, failovertest.Options{Nodes: 2, Configure: func(i int, o *failover.ControllerOptions) {
				gate := cloneGate
				if i == 0 {
					gate = bootGate
					o.Bootstrap.Method = tt.method
				}
				o.Instance = gatedServer{Server: o.Instance.(*pgtest.Server), gate: gate}
			}})
			n1, n2 := c.Nodes()[0], c.Nodes()[1]
			waitState := func(n *failovertest.Node, want string) {
				t.Helper()
				eventually(t, settleTimeout, fmt.Sprintf("%s is %q", n.Name, want), func() error {
					role, state, err := memberState(c, n.Name)
					if err != nil {
						return err
					}
					if state != want {
						return fmt.Errorf("member key state %q (role %s)", state, role)
					}
					if got := n.Controller.State().PGState; got != want {
						return fmt.Errorf("GET /patroni state %q", got)
					}
					return nil
				})
			}
			waitState(n1, tt.bootstrap)
			close(bootGate)
			waitState(n1, dcs.StateRunning)
			waitState(n2, dcs.StateCreatingReplica)
			close(cloneGate)
			waitState(n2, dcs.StateRunning)
		})
	}
}

// memberState reads name's published role and state from c's DCS.
func memberState(c *failovertest.Cluster, name string) (role, state string, err error) {
	snap, err := c.Store().Get(context.Background())
	if err != nil {
		return "", "", err
	}
	m := dcs.Parse(snap).Member(name)
	if m == nil {
		return "", "", fmt.Errorf("%s has no member key", name)
	}
	return m.Role, m.State, nil
}
