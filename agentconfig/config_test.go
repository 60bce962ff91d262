package agentconfig

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
)

func warningPaths(ws []Warning) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.Path)
	}
	slices.Sort(out)
	return out
}

// Patroni's sample postgres0.yml loads; the only warnings are for the keys
// pgha does not implement.
func TestLoadPatroniSample(t *testing.T) {
	cfg, warnings, err := Load(filepath.Join("testdata", "postgres0.yml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"postgresql.pgpass", "watchdog.safety_margin"}
	if got := warningPaths(warnings); !slices.Equal(got, want) {
		t.Fatalf("warnings %v, want %v:\n%v", got, want, warnings)
	}
	if cfg.Scope != "batman" || cfg.Name != "postgresql0" || cfg.RestAPI.Listen != "127.0.0.1:8008" {
		t.Errorf("top level: %+v", cfg)
	}
	if cfg.Etcd3 == nil || cfg.Etcd3.Host != "127.0.0.1:2379" {
		t.Errorf("etcd3: %+v", cfg.Etcd3)
	}
	d := cfg.Bootstrap.DCS
	if d.TTL == nil || *d.TTL != 30 || *d.LoopWait != 10 || *d.MaximumLagOnFailover != 1048576 {
		t.Errorf("bootstrap.dcs: %+v", d)
	}
	if d.Postgresql.UsePgRewind == nil || !*d.Postgresql.UsePgRewind || len(d.Postgresql.PgHBA) != 2 {
		t.Errorf("bootstrap.dcs.postgresql: %+v", d.Postgresql)
	}
	if got := cfg.Postgres.Authentication.Superuser; got != (Credentials{"postgres", "zalando"}) {
		t.Errorf("superuser %+v", got)
	}
	bo := cfg.BootstrapOptions()
	if bo.Encoding != "UTF8" || !bo.DataChecksums || len(bo.InitdbArgs) != 0 {
		t.Errorf("bootstrap options %+v", bo)
	}
	if cfg.Tags.Bool(dcs.TagNoLoadBalance) || cfg.Tags[dcs.TagNoLoadBalance] != false {
		t.Errorf("tags %v", cfg.Tags)
	}
	// The client part is valid; the agent part is not (relative data_dir,
	// no bin_dir), and says so by field.
	if err := cfg.ValidateClient(); err != nil {
		t.Errorf("ValidateClient: %v", err)
	}
	err = cfg.Validate()
	for _, field := range []string{"postgresql.data_dir", "postgresql.bin_dir"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("Validate: %v, want an error naming %s", err, field)
		}
	}
	// The dynamic config encodes as Patroni writes it.
	enc := string(cfg.ClusterConfig().Encode())
	for _, s := range []string{`"ttl":30`, `"loop_wait":10`, `"use_pg_rewind":true`, `"pg_hba":["host replication`} {
		if !strings.Contains(enc, s) {
			t.Errorf("config JSON %s lacks %s", enc, s)
		}
	}
}

// The annotated sample is complete and valid, and converts to the
// library's option structs.
func TestSampleConfig(t *testing.T) {
	cfg, warnings, err := Load(filepath.Join("testdata", "pgha.yml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	lc, err := cfg.PGLocalConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if lc.Port != 5432 || lc.ListenAddresses != "127.0.0.1" || lc.SocketDir != "/tmp" || lc.RunAsUser != "postgres" ||
		lc.Parameters["max_connections"] != "100" || lc.Parameters["hot_standby"] != "" || len(lc.HBA) != 3 ||
		len(lc.ReplicaMethods) != 1 || lc.Replication.Password != "replicator-secret" {
		t.Errorf("LocalConfig %+v", lc)
	}
	// bootstrap.dcs parameters reach the server through the config key.
	if cc := cfg.ClusterConfig(); cc.Postgresql == nil || cc.Postgresql.Parameters["hot_standby"] != "on" {
		t.Errorf("cluster config %+v", cc.Postgresql)
	}
	if _, ok := lc.Parameters["unix_socket_directories"]; ok {
		t.Error("unix_socket_directories passed as a parameter")
	}
	ec, err := cfg.etcdConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ec.Endpoints, []string{"http://127.0.0.1:2379"}) || ec.Scope != "demo" || ec.Namespace != "/service/" {
		t.Errorf("etcd config %+v", ec)
	}
	cc := cfg.ClusterConfig()
	if dcs.Seconds(cc.TTL, 0) != 6*time.Second || cc.PrimaryStartTimeout == nil || *cc.PrimaryStartTimeout != 0 || cc.SyncMode() != "off" {
		t.Errorf("cluster config %s", cc.Encode())
	}
	auth, err := cfg.HealthAuth()
	if err != nil || auth.Username != "admin" || auth.Password != "admin-secret" {
		t.Errorf("auth %+v %v", auth, err)
	}
	so, err := cfg.HealthServerOptions(nil)
	if err != nil || so.Addr != "127.0.0.1:8008" || so.TLS != nil {
		t.Errorf("server options %+v %v", so, err)
	}
	if cfg.APIURL() != "http://127.0.0.1:8008/patroni" || cfg.ConnURL() != "postgres://127.0.0.1:5432/postgres" {
		t.Errorf("urls %s %s", cfg.APIURL(), cfg.ConnURL())
	}
	if cfg.ProxyURL() != "" {
		t.Errorf("proxy_url %q without postgresql.proxy_address", cfg.ProxyURL())
	}
	cfg.Postgres.ProxyAddress = "10.0.0.9:6432"
	if got := cfg.ProxyURL(); got != "postgres://10.0.0.9:6432/postgres" {
		t.Errorf("proxy_url %q", got)
	}
	if n := cfg.Tags[dcs.TagFailoverPriority]; n != int64(1) {
		t.Errorf("failover_priority %T %v", n, n)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, _, err := Load(filepath.Join(t.TempDir(), "nope.yml"), nil)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err %v", err)
	}
}

// minimal is a valid agent configuration that the table tests modify.
const minimal = `
scope: s1
name: n1
restapi:
  listen: 127.0.0.1:8008
etcd3:
  hosts: 127.0.0.1:2379,127.0.0.1:2380
postgresql:
  listen: 127.0.0.1:5432
  data_dir: /var/lib/pgha/n1
  bin_dir: /usr/lib/postgresql/15/bin
  authentication:
    superuser: {username: postgres, password: a}
    replication: {username: replicator, password: b}
`

func TestMinimalValid(t *testing.T) {
	cfg, w, err := Parse([]byte(minimal), nil)
	if err != nil || len(w) != 0 {
		t.Fatal(err, w)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Etcd3.Hosts, []string{"127.0.0.1:2379", "127.0.0.1:2380"}) {
		t.Errorf("hosts %q", cfg.Etcd3.Hosts)
	}
}

// Type errors from Parse and value errors from Validate name the field
// and, for file values, the line.
func TestBadInput(t *testing.T) {
	tests := []struct {
		name  string
		doc   string // appended to minimal, or the whole document when replace
		whole bool
		field string // expected in the error
		where string
	}{
		{name: "ttl string", doc: "bootstrap:\n  dcs:\n    ttl: abc\n", field: "bootstrap.dcs.ttl", where: "line 17"},
		{name: "ttl list", doc: "bootstrap:\n  dcs:\n    ttl: [1]\n", field: "bootstrap.dcs.ttl", where: "line 17"},
		{name: "lag not int", doc: "bootstrap:\n  dcs:\n    maximum_lag_on_failover: 1.5\n", field: "bootstrap.dcs.maximum_lag_on_failover", where: "line 17"},
		{name: "int overflow", doc: "bootstrap:\n  dcs:\n    synchronous_node_count: 99999999999999999999\n", field: "bootstrap.dcs.synchronous_node_count", where: "line 17"},
		{name: "int as a word", doc: "bootstrap:\n  dcs:\n    max_timelines_history: \"ten\"\n", field: "bootstrap.dcs.max_timelines_history", where: "line 17"},
		{name: "sync mode", doc: "bootstrap:\n  dcs:\n    synchronous_mode: maybe\n", field: "bootstrap.dcs.synchronous_mode", where: "line 17"},
		{name: "bool", doc: "bootstrap:\n  dcs:\n    postgresql:\n      use_pg_rewind: sometimes\n", field: "bootstrap.dcs.postgresql.use_pg_rewind", where: "line 18"},
		{name: "string got list", whole: true, doc: "scope: s\nrestapi:\n  listen: [a]\n", field: "restapi.listen", where: "line 3"},
		{name: "strings got mapping", whole: true, doc: "scope: s\nrestapi:\n  allowlist: {a: b}\n", field: "restapi.allowlist", where: "line 3"},
		{name: "etcd hosts nested", whole: true, doc: "etcd3:\n  hosts: [a, [b]]\n", field: "etcd3.hosts", where: "line 2"},
		{name: "user not a mapping", doc: "bootstrap:\n  users:\n    app: secret\n", field: "bootstrap.users.app", where: "line 17"},
		{name: "section scalar", doc: "tags: 5\n", field: "tags", where: "line 15"},
		{name: "restapi list", whole: true, doc: "scope: s\nrestapi: [a]\n", field: "restapi", where: "line 2"},
		{name: "initdb map", doc: "bootstrap:\n  initdb: {encoding: UTF8}\n", field: "bootstrap.initdb", where: "line 16"},
		{name: "initdb nested", doc: "bootstrap:\n  initdb:\n  - data-checksums\n  - encoding: [UTF8]\n", field: "bootstrap.initdb[1]", where: "line 18"},
		{name: "hba not list", doc: "bootstrap:\n  dcs:\n    postgresql:\n      pg_hba: host all all\n", field: "bootstrap.dcs.postgresql.pg_hba", where: "line 18"},
		{name: "duplicate key", whole: true, doc: "scope: a\nscope: b\n", field: "scope", where: "line 2"},
		{name: "duplicate tag", doc: "tags:\n  zone: a\n  zone: b\n", field: "tags.zone", where: "line 17"},
		{name: "alias and name", doc: "bootstrap:\n  dcs:\n    primary_start_timeout: 1\n    master_start_timeout: 2\n", field: "bootstrap.dcs.master_start_timeout", where: "line 18"},
		{name: "tag type", doc: "tags:\n  nofailover: perhaps\n", field: "tags.nofailover", where: "line 16"},
		{name: "priority type", doc: "tags:\n  failover_priority: high\n", field: "tags.failover_priority"},
		{name: "not a mapping", whole: true, doc: "- a\n- b\n", field: "document must be a mapping"},
		{name: "yaml syntax", whole: true, doc: "scope: [\n", field: "yaml:"},
		// Validate.
		{name: "bad scope", whole: true, doc: strings.Replace(minimal, "scope: s1", "scope: 'a/b'", 1), field: "scope", where: "line 2"},
		{name: "newline name", whole: true, doc: strings.Replace(minimal, "name: n1", `name: "n1\nEVIL"`, 1), field: "name"},
		{name: "missing name", whole: true, doc: strings.Replace(minimal, "name: n1", "", 1), field: "name"},
		{name: "missing listen", whole: true, doc: strings.Replace(minimal, "  listen: 127.0.0.1:8008", "", 1), field: "restapi.listen"},
		{name: "bad listen", whole: true, doc: strings.Replace(minimal, "  listen: 127.0.0.1:8008", "  listen: localhost", 1), field: "restapi.listen"},
		{name: "wildcard connect", whole: true, doc: strings.Replace(minimal, "  listen: 127.0.0.1:8008", "  listen: 0.0.0.0:8008", 1), field: "restapi.connect_address"},
		{name: "relative data_dir", whole: true, doc: strings.Replace(minimal, "/var/lib/pgha/n1", "data/n1", 1), field: "postgresql.data_dir"},
		{name: "no superuser password", whole: true, doc: strings.Replace(minimal, "password: a", "password: ''", 1), field: "postgresql.authentication.superuser.password"},
		{name: "no dcs", whole: true, doc: strings.Replace(minimal, "etcd3:\n  hosts: 127.0.0.1:2379,127.0.0.1:2380\n", "", 1), field: "etcd3"},
		{name: "two dcs", doc: "consul:\n  host: 127.0.0.1:8500\n", field: "consul"},
		{name: "bad etcd host", whole: true, doc: strings.Replace(minimal, "127.0.0.1:2379,", "127.0.0.1:99999,", 1), field: "etcd3.hosts[0]"},
		{name: "loop_wait >= ttl", doc: "bootstrap:\n  dcs:\n    ttl: 5\n    loop_wait: 5\n", field: "bootstrap.dcs.loop_wait"},
		{name: "negative ttl", doc: "bootstrap:\n  dcs:\n    ttl: -1\n", field: "bootstrap.dcs.ttl"},
		{name: "managed parameter", doc: "bootstrap:\n  dcs:\n    postgresql:\n      parameters:\n        port: 5433\n", field: "bootstrap.dcs.postgresql.parameters.port"},
		{name: "hostile parameter", doc: "bootstrap:\n  dcs:\n    postgresql:\n      parameters:\n        \"x\\ny\": 1\n", field: `parameters."x\ny"`},
		{name: "hba newline", doc: "bootstrap:\n  dcs:\n    postgresql:\n      pg_hba: [\"host all all\\nlocal all\"]\n", field: "bootstrap.dcs.postgresql.pg_hba[0]"},
		{name: "initdb reserved", doc: "bootstrap:\n  initdb: [{pgdata: /x}]\n", field: "bootstrap.initdb[0]"},
		{name: "contradicting tags", doc: "tags:\n  nofailover: true\n  failover_priority: 2\n", field: "tags.failover_priority"},
		{name: "watchdog mode unknown", doc: "watchdog:\n  mode: requried\n", field: "watchdog.mode"},
		{name: "replica method missing", whole: true, field: "postgresql.create_replica_methods[1]",
			doc: strings.Replace(minimal, "  bin_dir:", "  create_replica_methods: [basebackup, wal_g]\n  bin_dir:", 1)},
		{name: "verify_client", doc: "restapi:\n  verify_client: always\n", field: "restapi"},
		{name: "allowlist", whole: true, doc: strings.Replace(minimal, "  listen: 127.0.0.1:8008", "  listen: 127.0.0.1:8008\n  allowlist: [example.com]", 1), field: "restapi.allowlist[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := minimal + tt.doc
			if tt.whole {
				doc = tt.doc
			}
			cfg, _, err := Parse([]byte(doc), nil)
			if err == nil {
				err = cfg.Validate()
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %q does not name %s", err, tt.field)
			}
			if tt.where != "" && !strings.Contains(err.Error(), tt.where) {
				t.Errorf("error %q does not say %s", err, tt.where)
			}
			if strings.Contains(err.Error(), "\nEVIL") {
				t.Errorf("error carries the raw newline: %q", err)
			}
		})
	}
}

// Unknown keys anywhere are named with their full path.
func TestUnknownKeysWarned(t *testing.T) {
	doc := minimal + `
bogus: 1
restapi:
  listen: 127.0.0.1:8008
  extra_thing: 1
postgresql:
  listen: 127.0.0.1:5432
  data_dir: /x
  bin_dir: /y
  pg_ctl_timeout: 60
  "we\nird": 1
bootstrap:
  dcs:
    standby_cluster: {host: x}
    postgresql:
      recovery_conf: {restore_command: x}
`
	// Sections appear twice above; a duplicate top-level key is an error,
	// so decode only the second half.
	doc = "scope: s1\n" + doc[strings.Index(doc, "bogus"):]
	cfg, ws, err := Parse([]byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`bogus`, `bootstrap.dcs.postgresql.recovery_conf`, `postgresql."we\nird"`,
		`postgresql.pg_ctl_timeout`, `restapi.extra_thing`}
	if got := warningPaths(ws); !slices.Equal(got, want) {
		t.Fatalf("warnings %q, want %q", got, want)
	}
	// Each names the line of its key.
	lines := map[string]string{`bogus`: "line 2", `restapi.extra_thing`: "line 5", `postgresql.pg_ctl_timeout`: "line 10",
		`postgresql."we\nird"`: "line 11", `bootstrap.dcs.postgresql.recovery_conf`: "line 16"}
	for _, w := range ws {
		if w.Where != lines[w.Path] {
			t.Errorf("warning %s at %q, want %q", w.Path, w.Where, lines[w.Path])
		}
	}
	// Extra dynamic keys are written to the DCS config as they are.
	enc := string(cfg.ClusterConfig().Encode())
	if !strings.Contains(enc, `"standby_cluster":{"host":"x"}`) || !strings.Contains(enc, `"recovery_conf":{"restore_command":"x"}`) {
		t.Errorf("config JSON %s", enc)
	}
}

// The slot keys and pg_ident of bootstrap.dcs are read by the Controller
// from the config key: written there, with no warning at load.
func TestDCSKeysReadByController(t *testing.T) {
	doc := minimal + `
bootstrap:
  dcs:
    slots: {s1: {type: physical}}
    ignore_slots: [{name: x}]
    member_slots_ttl: 30min
    postgresql:
      pg_ident: ["m a b"]
`
	cfg, ws, err := Parse([]byte(doc), nil)
	if err != nil || len(ws) != 0 {
		t.Fatalf("warnings %v, err %v", ws, err)
	}
	enc := string(cfg.ClusterConfig().Encode())
	for _, want := range []string{`"slots":{"s1":{"type":"physical"}}`, `"ignore_slots":[{"name":"x"}]`, `"member_slots_ttl":"30min"`, `"pg_ident":["m a b"]`} {
		if !strings.Contains(enc, want) {
			t.Errorf("config JSON %s lacks %s", enc, want)
		}
	}
}

func TestCustomReplicaMethod(t *testing.T) {
	doc := strings.Replace(minimal, "  bin_dir:", `  create_replica_methods: [pgbackrest, basebackup]
  pgbackrest:
    command: /usr/bin/pgbackrest --stanza=s1 restore
    keep_data: true
    no_master: true
  bin_dir:`, 1)
	cfg, ws, err := Parse([]byte(doc), nil)
	if err != nil || len(ws) != 0 {
		t.Fatal(err, ws)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	lc, err := cfg.PGLocalConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(lc.ReplicaMethods) != 2 || lc.ReplicaMethods[0].Name != "pgbackrest" || !lc.ReplicaMethods[0].KeepData ||
		!lc.ReplicaMethods[0].NoLeader || !slices.Equal(lc.ReplicaMethods[0].Command, []string{"/usr/bin/pgbackrest", "--stanza=s1", "restore"}) {
		t.Errorf("methods %+v", lc.ReplicaMethods)
	}
}

func TestDurationsAndAliases(t *testing.T) {
	doc := minimal + `
bootstrap:
  dcs:
    ttl: "3s"
    loop_wait: 0.5
    retry_timeout: "1"
    master_start_timeout: 0
    synchronous_mode: quorum
    maximum_lag_on_failover: "2048"
`
	cfg, _, err := Parse([]byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	d := cfg.Bootstrap.DCS
	if d.TTL.Duration() != 3*time.Second || d.LoopWait.Duration() != 500*time.Millisecond || *d.RetryTimeout != 1 ||
		d.PrimaryStartTimeout == nil || *d.PrimaryStartTimeout != 0 || *d.SynchronousMode != SyncQuorum ||
		*d.MaximumLagOnFailover != 2048 {
		t.Errorf("dcs %+v", d)
	}
	if enc := string(cfg.ClusterConfig().Encode()); !strings.Contains(enc, `"ttl":3,"loop_wait":0.5`) || !strings.Contains(enc, `"synchronous_mode":"quorum"`) {
		t.Errorf("encoded %s", enc)
	}
}

// Aliases nested many levels deep are refused instead of expanding.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 12; i++ {
		b.WriteString("a" + itoa(i) + ": &a" + itoa(i) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + itoa(i-1))
		}
		b.WriteString("]\n")
	}
	for _, tc := range []struct{ tail, err string }{
		// Refused by type before anything is expanded.
		{"postgresql:\n  pg_hba: *a11\n", "postgresql.pg_hba (line 12): want a list of strings"},
		// Values of any type: yaml.v3's bound on expansion.
		{"bootstrap:\n  dcs:\n    slots: *a11\n", "bootstrap.dcs.slots (line 12): document contains excessive aliasing"},
		{"tags:\n  x: *a11\n", "tags (line 14): document contains excessive aliasing"},
	} {
		_, _, err := Parse([]byte(b.String()+tc.tail), nil)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err %v, want %q", tc.tail, err, tc.err)
		}
	}
	// Structs the walker decodes itself: its own bound on dereferences.
	var users strings.Builder
	users.WriteString("u: &u {password: x, options: [createdb]}\nbootstrap:\n  users:\n")
	for i := range 2 * maxAliases {
		users.WriteString("    u" + itoa(i) + ": *u\n")
	}
	if _, _, err := Parse([]byte(users.String()), nil); err == nil || !strings.Contains(err.Error(), "too many aliases") {
		t.Errorf("%d aliased users: err %v", 2*maxAliases, err)
	}
	// A few aliases are fine.
	cfg, _, err := Parse([]byte("u: &u {password: x}\nbootstrap:\n  users: {a: *u, b: *u}\n"), nil)
	if err != nil || cfg.Bootstrap.Users["b"].Password != "x" {
		t.Errorf("aliased users: %v %+v", err, cfg)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// Tags written the ways Patroni accepts them get their proper types.
func TestTagsNormalized(t *testing.T) {
	cfg, _, err := Parse([]byte(minimal+"tags:\n  nofailover: \"yes\"\n  failover_priority: \"3\"\n  nosync: off\n  zone: eu-1\n  rack: 7\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := dcs.Tags{"nofailover": true, "failover_priority": int64(3), "nosync": false, "zone": "eu-1", "rack": int64(7)}
	for k, v := range want {
		if cfg.Tags[k] != v {
			t.Errorf("tag %s = %#v, want %#v", k, cfg.Tags[k], v)
		}
	}
	// nofailover with a positive priority contradicts itself.
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "tags.failover_priority") {
		t.Fatalf("err %v", err)
	}
}

// A document above the size limit is refused before decoding.
func TestTooLarge(t *testing.T) {
	big := []byte("scope: x\n# " + strings.Repeat("x", maxFileSize) + "\n")
	if _, _, err := Parse(big, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("err %v", err)
	}
}

// Hook scripts are split as Patroni splits them; a callback name Patroni
// does not have, or a command that cannot be split, is refused by
// Validate with the field.
func TestHookScripts(t *testing.T) {
	tests := []struct {
		name, yaml string
		bad        string
	}{
		{"all hooks", `  callbacks: {on_start: "/bin/cb 'a b'", on_role_change: /bin/rc}
  pre_promote: /bin/fence --host x
  before_stop: /bin/drain`, ""},
		{"unknown callback", `  callbacks: {on_whatever: /bin/x}`, "callbacks.on_whatever"},
		{"unclosed quote", `  pre_promote: "/bin/x 'open"`, "pre_promote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := Parse([]byte(minimal+tt.yaml+"\n"), nil)
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.Validate()
			if tt.bad != "" {
				if err == nil || !strings.Contains(err.Error(), tt.bad) {
					t.Fatalf("Validate: %v, want an error naming %s", err, tt.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sc, err := cfg.hookScripts()
			if err != nil || !slices.Equal(sc.Callbacks["on_start"], []string{"/bin/cb", "a b"}) ||
				!slices.Equal(sc.PrePromote, []string{"/bin/fence", "--host", "x"}) || len(sc.BeforeStop) != 1 {
				t.Fatalf("scripts %+v (%v)", sc, err)
			}
			h := cfg.Hooks(nil)
			if h.OnStart == nil || h.OnRoleChange == nil || h.OnStop != nil || h.PrePromote == nil || h.BeforeStop == nil {
				t.Fatalf("hooks %+v", h)
			}
		})
	}
}
