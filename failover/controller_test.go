package failover_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/memory"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/internal/testutil"
	"github.com/pgha/pgha/pg"
)

// quiet discards the Controllers' logs; PGHA_TEST_LOG=1 sends them to
// stderr instead, for a look at a failing test.
func quiet() *slog.Logger {
	if os.Getenv("PGHA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func memStore(t *testing.T) (*memory.Cluster, dcs.Store) {
	t.Helper()
	mc := memory.NewCluster(memory.ClusterOptions{Logger: quiet()})
	t.Cleanup(func() { _ = mc.Close() })
	return mc, mc.Store(dcs.Prefix("", "unit"), memory.StoreOptions{})
}

func baseOptions(store dcs.Store, inst *fakePG) failover.ControllerOptions {
	return failover.ControllerOptions{
		Name: "n1", Scope: "unit", Store: store, Instance: inst, DataDir: inst,
		ConnURL: "postgres://127.0.0.1:5432/postgres", APIURL: "http://127.0.0.1:1/patroni",
		Bootstrap: &pg.BootstrapOptions{}, Logger: quiet(),
	}
}

func TestNewControllerValidation(t *testing.T) {
	_, store := memStore(t)
	tests := []struct {
		field string
		mod   func(*failover.ControllerOptions)
	}{
		{"Name", func(o *failover.ControllerOptions) { o.Name = "bad name" }},
		{"Store", func(o *failover.ControllerOptions) { o.Store = nil }},
		{"Instance", func(o *failover.ControllerOptions) { o.Instance = nil }},
		{"ConnURL", func(o *failover.ControllerOptions) { o.ConnURL = "127.0.0.1:5432" }},
		{"APIURL", func(o *failover.ControllerOptions) { o.APIURL = "" }},
		{"Election.TTL", func(o *failover.ControllerOptions) { o.Election.TTL = 10 * time.Second }},
		{"Settings", func(o *failover.ControllerOptions) { o.Settings = failover.DefaultSettings(); o.Settings.LoopWait = -1 }},
		{"BootstrapConfig", func(o *failover.ControllerOptions) {
			o.BootstrapConfig = &dcs.ClusterConfig{Extra: map[string]json.RawMessage{"x": json.RawMessage("{bad")}}
		}},
		{"BootstrapConfig", func(o *failover.ControllerOptions) {
			nan := math.NaN()
			o.BootstrapConfig = &dcs.ClusterConfig{TTL: &nan, Postgresql: &dcs.PostgresqlConfig{Parameters: map[string]any{"f": func() {}}}}
		}},
		{"Election", func(o *failover.ControllerOptions) { o.Election.Margin = time.Millisecond }},
		{"ExitMode", func(o *failover.ControllerOptions) { o.ExitMode = 7 }},
		{"StartTimeout", func(o *failover.ControllerOptions) { o.StartTimeout = -time.Second }},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			o := baseOptions(store, newFakePG())
			tt.mod(&o)
			_, err := failover.NewController(o)
			if !errors.Is(err, failover.ErrInvalidOptions) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("got %v, want ErrInvalidOptions naming %s", err, tt.field)
			}
		})
	}
	if _, err := failover.NewController(baseOptions(store, newFakePG())); err != nil {
		t.Fatalf("valid options: %v", err)
	}
}

// runController runs a Controller until the test ends (or stop is called).
func runController(t *testing.T, o failover.ControllerOptions) (*failover.Controller, func()) {
	t.Helper()
	c, err := failover.NewController(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := c.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return c, stop
}

func read(t *testing.T, s dcs.Store) *dcs.Cluster {
	t.Helper()
	snap, err := s.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return dcs.Parse(snap)
}

// waitLeading waits until c leads a running primary.
func waitLeading(t *testing.T, c *failover.Controller) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, func() error {
		s := c.State()
		if s == nil || !s.IsLeader || s.Role != dcs.RolePrimary || s.PGState != dcs.StateRunning {
			return fmt.Errorf("state %+v", s)
		}
		return nil
	}, "controller leads")
}

