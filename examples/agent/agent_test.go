package main

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/agentconfig"
	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/memory"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/internal/testutil"
	"github.com/pgha/pgha/pg/pglocal"
)

// sample loads agentconfig/testdata/pgha.yml with a usable data and bin dir.
func sample(t *testing.T, extraEnv ...string) *agentconfig.Config {
	t.Helper()
	env := append([]string{
		"PGHA_POSTGRESQL_BIN_DIR=" + testutil.PGBinDir(t),
		"PGHA_POSTGRESQL_DATA_DIR=" + filepath.Join(t.TempDir(), "data"),
	}, extraEnv...)
	ld, err := loadConfig(filepath.Join("..", "..", "agentconfig", "testdata", "pgha.yml"), env)
	if err != nil {
		t.Fatal(err)
	}
	return ld.cfg
}

// The configuration becomes options the libraries accept, with the values
// of the file: no process is started.
func TestAssembly(t *testing.T) {
	cfg := sample(t)
	logger := slog.New(slog.DiscardHandler)
	lc, err := cfg.PGLocalConfig(logger)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := pglocal.New(lc)
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCluster(memory.ClusterOptions{Logger: logger})
	t.Cleanup(func() { _ = mem.Close() })
	store := mem.Store(dcs.Prefix(cfg.Namespace, cfg.Scope), memory.StoreOptions{})

	// A key pgha does not know: bootstrap.dcs still writes it. A ttl
	// other than pgha's default, to tell where the Controller's comes from.
	cfg.Bootstrap.DCS.Extra = map[string]any{"custom_knob": map[string]any{"a": 1}}
	nine := agentconfig.Seconds(9)
	cfg.Bootstrap.DCS.TTL = &nine
	ten, zero := 10.0, 0.0
	rewind := true
	def := failover.DefaultSettings()
	for _, tc := range []struct {
		name         string
		dynamic      *dcs.ClusterConfig
		ttl          time.Duration
		startTimeout time.Duration
		rewind       bool
	}{
		// No key yet: pgha's defaults but bootstrap.dcs's ttl, fixed for
		// the Controller's life; bootstrap.dcs only seeds the key.
		{"no key: bootstrap.dcs ttl", nil, 9 * time.Second, def.PrimaryStartTimeout, def.UsePgRewind},
		{"existing cluster's config key wins", &dcs.ClusterConfig{TTL: &ten, PrimaryStartTimeout: &zero,
			Postgresql: &dcs.PostgresqlConfig{UsePgRewind: &rewind}}, 10 * time.Second, 0, true},
		// bootstrap.dcs says 0, but once the cluster's key exists only it
		// counts: a value removed from it falls back to pgha's default.
		{"key without primary_start_timeout: pgha's default", &dcs.ClusterConfig{
			Postgresql: &dcs.PostgresqlConfig{UsePgRewind: &rewind}}, def.TTL, def.PrimaryStartTimeout, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := controllerOptions(cfg, store, inst, nil, tc.dynamic, logger, nil)
			if o.Name != "node1" || o.Scope != "demo" {
				t.Errorf("name/scope %q/%q", o.Name, o.Scope)
			}
			if o.APIURL != "http://127.0.0.1:8008/patroni" || o.ConnURL != "postgres://127.0.0.1:5432/postgres" {
				t.Errorf("urls %q %q", o.APIURL, o.ConnURL)
			}
			if o.Settings.TTL != tc.ttl || o.Settings.LoopWait != def.LoopWait || o.Settings.PrimaryStartTimeout != tc.startTimeout ||
				o.Settings.MaximumLagOnFailover != def.MaximumLagOnFailover || o.Settings.UsePgRewind != tc.rewind {
				t.Errorf("settings %+v", o.Settings)
			}
			// The key this node writes if it bootstraps: all of bootstrap.dcs.
			if o.BootstrapConfig == nil {
				t.Fatal("no BootstrapConfig")
			}
			enc := string(o.BootstrapConfig.Encode())
			for _, want := range []string{`"ttl":9`, `"loop_wait":1`, `"primary_start_timeout":0`, `"use_pg_rewind":true`,
				`"wal_log_hints":"on"`, `"custom_knob":{"a":1}`} {
				if !strings.Contains(enc, want) {
					t.Errorf("BootstrapConfig %s lacks %s", enc, want)
				}
			}
			if o.Bootstrap == nil || o.Bootstrap.Encoding != "UTF8" || !o.Bootstrap.DataChecksums {
				t.Errorf("bootstrap %+v", o.Bootstrap)
			}
			if o.ExitMode != failover.ExitHandOver {
				t.Errorf("exit mode %v", o.ExitMode)
			}
			if v, ok := o.Tags["failover_priority"]; !ok || v == nil {
				t.Errorf("tags %v", o.Tags)
			}
			ctrl, err := failover.NewController(o)
			if err != nil {
				t.Fatalf("NewController: %v", err)
			}
			ho, err := handlerOptions(cfg, ctrl, logger)
			if err != nil {
				t.Fatal(err)
			}
			if ho.Auth.Username != "admin" || ho.AllowUnauthenticated {
				t.Errorf("auth %+v allow %v", ho.Auth, ho.AllowUnauthenticated)
			}
			if _, err := healthapi.New(ho); err != nil {
				t.Fatalf("healthapi.New: %v", err)
			}
		})
	}
}

