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
	if code := run([]string{"-c", cfg, "list"}, nil, &out, &errOut, nil); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if out.String() != wantList {
		t.Fatalf("got:\n%s\nwant:\n%s\nstderr: %s", out.String(), wantList, errOut.String())
	}

	out.Reset()
	env := []string{"PATRONICTL_CONFIG_FILE=" + cfg}
	if code := run([]string{"--json", "edit-config", "--set", "ttl=20", "--force"}, nil, &out, &errOut, env); code != 0 {
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

func TestRunUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		env  []string
		code int
		want string
	}{
		{nil, nil, 2, "usage: pgha-ctl"},
		{[]string{"-c", "/nonexistent.yml", "list"}, nil, 2, "no such file"},
		{[]string{"list"}, []string{"PATRONI_SCOPE=x"}, 2, "no DCS configured"},
		{[]string{"frobnicate"}, []string{"PATRONI_SCOPE=x", "PATRONI_ETCD3_HOSTS=127.0.0.1:1"}, 2, `unknown command "frobnicate"`},
	} {
		var out, errOut bytes.Buffer
		if code := run(tt.args, nil, &out, &errOut, tt.env); code != tt.code || !strings.Contains(errOut.String(), tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, code, errOut.String(), tt.code, tt.want)
		}
	}
}
