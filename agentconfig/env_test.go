package agentconfig

import (
	"slices"
	"strings"
	"testing"
)

func TestEnvOverrides(t *testing.T) {
	env := []string{
		"PATRONI_SCOPE=fromenv",
		"PATRONI_NAME=patroni-name",
		"PGHA_NAME=pgha-name", // PGHA_ wins, whatever the order
		"PGHA_RESTAPI_LISTEN=127.0.0.1:9008",
		"PATRONI_RESTAPI_USERNAME=u",
		"PATRONI_RESTAPI_PASSWORD=p",
		"PATRONI_ETCD3_HOSTS='10.0.0.1:2379','10.0.0.2:2379'",
		"PATRONI_POSTGRESQL_DATA_DIR=/data/pg",
		"PATRONI_POSTGRESQL_BIN_DIR=/usr/lib/postgresql/15/bin",
		"PATRONI_SUPERUSER_PASSWORD=su-env",
		"PATRONI_REPLICATION_USERNAME=repl",
		"PATRONI_REWIND_PASSWORD=rw",
		"PGHA_TYPO_SETTING=1",
		"HOME=/root",
		"malformed",
	}
	cfg, ws, err := Parse([]byte(minimal), env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Scope != "fromenv" || cfg.Name != "pgha-name" || cfg.RestAPI.Listen != "127.0.0.1:9008" ||
		cfg.RestAPI.Authentication != (Credentials{"u", "p"}) || cfg.Postgres.DataDir != "/data/pg" ||
		cfg.Postgres.Authentication.Superuser.Password != "su-env" || cfg.Postgres.Authentication.Replication.Username != "repl" ||
		cfg.Postgres.Authentication.Replication.Password != "b" || cfg.Postgres.Authentication.Rewind.Password != "rw" {
		t.Errorf("config %+v", cfg)
	}
	if !slices.Equal(cfg.Etcd3.Hosts, []string{"10.0.0.1:2379", "10.0.0.2:2379"}) {
		t.Errorf("hosts %q", cfg.Etcd3.Hosts)
	}
	if len(ws) != 1 || ws[0].Path != "PGHA_TYPO_SETTING" {
		t.Errorf("warnings %v", ws)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	// Reverse order: PGHA_ still wins.
	cfg, _, err = Parse([]byte(minimal), []string{"PGHA_NAME=a", "PATRONI_NAME=b"})
	if err != nil || cfg.Name != "a" {
		t.Fatalf("name %q %v", cfg.Name, err)
	}
}

// Errors in values set from the environment name the variable.
func TestEnvErrorsNameVariable(t *testing.T) {
	cfg, _, err := Parse([]byte(minimal), []string{"PATRONI_NAME=bad name", "PGHA_RESTAPI_LISTEN=nope"})
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "name (PATRONI_NAME)") || !strings.Contains(err.Error(), "restapi.listen (PGHA_RESTAPI_LISTEN)") {
		t.Fatalf("err %v", err)
	}
	_, _, err = Parse(nil, []string{"PATRONI_CONSUL_PORT=x"})
	if err == nil || !strings.Contains(err.Error(), "consul.port (PATRONI_CONSUL_PORT)") {
		t.Fatalf("err %v", err)
	}
}

// With no file at all the environment alone can configure a node.
func TestEnvOnly(t *testing.T) {
	env := []string{
		"PATRONI_SCOPE=s", "PATRONI_NAME=n", "PATRONI_RESTAPI_LISTEN=127.0.0.1:8008",
		"PATRONI_CONSUL_HOST=127.0.0.1:8500", "PATRONI_POSTGRESQL_LISTEN=127.0.0.1:5432",
		"PATRONI_POSTGRESQL_DATA_DIR=/d", "PATRONI_POSTGRESQL_BIN_DIR=/b",
		"PATRONI_SUPERUSER_PASSWORD=x", "PATRONI_REPLICATION_PASSWORD=y",
	}
	cfg, ws, err := Load("", env)
	if err != nil || len(ws) != 0 {
		t.Fatal(err, ws)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cc, err := cfg.consulConfig(nil)
	if err != nil || cc.Address != "127.0.0.1:8500" || cc.Scope != "s" || cc.SessionName != "s-n" {
		t.Fatalf("consul config %+v %v", cc, err)
	}
}
