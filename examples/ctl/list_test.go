package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aymanbagabas/go-udiff"

	"github.com/pgha/pgha/dcs"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the output of the golden tests")

// golden compares got with testdata/NAME.golden (or writes it with
// -update).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n%s", name, udiff.Unified(path, "got", string(want), string(got)))
	}
}

// cascade adds to the seeded cluster a fourth member replicating from
// postgresql1 (replicatefrom), with a scheduled restart, so that
// topology has a tree to draw and -e every column to fill.
func cascade(t *testing.T, s dcs.Store) {
	t.Helper()
	v := `{"conn_url":"postgres://127.0.0.1:5435/postgres","api_url":"http://127.0.0.1:8011/patroni","state":"running",` +
		`"role":"replica","version":"4.0.4","xlog_location":67108000,"receive_lsn":67108000,"replay_lsn":67108000,` +
		`"replication_state":"streaming","timeline":2,"tags":{"replicatefrom":"postgresql1","clonefrom":true},` +
		`"scheduled_restart":{"schedule":"2030-01-01T03:00:00+00:00","postgres_version":"15.5"}}`
	if _, err := s.Put(context.Background(), "members/postgresql3", []byte(v), 0, dcs.Cond{}); err != nil {
		t.Fatal(err)
	}
}

// The member list and the history in every format, against golden files.
func TestGoldenOutput(t *testing.T) {
	for _, tt := range []struct {
		name    string
		cascade bool
		args    []string
	}{
		{"list", false, []string{"list"}},
		{"list-cluster-arg", false, []string{"list", "batman"}},
		{"list-tsv", false, []string{"list", "-f", "tsv"}},
		{"list-json", false, []string{"list", "-f", "json"}},
		{"list-yaml", false, []string{"list", "-f", "yaml"}},
		{"list-timestamp", false, []string{"list", "-t"}},
		{"list-extended", true, []string{"list", "-e"}},
		{"list-extended-tsv", true, []string{"list", "-e", "-f", "tsv"}},
		{"list-extended-json", true, []string{"list", "--extended", "--format", "json"}},
		{"list-extended-yaml", true, []string{"list", "-e", "-f", "yml"}},
		{"topology", true, []string{"topology"}},
		{"topology-extended", true, []string{"topology", "-e"}},
		{"history", false, []string{"history"}},
		{"history-tsv", false, []string{"history", "-f", "tsv"}},
		{"history-json", false, []string{"history", "-f", "json"}},
		{"history-yaml", false, []string{"history", "-f", "yaml"}},
		{"show-config", false, []string{"show-config"}},
		{"edit-config-diff", false, []string{"edit-config", "-p", "work_mem=8MB", "-p", "pg_stat_statements.max=500", "-s", "ttl=20", "-s", "retry_timeout=null", "--force"}},
		{"edit-config-quiet", false, []string{"edit-config", "-q", "-s", "ttl=20", "--force"}},
		{"dsn", false, []string{"dsn"}},
		{"dsn-member", false, []string{"dsn", "-m", "postgresql2"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store := newMemoryStore(t)
			seed(t, store, [3]string{"127.0.0.1:8008", "127.0.0.1:8009", "127.0.0.1:8010"})
			if tt.cascade {
				cascade(t, store)
			}
			app, out, errOut := testApp(store)
			if err := app.Run(context.Background(), tt.args); err != nil {
				t.Fatalf("%v: %v\n%s", tt.args, err, errOut)
			}
			golden(t, tt.name, out.Bytes())
			if strings.HasSuffix(tt.name, "json") {
				var v []map[string]any
				if err := json.Unmarshal(out.Bytes(), &v); err != nil {
					t.Errorf("not a JSON list: %v", err)
				}
			}
		})
	}
}

// Headers for a cluster being bootstrapped, roles in synchronous mode,
// lag from the leader's xlog when there is no status key, maintenance mode
// and a scheduled switchover, and a hostile value from the DCS.
func TestListStates(t *testing.T) {
	ctx := context.Background()
	store := newMemoryStore(t)
	app, out, errOut := testApp(store)
	if err := app.Run(ctx, []string{"list"}); err != nil {
		t.Fatal(err)
	}
	golden(t, "list-uninitialized", out.Bytes())
	put := func(k, v string) {
		if _, err := store.Put(ctx, k, []byte(v), 0, dcsCond()); err != nil {
			t.Fatal(err)
		}
	}
	put("initialize", "")
	put("config", `{"synchronous_mode":true,"pause":true}`)
	put("leader", "a")
	put("sync", `{"leader":"a","sync_standby":"b","quorum":0}`)
	put("failover", `{"leader":"a","member":"b","scheduled_at":"2024-01-14T11:00:00+00:00"}`)
	put("members/a", `{"conn_url":"postgres://10.0.0.1:5432/postgres","api_url":"http://10.0.0.1:8008/patroni","state":"running","role":"primary","xlog_location":20971520,"timeline":3}`)
	put("members/b", `{"conn_url":"postgres://10.0.0.2:5432/postgres","api_url":"http://10.0.0.2:8008/patroni","state":"running","role":"replica","receive_lsn":10485760,"replication_state":"streaming","timeline":3}`)
	put("members/c", `{"conn_url":"postgres://10.0.0.3:5432/postgres","api_url":"http://10.0.0.3:8008/patroni","state":"stopped\n| evil |","role":"replica","tags":{"x":"a\nb\u001b[2J"}}`)
	put("members/d", `not json`)
	out.Reset()
	if err := app.Run(ctx, []string{"list"}); err != nil {
		t.Fatal(err)
	}
	golden(t, "list-states", out.Bytes())
	if strings.Contains(out.String(), "\x1b") || strings.Contains(out.String(), "\n| evil |") {
		t.Errorf("a control character from the DCS reached the output:\n%s", out)
	}
	if !strings.Contains(errOut.String(), `key "members/d" ignored`) {
		t.Errorf("stderr: %s", errOut)
	}
}