func TestPlanReload(t *testing.T) {
	base := sample(t)
	dataDir := base.Postgres.DataDir
	env := func(kv ...string) *agentconfig.Config {
		return sample(t, append([]string{"PGHA_POSTGRESQL_DATA_DIR=" + dataDir}, kv...)...)
	}
	base = env()
	for _, tc := range []struct {
		name      string
		next      *agentconfig.Config
		level     bool
		set       []string
		reset     []string
		restart   []string
		bootstrap bool
	}{
		{name: "unchanged", next: env()},
		{name: "log level", next: env("PGHA_LOG_LEVEL=DEBUG"), level: true},
		{name: "restapi listen needs a restart", next: env("PGHA_RESTAPI_LISTEN=127.0.0.1:8009"), restart: []string{"restapi"}},
		{name: "name needs a restart", next: env("PGHA_NAME=other"), restart: []string{"name"}},
		{name: "recovery_conf needs a restart", next: func() *agentconfig.Config {
			c := env()
			c.Postgres.RecoveryConf = map[string]any{"restore_command": "cp /archive/%f %p"}
			return c
		}(), restart: []string{"postgresql.recovery_conf"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := planReload(base, base, tc.next)
			if (p.level != nil) != tc.level {
				t.Errorf("level change %v, want %v", p.level, tc.level)
			}
			if !slices.Equal(p.restart, tc.restart) {
				t.Errorf("restart %v, want %v", p.restart, tc.restart)
			}
			if len(p.set) != 0 || len(p.reset) != 0 || p.bootstrap {
				t.Errorf("unexpected plan %+v", p)
			}
		})
	}

	t.Run("parameters", func(t *testing.T) {
		next := env()
		next.Postgres.Parameters = map[string]any{"max_connections": 200, "work_mem": "8MB"} // unix_socket_directories removed too
		p := planReload(base, base, next)
		if p.set["max_connections"] != "200" || p.set["work_mem"] != "8MB" || len(p.set) != 2 {
			t.Errorf("set %v", p.set)
		}
		if len(p.reset) != 0 {
			t.Errorf("reset %v", p.reset)
		}
		if !slices.Contains(p.restart, "postgresql.parameters.unix_socket_directories") {
			t.Errorf("restart %v", p.restart)
		}
		// bootstrap.dcs parameters are the cluster's, not the member's:
		// changing them only says that bootstrap changed.
		next2 := env()
		delete(next2.Bootstrap.DCS.Postgresql.Parameters, "wal_log_hints")
		p = planReload(base, base, next2)
		if len(p.reset) != 0 || !p.bootstrap {
			t.Errorf("reset %v bootstrap %v", p.reset, p.bootstrap)
		}
		next3 := env()
		delete(next3.Postgres.Parameters, "max_connections")
		p = planReload(base, base, next3)
		if !slices.Equal(p.reset, []string{"max_connections"}) {
			t.Errorf("reset %v", p.reset)
		}
	})
}

