package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/healthapi"
)

func outOf(a *App) *bytes.Buffer { return a.Out.(*bytes.Buffer) }

func TestReinit(t *testing.T) {
	ctx := context.Background()
	app, _, mgr0, mgr1 := cluster3(t)
	out := outOf(app)
	if err := app.Run(ctx, []string{"reinit", "batman", "postgresql1", "--force", "--from-leader"}); err != nil {
		t.Fatal(err)
	}
	if got := mgr1.Calls(); len(got) != 1 || got[0] != "reinitialize force=true from_leader=true" || len(mgr0.Calls()) != 0 {
		t.Fatalf("calls %v %v", mgr0.Calls(), got)
	}
	if actionLines(out.String()) != "Success: reinitialize for member postgresql1\n" {
		t.Errorf("output %q", out)
	}
	// A reinitialization in progress: the operator is asked whether to
	// cancel it, and the request is sent again with force.
	mgr1.set(func(m *fakeManager) { m.reinitErr = errors.New("reinitialize already in progress") })
	out.Reset()
	app.In = strings.NewReader("y\nn\n")
	err := app.Run(ctx, []string{"reinit", "batman", "postgresql1"})
	if err == nil || !strings.Contains(out.String(), "Failed: reinitialize for member postgresql1, status code=503, (reinitialize already in progress)") ||
		!strings.Contains(out.String(), "Do you want to cancel it and reinitialize anyway?") {
		t.Fatalf("err %v, output %s", err, out)
	}
	// Yes: sent again with force.
	app.In = strings.NewReader("y\ny\n")
	if err := app.Run(ctx, []string{"reinit", "batman", "postgresql1"}); err == nil {
		t.Fatal("a refused reinit succeeded")
	}
	if got := mgr1.Calls(); !contains(got, "reinitialize force=true from_leader=false") {
		t.Fatalf("calls %v", got)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"reinit", "batman", "--force"}, "name the members to reinitialize"},
		{[]string{"reinit", "batman"}, "no answer"},
		{[]string{"reinit", "batman", "postgresql0", "--force"}, "no replica among the members given"},
		{[]string{"reinit", "batman", "nobody", "--force"}, "member nobody does not exist in cluster batman"},
	} {
		if err := app.Run(ctx, tt.args); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err %v, want %q", tt.args, err, tt.want)
		}
	}
}

func TestFlush(t *testing.T) {
	ctx := context.Background()
	app, store, mgr0, mgr1 := cluster3(t)
	out := outOf(app)
	if err := app.Run(ctx, []string{"flush", "batman", "restart", "--force"}); err != nil {
		t.Fatal(err)
	}
	want := "No scheduled restart for member postgresql0\nNo scheduled restart for member postgresql1\nNo scheduled restart for member postgresql2\n"
	if actionLines(out.String()) != want {
		t.Errorf("output %q", out)
	}
	// postgresql1 has a scheduled restart: DELETE /restart on it.
	v, _ := getKey(t, store, "members/postgresql1")
	v = strings.TrimSuffix(v, "}") + `,"scheduled_restart":{"schedule":"2030-01-01T00:00:00+00:00"}}`
	if _, err := store.Put(ctx, "members/postgresql1", []byte(v), 0, dcs.Cond{}); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := app.Run(ctx, []string{"flush", "batman", "postgresql1", "restart", "--force"}); err != nil {
		t.Fatal(err)
	}
	if actionLines(out.String()) != "Success: flush scheduled restart for member postgresql1\n" || len(mgr1.Calls()) != 1 || mgr1.Calls()[0] != "cancel-restart" {
		t.Errorf("output %q, calls %v", out, mgr1.Calls())
	}
	mgr1.set(func(m *fakeManager) { m.cancelErr = healthapi.ErrNotFound })
	if err := app.Run(ctx, []string{"flush", "postgresql1", "restart", "--force"}); err == nil {
		t.Error("a refused flush succeeded")
	}

	out.Reset()
	if err := app.Run(ctx, []string{"flush", "batman", "switchover"}); err != nil || actionLines(out.String()) != "No pending scheduled switchover\n" {
		t.Fatalf("err %v, output %q", err, out)
	}
	put := func(k, v string) {
		if _, err := store.Put(ctx, k, []byte(v), 0, dcs.Cond{}); err != nil {
			t.Fatal(err)
		}
	}
	put("failover", `{"leader":"postgresql0","scheduled_at":"2030-01-01T00:00:00+00:00"}`)
	out.Reset()
	if err := app.Run(ctx, []string{"flush", "batman", "switchover"}); err != nil {
		t.Fatal(err)
	}
	if actionLines(out.String()) != "Success: Deleted scheduled switchover\n" || !contains(mgr0.Calls(), "cancel-switchover") {
		t.Errorf("output %q, calls %v", out, mgr0.Calls())
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"flush", "batman", "reload"}, `the last argument is "reload": want restart or switchover`},
		{[]string{"flush", "batman", "postgresql1", "switchover"}, "flush switchover takes no member names"},
		{[]string{"flush"}, "requires at least 1 arg"},
	} {
		if err := app.Run(ctx, tt.args); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err %v, want a usage error with %q", tt.args, err, tt.want)
		}
	}
}

