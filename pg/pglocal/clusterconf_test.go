package pglocal

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/pg"
)

// showSetting returns current_setting(name) on a fresh connection, which
// has read the configuration files as they are now.
func showSetting(t *testing.T, l *Local, name string) string {
	t.Helper()
	c := sqlConn(t, l)
	defer c.Close(context.Background())
	var v string
	if err := c.QueryRow(ctxT(t, 10*time.Second), "SELECT current_setting($1)", name).Scan(&v); err != nil {
		t.Fatalf("SHOW %s: %v", name, err)
	}
	return v
}

func hasWarning(res pg.ConfigResult, parts ...string) bool {
	for _, w := range res.Warnings {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(w, p)
		}
		if all {
			return true
		}
	}
	return false
}

// TestApplyClusterConfig applies the cluster's configuration to a real
// server: reloadable settings take effect at once, restart-only ones are
// reported pending with their old and new values until a restart, the
// local configuration wins except for shared parameters, HA's own
// settings are guarded, a value the server refuses is taken out again, and
// pg_hba and pg_ident lines reach the server.
func TestApplyClusterConfig(t *testing.T) {
	ctx := ctxT(t, 180*time.Second)
	cfg := testConfig(t, "node-cc")
	cfg.Parameters = maps.Clone(testParams)
	cfg.Parameters["temp_buffers"] = "9MB"
	l := newLocal(t, cfg)
	if err := l.Bootstrap(ctx, pg.BootstrapOptions{NoSync: true}); err != nil {
		t.Fatal(err)
	}
	apply := func(t *testing.T, cc pg.ClusterConfig) pg.ConfigResult {
		t.Helper()
		res, err := l.ApplyClusterConfig(ctx, cc)
		if err != nil {
			t.Fatalf("ApplyClusterConfig: %v", err)
		}
		return res
	}

	t.Run("reloadable parameter", func(t *testing.T) {
		res := apply(t, pg.ClusterConfig{Parameters: map[string]string{"work_mem": "7MB"}})
		if !res.Reloaded || len(res.PendingRestart) != 0 || len(res.Warnings) != 0 {
			t.Fatalf("result %+v", res)
		}
		if got := showSetting(t, l, "work_mem"); got != "7MB" {
			t.Fatalf("work_mem = %s, want 7MB", got)
		}
	})

	t.Run("restart-only parameter is pending until a restart", func(t *testing.T) {
		res := apply(t, pg.ClusterConfig{Parameters: map[string]string{"work_mem": "7MB", "wal_buffers": "1MB"}})
		want := pg.PendingChange{OldValue: "512kB", NewValue: "1MB"}
		if got := res.PendingRestart["wal_buffers"]; got != want || len(res.PendingRestart) != 1 {
			t.Fatalf("pending %+v, want wal_buffers %+v", res.PendingRestart, want)
		}
		st, err := l.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !st.PendingRestart || st.PendingRestartReason["wal_buffers"] != want {
			t.Fatalf("status pending %v %+v", st.PendingRestart, st.PendingRestartReason)
		}
		if err := l.Restart(ctx, pg.StopFast); err != nil {
			t.Fatal(err)
		}
		if got := showSetting(t, l, "wal_buffers"); got != "1MB" {
			t.Fatalf("wal_buffers after restart = %s", got)
		}
		if st, err := l.Status(ctx); err != nil || st.PendingRestart || st.PendingRestartReason != nil {
			t.Fatalf("status after restart: %v %v %+v", err, st.PendingRestart, st.PendingRestartReason)
		}
	})

	t.Run("precedence and guards", func(t *testing.T) {
		res := apply(t, pg.ClusterConfig{Parameters: map[string]string{
			"temp_buffers":    "3MB", // the local 9MB wins
			"max_connections": "25",  // shared: the cluster's wins over the local 20
			"port":            "1",   // managed
			"hot_standby":     "off", // guarded
			"Bad-Name":        "1",
		}})
		for _, w := range [][]string{
			{"temp_buffers", "local", "wins"},
			{"max_connections", "every member must share it"},
			{"port", "managed by pgha"},
			{"hot_standby", "would break"},
			{"Bad-Name"},
		} {
			if !hasWarning(res, w...) {
				t.Errorf("no warning %q in %q", w, res.Warnings)
			}
		}
		if got := showSetting(t, l, "temp_buffers"); got != "9MB" {
			t.Errorf("temp_buffers = %s, want the local 9MB", got)
		}
		if got := res.PendingRestart["max_connections"]; got != (pg.PendingChange{OldValue: "20", NewValue: "25"}) {
			t.Errorf("max_connections pending %+v", got)
		}
		if got := showSetting(t, l, "hot_standby"); got != "on" {
			t.Errorf("hot_standby = %s", got)
		}
	})

	t.Run("a value the server refuses is taken out", func(t *testing.T) {
		res := apply(t, pg.ClusterConfig{Parameters: map[string]string{
			"work_mem": "banana", "no_such_param": "1", "maintenance_work_mem": "33MB",
		}})
		if !hasWarning(res, "work_mem", "refused by PostgreSQL") || !hasWarning(res, "no_such_param", "refused by PostgreSQL") {
			t.Fatalf("warnings %q", res.Warnings)
		}
		if got := showSetting(t, l, "maintenance_work_mem"); got != "33MB" {
			t.Errorf("maintenance_work_mem = %s", got)
		}
		// The file no longer holds the bad value: the server still starts.
		if err := l.Restart(ctx, pg.StopFast); err != nil {
			t.Fatalf("restart after a refused value: %v", err)
		}
	})

	t.Run("pg_hba and pg_ident", func(t *testing.T) {
		hba := append([]string{"host all all 10.99.0.0/16 scram-sha-256"}, defaultHBA...)
		res := apply(t, pg.ClusterConfig{HBA: hba, Ident: []string{"opsmap root postgres"}})
		if len(res.Warnings) != 0 {
			t.Fatalf("warnings %q", res.Warnings)
		}
		n, err := queryInt(ctx, l, "SELECT count(*) FROM pg_hba_file_rules WHERE address = '10.99.0.0'")
		if err != nil || n != 1 {
			t.Fatalf("pg_hba_file_rules has the cluster's line %d times (%v)", n, err)
		}
		n, err = queryInt(ctx, l, "SELECT count(*) FROM pg_ident_file_mappings WHERE map_name = 'opsmap' AND sys_name = 'root'")
		if err != nil || n != 1 {
			t.Fatalf("pg_ident_file_mappings has the cluster's map %d times (%v)", n, err)
		}
		res = apply(t, pg.ClusterConfig{HBA: append([]string{"bogus all all"}, defaultHBA...)})
		if !hasWarning(res, "pg_hba", "keeps its previous rules") {
			t.Fatalf("warnings %q", res.Warnings)
		}
	})

	t.Run("local parameters replaced at run time", func(t *testing.T) {
		local := maps.Clone(cfg.Parameters)
		local["temp_buffers"] = "12MB"
		res, err := l.ApplyLocalParameters(ctx, local)
		if err != nil || !res.Reloaded {
			t.Fatalf("ApplyLocalParameters: %+v %v", res, err)
		}
		if got := showSetting(t, l, "temp_buffers"); got != "12MB" {
			t.Fatalf("temp_buffers = %s, want 12MB", got)
		}
		for _, bad := range []map[string]string{{"temp_buffers": "lots"}, {"port": "1"}, {"no_such_param": "1"}} {
			if _, err := l.ApplyLocalParameters(ctx, bad); !errors.Is(err, pg.ErrInvalidConfig) {
				t.Errorf("ApplyLocalParameters(%v): %v, want ErrInvalidConfig", bad, err)
			}
		}
		if got := showSetting(t, l, "temp_buffers"); got != "12MB" {
			t.Fatalf("a refused change changed temp_buffers to %s", got)
		}
	})

	t.Run("a stopped server takes it at the next start", func(t *testing.T) {
		if err := l.Stop(ctx, pg.StopFast); err != nil {
			t.Fatal(err)
		}
		res := apply(t, pg.ClusterConfig{Parameters: map[string]string{"work_mem": "11MB"}})
		if res.Reloaded {
			t.Fatal("reloaded a stopped server")
		}
		if err := l.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if got := showSetting(t, l, "work_mem"); got != "11MB" {
			t.Fatalf("work_mem = %s, want 11MB", got)
		}
	})
}
