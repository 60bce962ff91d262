package agentconfig

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/election"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/internal/testutil"
	"github.com/pgha/pgha/pg/pglocal"
)

// The conversions produce option structs the libraries accept: pglocal.New
// (which validates and checks the real binaries) and healthapi.New.
func TestConversionsAcceptedByLibraries(t *testing.T) {
	env := []string{
		"PGHA_POSTGRESQL_BIN_DIR=" + testutil.PGBinDir(t),
		"PGHA_POSTGRESQL_DATA_DIR=" + filepath.Join(t.TempDir(), "data"),
	}
	cfg, _, err := Load(filepath.Join("testdata", "pgha.yml"), env)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	lc, err := cfg.PGLocalConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pglocal.New(lc); err != nil {
		t.Fatalf("pglocal.New: %v", err)
	}
	auth, err := cfg.HealthAuth()
	if err != nil {
		t.Fatal(err)
	}
	var cache healthapi.StateCache
	if _, err := healthapi.New(healthapi.Options{Source: &cache, Auth: auth}); err != nil {
		t.Fatalf("healthapi.New: %v", err)
	}
	so, err := cfg.HealthServerOptions(nil)
	if err != nil {
		t.Fatal(err)
	}
	if srv := healthapi.NewServer(nil, so); srv.Addr != "127.0.0.1:8008" {
		t.Fatalf("server addr %q", srv.Addr)
	}
}

// Patroni's unix_socket_directories: '..' is relative to the data
// directory.
func TestRelativeSocketDir(t *testing.T) {
	cfg, _, err := Parse([]byte(minimal+"  parameters:\n    unix_socket_directories: '..'\n    Work_Mem: 4MB\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	lc, err := cfg.PGLocalConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if lc.SocketDir != "/var/lib/pgha" || lc.Parameters["work_mem"] != "4MB" {
		t.Fatalf("socket dir %q, parameters %v", lc.SocketDir, lc.Parameters)
	}
}

// Patroni's (Python's) level names become slog levels.
func TestLogLevel(t *testing.T) {
	for lv, want := range map[string]slog.Level{"": slog.LevelInfo, "DEBUG": slog.LevelDebug, "info": slog.LevelInfo,
		"WARNING": slog.LevelWarn, "ERROR": slog.LevelError, "CRITICAL": slog.LevelError, "bogus": slog.LevelInfo} {
		c := &Config{Log: Log{Level: lv}}
		if got := c.LogLevel(); got != want {
			t.Errorf("%q: %v, want %v", lv, got, want)
		}
	}
}

// ControllerOptions: bootstrap.dcs seeds the config key and sizes the first
// lease of a new cluster; an existing cluster's key wins, and what it
// leaves out takes pgha's defaults, not this file's.
func TestControllerOptions(t *testing.T) {
	cfg, _, err := Parse([]byte(minimal+`bootstrap:
  dcs:
    ttl: 9
    primary_start_timeout: 0
    postgresql: {use_pg_rewind: true}
  initdb: [data-checksums]
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	def := failover.DefaultSettings()
	ten, rewind := 10.0, false
	for _, tc := range []struct {
		name       string
		dynamic    *dcs.ClusterConfig
		ttl, start time.Duration
		rewind     bool
	}{
		{"new cluster: bootstrap.dcs ttl only", nil, 9 * time.Second, def.PrimaryStartTimeout, def.UsePgRewind},
		{"existing cluster's key", &dcs.ClusterConfig{TTL: &ten, Postgresql: &dcs.PostgresqlConfig{UsePgRewind: &rewind}},
			10 * time.Second, def.PrimaryStartTimeout, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := cfg.ControllerOptions(nil, nil, tc.dynamic)
			if o.Name != "n1" || o.Scope != "s1" || o.ConnURL != "postgres://127.0.0.1:5432/postgres" || o.APIURL != "http://127.0.0.1:8008/patroni" {
				t.Errorf("member %+v", o)
			}
			if o.Settings.TTL != tc.ttl || o.Settings.PrimaryStartTimeout != tc.start || o.Settings.UsePgRewind != tc.rewind {
				t.Errorf("settings %+v", o.Settings)
			}
			if enc := string(o.BootstrapConfig.Encode()); enc != `{"ttl":9,"primary_start_timeout":0,"postgresql":{"use_pg_rewind":true}}` {
				t.Errorf("bootstrap config %s", enc)
			}
			if o.Bootstrap == nil || !o.Bootstrap.DataChecksums || o.PeerAuth != nil || o.Election != (election.Options{}) {
				t.Errorf("bootstrap %+v, peer auth %+v, election %+v", o.Bootstrap, o.PeerAuth, o.Election)
			}
		})
	}
}