// No member's API answers: the scheduled switchover is cleared in the
// failover key, with compare-and-swap, as patronictl does.
func TestFlushSwitchoverFallsBackToDCS(t *testing.T) {
	ctx := context.Background()
	store := newMemoryStore(t)
	seed(t, store, [3]string{deadAddress(t), deadAddress(t), deadAddress(t)})
	if _, err := store.Put(ctx, "failover", []byte(`{"leader":"postgresql0","scheduled_at":"2030-01-01T00:00:00+00:00"}`), 0, dcs.Cond{}); err != nil {
		t.Fatal(err)
	}
	app, out, _ := testApp(store)
	if err := app.Run(ctx, []string{"flush", "batman", "switchover"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := getKey(t, store, "failover"); got != "{}" || !strings.Contains(out.String(), "Could not find any accessible member of cluster batman") {
		t.Fatalf("failover key %q, output %s", got, out)
	}
}

func TestVersion(t *testing.T) {
	ctx := context.Background()
	app, _, _, _ := cluster3(t)
	out := outOf(app)
	err := app.Run(ctx, []string{"version", "batman"})
	lines := strings.Split(out.String(), "\n")
	if err == nil || len(lines) != 6 || !strings.HasPrefix(lines[0], "pgha-ctl version ") || lines[1] != "" ||
		lines[2] != "postgresql0: Patroni 4.0.4 PostgreSQL 15.4" || lines[3] != "postgresql1: Patroni 4.0.4 PostgreSQL 15.4" ||
		!strings.HasPrefix(lines[4], "postgresql2: failed to get version: ") {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
	out.Reset()
	if err := app.Run(ctx, []string{"version", "batman", "postgresql1"}); err != nil || !strings.HasSuffix(out.String(), "\n\npostgresql1: Patroni 4.0.4 PostgreSQL 15.4\n") {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
	if got := formatPGVersion(90624); got != "9.6.24" {
		t.Errorf("formatPGVersion(90624) = %s", got)
	}
}

func TestRestartChoices(t *testing.T) {
	ctx := context.Background()
	app, _, mgr0, mgr1 := cluster3(t)
	out := outOf(app)
	// --any: one member of those selected.
	if err := app.Run(ctx, []string{"restart", "batman", "postgresql0", "postgresql1", "--any", "--force"}); err != nil {
		t.Fatal(err)
	}
	if n := len(mgr0.Calls()) + len(mgr1.Calls()); n != 1 {
		t.Fatalf("--any restarted %d members", n)
	}
	mgr1.set(func(m *fakeManager) { m.restartErr = healthapi.ErrConflict })
	out.Reset()
	err := app.Run(ctx, []string{"restart", "batman", "postgresql1", "--force"})
	if err == nil || actionLines(out.String()) != "Failed: another restart is already scheduled on member postgresql1\n" {
		t.Fatalf("err %v, output %q", err, out)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"restart", "batman", "--role", "boss", "--force"}, `--role "boss"`},
		{[]string{"restart", "batman", "--pg-version", "fifteen", "--force"}, `--pg-version "fifteen"`},
		{[]string{"restart", "batman", "--timeout", "soon", "--force"}, `--timeout "soon"`},
	} {
		if err := app.Run(ctx, tt.args); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err %v, want a usage error with %q", tt.args, err, tt.want)
		}
	}
	// Declining shows the cluster first, and restarts nothing.
	app.In = strings.NewReader("\nn\n")
	before := len(mgr0.Calls())
	out.Reset()
	if err := app.Run(ctx, []string{"restart", "batman", "--role", "leader"}); !errors.Is(err, ErrAborted) {
		t.Fatalf("err %v", err)
	}
	if !strings.HasPrefix(out.String(), "+ Cluster: batman") || !strings.Contains(out.String(), "When should the restart take place (e.g. 2024-01-14T11:00)  [now]: ") ||
		!strings.Contains(out.String(), "Are you sure you want to restart members postgresql0?") ||
		len(mgr0.Calls()) != before {
		t.Fatalf("output %s, calls %v", out, mgr0.Calls())
	}
}

func TestRemove(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		answers string
		removed bool
		want    string
	}{
		{"batman\nYes I am aware\npostgresql0\n", true, ""},
		{"robin\n", false, "cluster names specified do not match"},
		{"batman\nyes\n", false, `you did not exactly type "Yes I am aware"`},
		{"batman\nYes I am aware\npostgresql1\n", false, "you did not specify the current leader"},
		{"", false, "no answer"},
	} {
		store := newMemoryStore(t)
		seed(t, store, [3]string{"a:1", "b:1", "c:1"})
		app, out, _ := testApp(store)
		app.In = strings.NewReader(tt.answers)
		err := app.Run(ctx, []string{"remove", "batman"})
		snap, gerr := store.Get(ctx)
		if gerr != nil {
			t.Fatal(gerr)
		}
		if tt.removed {
			if err != nil || len(snap.KVs) != 0 {
				t.Errorf("%q: err %v, %d keys left", tt.answers, err, len(snap.KVs))
			}
			if !strings.Contains(out.String(), `please type: "Yes I am aware"`) || !strings.Contains(out.String(), "Please specify the leader name") {
				t.Errorf("prompts: %s", out)
			}
			continue
		}
		if !errors.Is(err, ErrAborted) || !strings.Contains(err.Error(), tt.want) || len(snap.KVs) != len(patroniKeys) {
			t.Errorf("%q: err %v, %d keys; want %q and nothing removed", tt.answers, err, len(snap.KVs), tt.want)
		}
	}
	store := newMemoryStore(t)
	app, _, _ := testApp(store)
	if err := app.Run(ctx, []string{"remove", "robin"}); err == nil || !strings.Contains(err.Error(), `cluster "robin" is not the configured one`) {
		t.Fatalf("err %v", err)
	}
}