// TestControllerSingleNode: a lone node bootstraps, publishes its keys,
// and on exit hands over: CHECKPOINT, fast stop, resign.
func TestControllerSingleNode(t *testing.T) {
	_, store := memStore(t)
	inst := newFakePG()
	var mu sync.Mutex
	var events []failover.EventKind
	o := baseOptions(store, inst)
	o.OnEvent = func(e failover.Event) {
		mu.Lock()
		events = append(events, e.Kind)
		mu.Unlock()
	}
	c, stop := runController(t, o)
	waitLeading(t, c)
	testutil.Eventually(t, 10*time.Second, func() error {
		cl := read(t, store)
		m := cl.Member("n1")
		switch {
		case cl.Leader == nil || cl.Leader.Name != "n1":
			return fmt.Errorf("leader %+v", cl.Leader)
		case cl.Initialize == nil || *cl.Initialize != "7000000000000000001":
			return fmt.Errorf("initialize %v", cl.Initialize)
		case cl.Config == nil || cl.Config.LoopWait == nil:
			return fmt.Errorf("config %+v", cl.Config)
		case cl.Status == nil || cl.Status.Optime == 0:
			return fmt.Errorf("status %+v", cl.Status)
		case m == nil || m.Role != dcs.RolePrimary || m.State != dcs.StateRunning || m.XLogLocation == nil || m.APIURL == "":
			return fmt.Errorf("member %+v", m)
		}
		return nil
	}, "keys published")
	stop()
	if cl := read(t, store); cl.Leader != nil {
		t.Fatalf("leader key left after hand-over: %+v", cl.Leader)
	}
	calls := inst.Calls()
	if !slices.Contains(calls, "checkpoint") || !slices.Contains(calls, "stop:fast") {
		t.Fatalf("hand-over did not checkpoint and stop fast: %v", calls)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []failover.EventKind{failover.EventBootstrapped, failover.EventAcquired, failover.EventDemoted, failover.EventReleased} {
		if !slices.Contains(events, want) {
			t.Errorf("event %s missing from %v", want, events)
		}
	}
}

// TestControllerManager covers the healthapi.Manager paths on a running
// single-node cluster with a second member key (no agent behind it).
func TestControllerManager(t *testing.T) {
	_, store := memStore(t)
	inst := newFakePG()
	o := baseOptions(store, inst)
	o.SwitchoverTimeout = 5 * time.Second
	o.ExitMode = failover.ExitAbandon
	c, _ := runController(t, o)
	waitLeading(t, c)
	ctx := context.Background()
	ghost := &dcs.Member{Name: "n2", ConnURL: "postgres://127.0.0.1:1/postgres", APIURL: "http://127.0.0.1:1/patroni",
		State: dcs.StateRunning, Role: dcs.RoleReplica}
	if _, err := store.Put(ctx, dcs.MemberKey("n2"), ghost.Encode(), 0, dcs.Cond{}); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	kind := func(err error, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Fatalf("got %v, want %v", err, want)
		}
	}

	_, err := c.Switchover(ctx, healthapi.SwitchoverRequest{Leader: "nx"})
	kind(err, healthapi.ErrNotPossible)
	_, err = c.Switchover(ctx, healthapi.SwitchoverRequest{Leader: "n1", Candidate: "n9"})
	kind(err, healthapi.ErrNotPossible)
	_, err = c.Failover(ctx, healthapi.FailoverRequest{Candidate: "n1"})
	kind(err, healthapi.ErrNotPossible)
	kind(c.CancelSwitchover(ctx), healthapi.ErrNotFound)

	res, err := c.Switchover(ctx, healthapi.SwitchoverRequest{Leader: "n1", Candidate: "n2", ScheduledAt: &later})
	if err != nil || !res.Scheduled {
		t.Fatalf("scheduled switchover: %+v %v", res, err)
	}
	if f := read(t, store).Failover; f == nil || f.Leader != "n1" || f.Member != "n2" || f.ScheduledAt == nil {
		t.Fatalf("failover key %+v", f)
	}
	if err := c.CancelSwitchover(ctx); err != nil {
		t.Fatal(err)
	}
	if f := read(t, store).Failover; !f.IsZero() {
		t.Fatalf("failover key after cancel: %+v", f)
	}

	// n2 does not answer its API: the leader refuses and clears the key.
	_, err = c.Switchover(ctx, healthapi.SwitchoverRequest{Leader: "n1", Candidate: "n2"})
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("switchover to a dead candidate: %v", err)
	}
	if cl := read(t, store); cl.Leader == nil || cl.Leader.Name != "n1" || !cl.Failover.IsZero() {
		t.Fatalf("after refused switchover: leader %+v failover %+v", cl.Leader, cl.Failover)
	}

	if res, err := c.Restart(ctx, healthapi.RestartRequest{Schedule: &later}); err != nil || !res.Scheduled {
		t.Fatalf("scheduled restart: %+v %v", res, err)
	}
	if err := c.CancelRestart(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Restart(ctx, healthapi.RestartRequest{}); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(inst.Calls(), "restart:fast") {
		t.Fatalf("restart not performed: %v", inst.Calls())
	}
	kind(c.CancelRestart(ctx), healthapi.ErrNotFound)
	if err := c.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	kind(c.Reinitialize(ctx, healthapi.ReinitializeRequest{}), healthapi.ErrNotPossible)

	cfg, err := c.ReadConfig(ctx)
	if err != nil || cfg.ModRevision == 0 || !strings.Contains(string(cfg.Data), "loop_wait") {
		t.Fatalf("ReadConfig: %+v %v", cfg, err)
	}
	kind(c.WriteConfig(ctx, []byte("{not json"), cfg.ModRevision), healthapi.ErrInvalid)
	kind(c.WriteConfig(ctx, []byte(`{"ttl":6}`), cfg.ModRevision-1), dcs.ErrConflict)
	if err := c.WriteConfig(ctx, []byte(`{"ttl":6,"loop_wait":1}`), cfg.ModRevision); err != nil {
		t.Fatal(err)
	}
}

// TestControllerRunOnce: a Controller runs once.
func TestControllerRunOnce(t *testing.T) {
	_, store := memStore(t)
	o := baseOptions(store, newFakePG())
	o.ExitMode = failover.ExitAbandon
	c, stop := runController(t, o)
	stop()
	if err := c.Run(context.Background()); !errors.Is(err, failover.ErrRunning) {
		t.Fatalf("second Run: %v", err)
	}
}
