package failover_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/failover/failovertest"
	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/internal/testutil"
	"github.com/pgha/pgha/pg"
)

// hookLog records the hooks each node ran.
type hookLog struct {
	mu   sync.Mutex
	runs []failover.HookInfo
}

func (l *hookLog) add(h failover.HookInfo) {
	l.mu.Lock()
	l.runs = append(l.runs, h)
	l.mu.Unlock()
}

// snapshot copies the runs so far, for messages.
func (l *hookLog) snapshot() []failover.HookInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.runs)
}

func (l *hookLog) has(member, action, role string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.runs, func(h failover.HookInfo) bool {
		return h.Member == member && h.Action == action && h.Role == role
	})
}

// TestPrePromoteVeto crashes the leader of three nodes whose second node's
// pre-promote hook always refuses: the third node takes over, the second
// never runs as primary, and the hooks of the winner run with Patroni's
// arguments. With every survivor refusing, nobody promotes.
func TestPrePromoteVeto(t *testing.T) {
	for _, everyone := range []bool{false, true} {
		t.Run(fmt.Sprintf("all_refuse=%v", everyone), func(t *testing.T) {
			var log hookLog
			var mu sync.Mutex
			vetoes, promoted := 0, []string{}
			c := failovertest.NewCluster(t, failovertest.Options{Nodes: 3, Configure: func(i int, o *failover.ControllerOptions) {
				refuse := i == 1 || (everyone && i > 0)
				o.OnEvent = func(e failover.Event) {
					mu.Lock()
					defer mu.Unlock()
					switch e.Kind {
					case failover.EventPromoteVetoed:
						vetoes++
					case failover.EventPromoted:
						promoted = append(promoted, e.Member)
					}
				}
				o.Hooks = failover.Hooks{
					PrePromote: func(ctx context.Context, h failover.HookInfo) error {
						log.add(h)
						if refuse {
							return errors.New("fencing the old primary failed")
						}
						return nil
					},
					OnRoleChange: func(_ context.Context, h failover.HookInfo) { log.add(h) },
					OnStart:      func(_ context.Context, h failover.HookInfo) { log.add(h) },
					Timeout:      2 * time.Second,
				}
			}})
			leader, err := c.WaitLeader(20 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if leader.Name != "n1" {
				t.Fatalf("leader %s, want n1 (the bootstrap node)", leader.Name)
			}
			if err := leader.Crash(); err != nil {
				t.Fatal(err)
			}
			if !everyone {
				next, err := c.WaitLeader(30 * time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if next.Name != "n3" {
					t.Fatalf("new leader %s, want n3 (n2's pre-promote hook refuses)", next.Name)
				}
				testutil.Eventually(t, 10*time.Second, func() error {
					if !log.has("n3", failover.HookOnRoleChange, "primary") || !log.has("n3", failover.HookPrePromote, "primary") {
						return fmt.Errorf("hooks run: %+v", log.snapshot())
					}
					return nil
				}, "n3's hooks ran")
				if c.Node("n2").Server.Role() == pg.RolePrimary {
					t.Fatal("n2 promoted although its hook refused")
				}
				return
			}
			// Nobody may promote: the survivors are refused again and
			// again (each stays out of races for a ttl after a veto), and
			// no promotion happens meanwhile.
			testutil.Eventually(t, 60*time.Second, func() error {
				mu.Lock()
				defer mu.Unlock()
				if vetoes < 3 {
					return fmt.Errorf("%d vetoes so far", vetoes)
				}
				return nil
			}, "the survivors tried again after their back-off and were refused")
			mu.Lock()
			defer mu.Unlock()
			if len(promoted) != 0 {
				t.Fatalf("promotions %v although every pre-promote hook refuses", promoted)
			}
		})
	}
}

// TestHungHooksDoNotWedgeTheLoop gives every node hooks that never
// return: a pre-promote hook that hangs counts as a veto at its timeout,
// and hung after-the-fact hooks are abandoned at theirs; the cluster still
// fails over to the node whose pre-promote hook answers.
func TestHungHooksDoNotWedgeTheLoop(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	hang := func(context.Context, failover.HookInfo) { <-release }
	c := failovertest.NewCluster(t, failovertest.Options{Nodes: 3, Configure: func(i int, o *failover.ControllerOptions) {
		o.Hooks = failover.Hooks{
			OnStart: hang, OnRoleChange: hang, OnReload: hang, OnRestart: hang, OnStop: hang,
			PrePromote: func(ctx context.Context, h failover.HookInfo) error {
				if i == 1 {
					<-release // ignores ctx: only the timeout ends the wait
				}
				return nil
			},
			Timeout: 300 * time.Millisecond,
		}
	}})
	leader, err := c.WaitLeader(20 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := leader.Crash(); err != nil {
		t.Fatal(err)
	}
	next, err := c.WaitLeader(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if next.Name != "n3" {
		t.Fatalf("new leader %s, want n3 (n2's pre-promote hook hangs)", next.Name)
	}
}

// TestStopHooks: a switchover runs the old leader's before-stop hook and
// its on_role_change (demoted); a leader that exits with a hand-over runs
// before-stop and on_stop. A restart runs before-stop and on_restart.
func TestStopHooks(t *testing.T) {
	var log hookLog
	c := failovertest.NewCluster(t, failovertest.Options{Nodes: 3, HandOver: true, Configure: func(i int, o *failover.ControllerOptions) {
		rec := func(_ context.Context, h failover.HookInfo) { log.add(h) }
		o.Hooks = failover.Hooks{BeforeStop: rec, OnStop: rec, OnRoleChange: rec, OnRestart: rec, Timeout: 2 * time.Second}
	}})
	leader, err := c.WaitLeader(20 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := leader.Controller.Restart(ctx, healthapi.RestartRequest{}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if !log.has(leader.Name, failover.HookBeforeStop, "primary") || !log.has(leader.Name, failover.HookOnRestart, "primary") {
			return fmt.Errorf("hooks run: %+v", log.snapshot())
		}
		return nil
	}, "the restart's hooks ran")

	if _, err := leader.Controller.Switchover(ctx, healthapi.SwitchoverRequest{Leader: leader.Name, Candidate: "n2"}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		if l := c.Leader(); l == nil || l.Name != "n2" {
			return errors.New("n2 does not lead yet")
		}
		if !log.has(leader.Name, failover.HookOnRoleChange, "demoted") || !log.has("n2", failover.HookOnRoleChange, "primary") {
			return fmt.Errorf("hooks run: %+v", log.snapshot())
		}
		return nil
	}, "the switchover's hooks ran")

	n2 := c.Node("n2")
	if err := n2.Stop(); err != nil {
		t.Fatal(err)
	}
	if !log.has("n2", failover.HookBeforeStop, "primary") || !log.has("n2", failover.HookOnStop, "primary") {
		t.Fatalf("exit hooks of n2 not run: %+v", log.snapshot())
	}
}
