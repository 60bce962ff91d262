package agentconfig

import (
	"path/filepath"
	"testing"

	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/internal/testutil"
	"github.com/pgha/pgha/pg"
)

// The conversions produce option structs the libraries accept: pg.NewLocal
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
	if _, err := pg.NewLocal(lc); err != nil {
		t.Fatalf("pg.NewLocal: %v", err)
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
