package failover_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/memory"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/pg/pgtest"
)

// TestDataDirAssumedWarns: an Instance the Controller cannot look into,
// without ControllerOptions.DataDir, is taken to have a data directory
// (so the node never bootstraps or clones), and the Controller says so
// at warn level; with DataDir set it does not.
func TestDataDirAssumedWarns(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setDir  bool
		wantLog bool
	}{
		{"no DataDir", false, true},
		{"DataDir set", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			mc := memory.NewCluster(memory.ClusterOptions{})
			t.Cleanup(func() { _ = mc.Close() })
			srv := pgtest.NewNetwork(nil).NewServer("n1")
			o := failover.ControllerOptions{
				Name: "n1", Scope: "warn", Store: mc.Store(dcs.Prefix("", "warn"), memory.StoreOptions{}), Instance: srv,
				ConnURL: "postgres://n1:5432/postgres", APIURL: "http://n1:8008/patroni",
				Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})),
			}
			if tc.setDir {
				o.DataDir = srv
			}
			if _, err := failover.NewController(o); err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(buf.String(), "assuming the data directory exists"); got != tc.wantLog {
				t.Fatalf("warning logged = %v, want %v; log: %q", got, tc.wantLog, buf.String())
			}
		})
	}
}