// syncBuffer is a Buffer that calls onWrite after each write, under a
// lock.
type syncBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	onWrite func(string)
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	b.onWrite(b.buf.String())
	return n, err
}

// -w N repeats the table until interrupted (the context ends), which is
// a normal end.
func TestListWatch(t *testing.T) {
	store := newMemoryStore(t)
	seed(t, store, [3]string{"a:1", "b:1", "c:1"})
	app, _, _ := testApp(store)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{onWrite: func(s string) {
		if strings.Count(s, "+ Cluster: batman") >= 3 {
			cancel()
		}
	}}
	app.Out = out
	if err := app.Run(ctx, []string{"list", "-w", "0.01", "-t"}); err != nil {
		t.Fatal(err)
	}
	out.mu.Lock()
	defer out.mu.Unlock()
	if n := strings.Count(out.buf.String(), "2024-01-14 10:00:00\n+ Cluster: batman"); n < 3 {
		t.Fatalf("%d tables:\n%s", n, out.buf.String())
	}
	if got, err := watchInterval(true, 0); err != nil || got.Seconds() != 2 {
		t.Errorf("-W: %v %v", got, err)
	}
}

// actionLines is what a member action printed after the cluster table
// patronictl shows first.
func actionLines(s string) string {
	if i := strings.LastIndex(s, "-+\n"); i >= 0 {
		return s[i+3:]
	}
	return s
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
