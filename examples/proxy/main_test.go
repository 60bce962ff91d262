package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestMain lets the test binary stand in for pgha-proxy: Keepalived runs
// "<test binary> check-haproxy ..." as its check script in the VIP test.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "check-haproxy" {
		os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func runArgs(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, nil, &out, &errb)
	return code, out.String(), errb.String()
}

func TestHelpAndVersion(t *testing.T) {
	tests := []struct {
		args []string
		code int
		out  []string
	}{
		{[]string{"--help"}, exitOK, []string{"NAME\n    pgha-proxy - ", "SYNOPSIS", "check-haproxy", "EXIT STATUS"}},
		{[]string{"-h"}, exitOK, []string{"SYNOPSIS"}},
		{[]string{"--version"}, exitOK, []string{"pgha-proxy ", runtime.Version()}},
		{[]string{"check-haproxy", "--help"}, exitOK, []string{"CHECK-HAPROXY"}},
	}
	for _, tt := range tests {
		code, out, errOut := runArgs(tt.args...)
		if code != tt.code {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tt.args, code, tt.code, errOut)
		}
		for _, w := range tt.out {
			if !strings.Contains(out, w) {
				t.Errorf("%v: stdout lacks %q:\n%s", tt.args, w, out)
			}
		}
	}
	for _, args := range [][]string{{"-bogus"}, {"a.yml", "b.yml"}, {}, {"check-haproxy"}, {"check-haproxy", "-socket", "/x", "extra"}} {
		if code, _, _ := runArgs(args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}

const baseYAML = `scope: demo
namespace: /service/
etcd3:
  hosts: 127.0.0.1:2379
`

// TestConfigErrors: bad and hostile values are refused with the key named,
// before anything is written or started.
func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	good := `haproxy:
  config: /tmp/pgha-x/haproxy.cfg
  socket: /tmp/pgha-x/admin.sock
`
	tests := []struct {
		name, yaml, want string
	}{
		{"no section", "", "no haproxy: section"},
		{"unknown key", good + "  bogus: 1\n", `line 8: unknown key haproxy."bogus"`},
		{"unknown nested key", good + "  check:\n    interval: 3s\n", `unknown key haproxy.check."interval"`},
		{"no config", "haproxy:\n  socket: /tmp/a.sock\n", "haproxy.config: required"},
		{"no socket", "haproxy:\n  config: /tmp/a.cfg\n", "haproxy.socket: required"},
		{"bad duration", good + "  check:\n    inter: soon\n", "not a duration"},
		{"port range", good + "  ports:\n    primary: 70000\n", "ReadWritePort"},
		{"port clash", good + "  ports:\n    primary: 5000\n    replicas: 5000\n", "already used"},
		{"injected bind", good + "  bind_address: \"0.0.0.0\\n    bind :1\"\n", "BindAddress"},
		{"injected socket", "haproxy:\n  config: /tmp/a.cfg\n  socket: \"/tmp/a.sock level admin\\nglobal\"\n", "StatsSocket"},
		{"adopt without reload", good + "  manage: false\n", "reload_command: required"},
		{"reload with manage", good + "  reload_command: [systemctl, reload, haproxy]\n", "only used with manage: false"},
		{"keepalived no config", good + "  keepalived:\n    interface: eth0\n", "keepalived.config: required"},
		{"keepalived injected interface", good + "  keepalived:\n    config: /tmp/k.conf\n    virtual_router_id: 1\n    virtual_ips: [10.0.0.1]\n    interface: \"eth0\\n}\\nvrrp_instance x {\"\n", "Interface"},
		{"keepalived injected notify", good + "  keepalived:\n    config: /tmp/k.conf\n    interface: eth0\n    virtual_router_id: 1\n    virtual_ips: [10.0.0.1]\n    notify_master: \"/bin/sh -c \\\"reboot\\\"\"\n", "NotifyMaster"},
		{"keepalived auth_pass", good + "  keepalived:\n    config: /tmp/k.conf\n    interface: eth0\n    virtual_router_id: 1\n    virtual_ips: [10.0.0.1]\n    auth_pass: \"a\\\"b\"\n", "AuthPass"},
		{"keepalived wrapper without manage", good + "  keepalived:\n    config: /tmp/k.conf\n    interface: eth0\n    virtual_router_id: 1\n    virtual_ips: [10.0.0.1]\n    wrapper: [ip, netns, exec, x]\n", "only used with manage: true"},
		{"no scope", "haproxy:\n  config: /tmp/a.cfg\n  socket: /tmp/a.sock\n", "scope"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := baseYAML + tt.yaml
			if tt.name == "no scope" {
				doc = "etcd3:\n  hosts: 127.0.0.1:2379\n" + tt.yaml
			}
			path := filepath.Join(dir, "c"+string(rune('a'+i))+".yml")
			if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			code, _, errOut := runArgs("-check", "-c", path)
			if code != exitUsage || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d naming %q", code, errOut, exitUsage, tt.want)
			}
		})
	}
	path := filepath.Join(dir, "good.yml")
	if err := os.WriteFile(path, []byte(baseYAML+good), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runArgs("-check", path); code != exitOK {
		t.Fatalf("valid file: exit %d: %s", code, errOut)
	}
}
