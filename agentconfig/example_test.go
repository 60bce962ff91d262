package agentconfig_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/pgha/pgha/agentconfig"
	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/memory"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/pg/pgtest"
)

// An embedder's start-up: read a patroni.yml with an override from the
// environment, report the settings pgha does not use, validate, and turn
// the file into the options of a failover.Controller. The DCS client and
// PostgreSQL are in-memory here; an agent uses cfg.NewStore and
// pglocal.New of cfg.PGLocalConfig.
func Example() {
	dir, err := os.MkdirTemp("", "agentconfig")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "patroni.yml")
	err = os.WriteFile(path, []byte(`scope: batman
name: postgresql0
restapi:
  listen: 127.0.0.1:8008
  authentication: {username: admin, password: secret}
etcd3:
  hosts: 127.0.0.1:2379
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 2
    synchronous_mode: true
postgresql:
  listen: 127.0.0.1:5432
  data_dir: /var/lib/postgresql/batman
  bin_dir: /usr/lib/postgresql/15/bin
  authentication:
    superuser: {username: postgres, password: secret}
    replication: {username: replicator, password: secret}
  callbacks:
    on_role_change: /usr/local/bin/notify.sh
`), 0o600)
	if err != nil {
		fmt.Println(err)
		return
	}
	env := []string{"PATRONI_NAME=postgresql1", "PATRONI_RESTAPI_CONECT_ADDRESS=10.0.0.1:8008"}

	cfg, warnings, err := agentconfig.Load(path, env)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, w := range warnings {
		fmt.Println("warning:", w)
	}
	if err := cfg.Validate(); err != nil {
		fmt.Println(err)
		return
	}

	mem := memory.NewCluster(memory.ClusterOptions{})
	defer mem.Close()
	store := mem.Store(dcs.Prefix(cfg.Namespace, cfg.Scope), memory.StoreOptions{})
	inst := pgtest.NewNetwork(nil).NewServer(cfg.Name)

	// nil: no config key read from the DCS yet (a new cluster).
	opts := cfg.ControllerOptions(store, inst, nil)
	opts.DataDir = inst // a pgtest.Server reports its own; pglocal.Local needs nothing
	fmt.Println("member:", opts.Name, opts.ConnURL, opts.APIURL)
	fmt.Println("lease ttl:", opts.Settings.TTL, "loop_wait:", opts.Settings.LoopWait)
	fmt.Println("config key if this node bootstraps:", string(opts.BootstrapConfig.Encode()))
	fmt.Println("peers authenticated as:", opts.PeerAuth.Username)
	fmt.Println("on_role_change hook:", opts.Hooks.OnRoleChange != nil)
	if _, err := failover.NewController(opts); err != nil {
		fmt.Println(err)
	}
	// Output:
	// warning: PATRONI_RESTAPI_CONECT_ADDRESS: environment variable not used by pgha
	// member: postgresql1 postgres://127.0.0.1:5432/postgres http://127.0.0.1:8008/patroni
	// lease ttl: 10s loop_wait: 1s
	// config key if this node bootstraps: {"ttl":10,"loop_wait":2,"synchronous_mode":true}
	// peers authenticated as: admin
	// on_role_change hook: true
}

// Type errors name the field and the line; the joined error wraps
// ErrInvalid.
func ExampleParse() {
	_, _, err := agentconfig.Parse([]byte("scope: batman\nbootstrap:\n  dcs:\n    ttl: soon\n    loop_wait: [1]\n"), nil)
	fmt.Println(err)
	// Output:
	// config: bootstrap.dcs.ttl (line 4): want a number of seconds or a duration such as "500ms", got str "soon"
	// config: bootstrap.dcs.loop_wait (line 5): want a number of seconds or a duration such as "500ms", got a list
}
