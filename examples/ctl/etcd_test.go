package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/etcd"
	"github.com/pgha/pgha/internal/testutil"
)

// The binary's entry point against a real etcd: Patroni-shaped keys
// written with the etcd backend are listed from a patroni.yml-style
// configuration, and edit-config writes through compare-and-swap.
func TestRunAgainstEtcd(t *testing.T) {
	ec := testutil.StartEtcd(t, 1)
	endpoint := ec.Endpoint(0)
	store, err := etcd.New(etcd.Config{Endpoints: []string{endpoint}, Namespace: "/service/", Scope: "batman"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	seed(t, store, [3]string{"127.0.0.1:8008", "127.0.0.1:8009", "127.0.0.1:8010"})

	cfg := filepath.Join(t.TempDir(), "patroni.yml")
	doc := "scope: batman\nnamespace: /service/\nname: postgresql0\netcd3:\n  hosts: " + strings.TrimPrefix(endpoint, "http://") +
		"\nrestapi:\n  listen: 127.0.0.1:8008\n  authentication: {username: admin, password: secret}\n" +
		"postgresql:\n  data_dir: data/postgresql0\n  callbacks: {on_start: /bin/true}\n"
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"-c", cfg, "list"}, nil, &out, &errOut, nil); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	golden(t, "list", out.Bytes())

	// patronictl's --dcs-url (-d before the command, or $DCS_URL) names
	// the DCS of a configuration that has none.
	bare := filepath.Join(t.TempDir(), "bare.yml")
	if err := os.WriteFile(bare, []byte("scope: batman\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		env  []string
	}{
		{[]string{"-c", bare, "-d", "etcd3://" + strings.TrimPrefix(endpoint, "http://") + "/service/", "list"}, nil},
		{[]string{"-c", bare, "list", "--dcs-url", strings.TrimPrefix(endpoint, "http://") + "/service"}, nil},
		{[]string{"-c", bare, "list"}, []string{"DCS_URL=etcd://" + strings.TrimPrefix(endpoint, "http://") + "/service/"}},
	} {
		out.Reset()
		if code := run(context.Background(), tt.args, nil, &out, &errOut, tt.env); code != 0 {
			t.Fatalf("%v: exit %d: %s", tt.args, code, errOut.String())
		}
		golden(t, "list", out.Bytes())
	}

	out.Reset()
	env := []string{"PATRONICTL_CONFIG_FILE=" + cfg}
	if code := run(context.Background(), []string{"--json", "edit-config", "--set", "ttl=20", "--force"}, nil, &out, &errOut, env); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	snap, err := store.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := dcs.Parse(snap)
	if c.Config == nil || dcs.Seconds(c.Config.TTL, 0).Seconds() != 20 || c.Config.MaximumLagOnFailover == nil {
		t.Fatalf("config %+v", c.Config)
	}
}

// Exit statuses and help: 0 for help, version and completion (no
// configuration needed), 2 for a command line or configuration that
// cannot be understood, 1 for an operation that failed.
func TestRunUsage(t *testing.T) {
	cfgEnv := []string{"PATRONI_SCOPE=x", "PATRONI_ETCD3_HOSTS=127.0.0.1:1"}
	for _, tt := range []struct {
		args   []string
		env    []string
		code   int
		stdout string
		stderr string
	}{
		{nil, nil, 2, "", "no command given"},
		{[]string{"--help"}, nil, 0, "Exit status: 0 success, 1 the operation failed", ""},
		{[]string{"-h"}, nil, 0, "Available Commands:", ""},
		{[]string{"help", "list"}, nil, 0, "-e, --extended", ""},
		{[]string{"list", "--help"}, nil, 0, "-W, --refresh", ""},
		{[]string{"query", "--help"}, nil, 0, "-c, --command string", ""},
		{[]string{"remove", "--help"}, nil, 0, `"Yes I am aware"`, ""},
		{[]string{"--version"}, nil, 0, "pgha-ctl version ", ""},
		{[]string{"version"}, nil, 0, "pgha-ctl version ", ""},
		{[]string{"completion", "bash"}, nil, 0, "bash completion", ""},
		{[]string{"completion", "zsh"}, nil, 0, "compdef", ""},
		{[]string{"demote-cluster", "--help"}, nil, 0, "--primary-slot-name string", ""},
		{[]string{"promote-cluster", "--help"}, nil, 0, "--wait-lsn string", ""},
		{[]string{"demote-cluster", "--force"}, cfgEnv, 2, "", "needs --host or --restore-command"},
		{[]string{"-c", "/nonexistent.yml", "list"}, nil, 2, "", "no such file"},
		{[]string{"list"}, []string{"PATRONI_SCOPE=x"}, 2, "", "no DCS configured"},
		{[]string{"frobnicate"}, cfgEnv, 2, "", `unknown command "frobnicate"`},
		{[]string{"list", "--bogus"}, cfgEnv, 2, "", "unknown flag: --bogus"},
		{[]string{"list", "-f", "xml"}, cfgEnv, 2, "", `-f "xml": want pretty, tsv, json or yaml`},
		{[]string{"list", "-w", "-1"}, cfgEnv, 2, "", "want a positive number of seconds"},
		{[]string{"remove"}, cfgEnv, 2, "", "accepts 1 arg(s), received 0"},
		{[]string{"history", "x", "y"}, cfgEnv, 2, "", `unexpected argument "y"`},
		{[]string{"query", "-c", "select 1", "-f", "x.sql"}, cfgEnv, 2, "", "mutually exclusive"},
		{[]string{"dsn", "-r", "replica", "-m", "a"}, cfgEnv, 2, "", "mutually exclusive"},
		{[]string{"list", "other"}, cfgEnv, 1, "", `cluster "other" is not the configured one (scope "x")`},
		{[]string{"-d", "zookeeper://h:2181", "list"}, cfgEnv, 2, "", "pgha has no zookeeper backend"},
		{[]string{"-d", "h:8181", "list"}, cfgEnv, 2, "", "pgha has no exhibitor backend"},
		{[]string{"--dcs-url", "foo://h", "list"}, cfgEnv, 2, "", `unknown dcs scheme "foo"`},
		{[]string{"-d"}, cfgEnv, 2, "", "flag needs an argument: -d"},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), tt.args, nil, &out, &errOut, tt.env)
		if code != tt.code || !strings.Contains(out.String(), tt.stdout) || !strings.Contains(errOut.String(), tt.stderr) {
			t.Errorf("%v: exit %d, stdout %.300q, stderr %q; want %d, %q and %q", tt.args, code, out.String(), errOut.String(),
				tt.code, tt.stdout, tt.stderr)
		}
	}
}
