package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pgha/pgha/dcs"
)

func TestShowConfig(t *testing.T) {
	store := newMemoryStore(t)
	seed(t, store, [3]string{"a:1", "b:1", "c:1"})
	app, out, _ := testApp(store)
	if err := app.Run(context.Background(), []string{"show-config"}); err != nil {
		t.Fatal(err)
	}
	want := `loop_wait: 10
maximum_lag_on_failover: 1048576
postgresql:
  parameters:
    max_connections: 100
  use_pg_rewind: true
retry_timeout: 10
ttl: 30
`
	if out.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", out, want)
	}
	app.JSON = true
	out.Reset()
	if err := app.Run(context.Background(), []string{"show-config"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"maximum_lag_on_failover": 1048576`) {
		t.Fatalf("json: %s", out)
	}
}

func TestEditConfig(t *testing.T) {
	ctx := context.Background()
	store := newMemoryStore(t)
	seed(t, store, [3]string{"a:1", "b:1", "c:1"})
	app, out, errOut := testApp(store)
	patch := filepath.Join(t.TempDir(), "patch.yml")
	if err := os.WriteFile(patch, []byte("retry_timeout: null\nsynchronous_mode: true\npostgresql:\n  parameters:\n    work_mem: 8MB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := app.Run(ctx, []string{"edit-config", "--set", "ttl=20", "-s", "loop_wait=5", "--pg", "max_connections=200",
		"--apply", patch, "--force"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"-loop_wait: 10\n+loop_wait: 5\n", "-    max_connections: 100\n+    max_connections: 200\n",
		"+    work_mem: 8MB\n", "-retry_timeout: 10\n", "+synchronous_mode: true\n", "-ttl: 30\n", "+ttl: 20\n", "Configuration changed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The seeded retry_timeout is removed: nothing left to warn about
	// except loop_wait against the new ttl.
	if w := errOut.String(); strings.Contains(w, "retry_timeout") {
		t.Errorf("warnings %q", w)
	}
	errOut.Reset()
	if err := app.Run(ctx, []string{"edit-config", "-s", "standby_cluster.hots=x", "--pg", "work_mem=[1]", "--force"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"warning: failover: invalid standby_cluster: standby_cluster.hots: unknown key", "warning: postgresql.parameters.work_mem"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("edit-config warnings lack %q: %q", want, errOut.String())
		}
	}
	if err := app.Run(ctx, []string{"edit-config", "-s", "standby_cluster=null", "--pg", "work_mem=8MB", "--force"}); err != nil {
		t.Fatal(err)
	}
	got, _ := getKey(t, store, "config")
	want := `{"loop_wait":5,"maximum_lag_on_failover":1048576,"postgresql":{"parameters":{"max_connections":200,"work_mem":"8MB"},"use_pg_rewind":true},"synchronous_mode":true,"ttl":20}`
	if got != want {
		t.Fatalf("stored %s\nwant   %s", got, want)
	}

	// The same change again changes nothing.
	out.Reset()
	if err := app.Run(ctx, []string{"edit-config", "--set", "ttl=20", "--force"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Not changed") {
		t.Errorf("output %s", out)
	}

	// Without --force the operator is asked; "n" writes nothing.
	app.In = strings.NewReader("n\n")
	if err := app.Run(ctx, []string{"edit-config", "--set", "ttl=25"}); !errors.Is(err, ErrAborted) {
		t.Fatalf("err %v", err)
	}
	app.In = strings.NewReader("y\n")
	if err := app.Run(ctx, []string{"edit-config", "--set", "ttl=25"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := getKey(t, store, "config"); !strings.Contains(got, `"ttl":25`) {
		t.Fatalf("stored %s", got)
	}

	// A value of the wrong type is refused before writing.
	if err := app.Run(ctx, []string{"edit-config", "--set", "ttl=soon", "--force"}); err == nil || !strings.Contains(err.Error(), "ttl") {
		t.Fatalf("err %v", err)
	}
	// Bad usage.
	for _, args := range [][]string{{"edit-config"}, {"edit-config", "--set", "novalue"}, {"edit-config", "--apply", "-"},
		{"edit-config", "--apply", "a", "--replace", "b"}} {
		if err := app.Run(ctx, args); !errors.Is(err, ErrUsage) {
			t.Errorf("%v: err %v", args, err)
		}
	}
}

// Replace from stdin, then an interactive edit through $EDITOR.
func TestEditConfigReplaceAndEditor(t *testing.T) {
	ctx := context.Background()
	store := newMemoryStore(t)
	seed(t, store, [3]string{"a:1", "b:1", "c:1"})
	app, _, _ := testApp(store)
	app.In = strings.NewReader(`{"ttl": 12, "loop_wait": 2}`)
	if err := app.Run(ctx, []string{"edit-config", "--replace", "-", "--force"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := getKey(t, store, "config"); got != `{"loop_wait":2,"ttl":12}` {
		t.Fatalf("stored %s", got)
	}
	// The "editor" is sed, changing the file in place.
	app.Editor = "sed -i s/ttl:.12/ttl:\\x2013/"
	if err := app.Run(ctx, []string{"edit-config", "--force"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := getKey(t, store, "config"); got != `{"loop_wait":2,"ttl":13}` {
		t.Fatalf("stored %s", got)
	}
}

// racingStore lets another writer change a key right before the first
// Put of that key: the compare-and-swap must then fail.
type racingStore struct {
	dcs.Store
	once  sync.Once
	key   string
	value string
}

func (s *racingStore) Put(ctx context.Context, key string, value []byte, lease dcs.LeaseID, cond dcs.Cond) (int64, error) {
	if key == s.key {
		s.once.Do(func() { _, _ = s.Store.Put(ctx, key, []byte(s.value), 0, dcs.Cond{}) })
	}
	return s.Store.Put(ctx, key, value, lease, cond)
}

func TestEditConfigConflict(t *testing.T) {
	ctx := context.Background()
	mem := newMemoryStore(t)
	seed(t, mem, [3]string{"a:1", "b:1", "c:1"})
	store := &racingStore{Store: mem, key: "config", value: `{"ttl":99}`}
	app, _, _ := testApp(store)
	err := app.Run(ctx, []string{"edit-config", "--set", "ttl=20", "--force"})
	if !errors.Is(err, dcs.ErrConflict) || !strings.Contains(err.Error(), "nothing was written") {
		t.Fatalf("err %v", err)
	}
	if got, _ := getKey(t, mem, "config"); got != `{"ttl":99}` {
		t.Fatalf("the concurrent change was overwritten: %s", got)
	}
}

func TestPauseResume(t *testing.T) {
	ctx := context.Background()
	store := newMemoryStore(t)
	seed(t, store, [3]string{"a:1", "b:1", "c:1"})
	app, out, _ := testApp(store)
	if err := app.Run(ctx, []string{"pause"}); err != nil {
		t.Fatal(err)
	}
	got, _ := getKey(t, store, "config")
	if !strings.Contains(got, `"pause":true`) || !strings.Contains(got, `"maximum_lag_on_failover":1048576`) {
		t.Fatalf("stored %s", got)
	}
	if err := app.Run(ctx, []string{"pause"}); err == nil || !strings.Contains(err.Error(), "already paused") {
		t.Fatalf("err %v", err)
	}
	if err := app.Run(ctx, []string{"resume"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := getKey(t, store, "config"); strings.Contains(got, "pause") {
		t.Fatalf("stored %s", got)
	}
	if err := app.Run(ctx, []string{"resume"}); err == nil || !strings.Contains(err.Error(), "not paused") {
		t.Fatalf("err %v", err)
	}
	if !strings.Contains(out.String(), "Success: cluster management is paused\n") ||
		!strings.Contains(out.String(), "Success: cluster management is resumed\n") {
		t.Errorf("output %s", out)
	}

	// A concurrent config change is retried over, not lost: pause is a
	// targeted change.
	racing := &racingStore{Store: store, key: "config", value: `{"ttl":21}`}
	app, out, _ = testApp(racing)
	app.JSON = true
	if err := app.Run(ctx, []string{"pause"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := getKey(t, store, "config"); got != `{"pause":true,"ttl":21}` {
		t.Fatalf("stored %s", got)
	}
	if !strings.Contains(out.String(), `"pause": true`) {
		t.Errorf("json %s", out)
	}
}

// pause --wait returns once every member reports the flag.
func TestPauseWait(t *testing.T) {
	ctx := context.Background()
	store := newMemoryStore(t)
	app, _, errOut := testApp(store)
	if _, err := store.Put(ctx, "members/a", []byte(`{"conn_url":"postgres://h:5432/postgres","api_url":"http://h:8008/patroni","state":"running","role":"primary"}`), 0, dcs.Cond{}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, []string{"pause", "--wait", "--timeout", "20s"}) }()
	// The agent notices and publishes pause in its member key.
	waitFor(t, func() bool { got, _ := getKey(t, store, "config"); return strings.Contains(got, "pause") })
	if _, err := store.Put(ctx, "members/a", []byte(`{"conn_url":"postgres://h:5432/postgres","api_url":"http://h:8008/patroni","state":"running","role":"primary","pause":true}`), 0, dcs.Cond{}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut.String(), "Waiting for the cluster to become paused") {
		t.Errorf("stderr %s", errOut)
	}
}