func TestCreateRoleSQL(t *testing.T) {
	for _, tc := range []struct {
		name string
		user agentconfig.User
		want string
		bad  bool
	}{
		{name: "app", user: agentconfig.User{Password: "it's", Options: []string{"createdb", "connection limit 5"}},
			want: `CREATE ROLE "app" WITH LOGIN CREATEDB CONNECTION LIMIT 5 PASSWORD 'it''s'`},
		{name: `we"ird`, user: agentconfig.User{}, want: `CREATE ROLE "we""ird" WITH LOGIN`},
		{name: "x", user: agentconfig.User{Options: []string{"createdb; DROP TABLE t"}}, bad: true},
	} {
		got, err := createRoleSQL(tc.name, tc.user)
		if tc.bad {
			if err == nil {
				t.Errorf("%s: want an error, got %q", tc.name, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

// run's exit codes for usage and configuration errors; nothing starts.
func TestRunExitCodes(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yml")
	if err := os.WriteFile(bad, []byte("scope: [1]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := []string{"PGHA_POSTGRESQL_BIN_DIR=" + testutil.PGBinDir(t), "PGHA_POSTGRESQL_DATA_DIR=" + filepath.Join(t.TempDir(), "d")}
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		code int
		msg  string
	}{
		{"no configuration", nil, nil, exitUsage, "no configuration"},
		{"missing file", []string{"-c", "/nonexistent.yml"}, nil, exitUsage, "nonexistent"},
		{"invalid file", []string{"-c", bad}, nil, exitUsage, "scope"},
		{"unknown flag", []string{"-x"}, nil, exitUsage, "usage"},
		{"check a valid file", []string{"-check", "-c", filepath.Join("..", "..", "agentconfig", "testdata", "pgha.yml")}, good, exitOK, "config: valid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if code := run(tc.args, tc.env, &out, &out); code != tc.code {
				t.Errorf("exit %d, want %d; output:\n%s", code, tc.code, out.String())
			}
			if !strings.Contains(out.String(), tc.msg) {
				t.Errorf("output does not mention %q:\n%s", tc.msg, out.String())
			}
		})
	}
}

// --help and --version answer like Unix tools: on stdout, exit 0, nothing
// on stderr, whatever else is on the command line; a usage error is the
// synopsis on stderr with exit 2. The real main runs in a child process.
func TestHelpAndVersion(t *testing.T) {
	if os.Getenv("PGHA_AGENT_TEST_MAIN") == "1" {
		os.Args = append([]string{"pgha-agent"}, strings.Fields(os.Getenv("PGHA_AGENT_TEST_ARGS"))...)
		main()
		return
	}
	for _, tc := range []struct {
		args   string
		code   int
		stdout []string
		stderr string
	}{
		{"--help", exitOK, []string{"NAME\n    pgha-agent - ", "SYNOPSIS", "OPTIONS", "ENVIRONMENT", "SIGNALS", "EXIT STATUS", "--version"}, ""},
		{"-h", exitOK, []string{"SYNOPSIS"}, ""},
		{"-help -c /nonexistent.yml", exitOK, []string{"SYNOPSIS"}, ""},
		{"--version", exitOK, []string{"pgha-agent ", runtime.Version()}, ""},
		{"--version -c /nonexistent.yml", exitOK, []string{"pgha-agent "}, ""},
		{"--bogus", exitUsage, nil, "flag provided but not defined: -bogus\nusage: pgha-agent"},
	} {
		t.Run(tc.args, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelpAndVersion$")
			cmd.Env = append(os.Environ(), "PGHA_AGENT_TEST_MAIN=1", "PGHA_AGENT_TEST_ARGS="+tc.args)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout.String(), stderr.String())
			}
			for _, want := range tc.stdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
				}
			}
			if tc.stderr == "" && stderr.Len() > 0 {
				t.Errorf("stderr not empty:\n%s", stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr.String())
			}
			if tc.code != exitOK && stdout.Len() > 0 {
				t.Errorf("stdout on a usage error:\n%s", stdout.String())
			}
		})
	}
}
