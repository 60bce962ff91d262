package agentconfig_test

import (
	"fmt"

	"github.com/pgha/pgha/agentconfig"
)

// A Patroni-style document with one setting pgha does not implement and
// one override from the environment.
func ExampleParse() {
	doc := []byte(`
scope: batman
name: postgresql0
restapi:
  listen: 127.0.0.1:8008
etcd3:
  hosts: 127.0.0.1:2379
bootstrap:
  dcs:
    ttl: 30
    loop_wait: 10
postgresql:
  listen: 127.0.0.1:5432
  data_dir: /var/lib/postgresql/batman
  bin_dir: /usr/lib/postgresql/15/bin
  authentication:
    superuser: {username: postgres, password: secret}
    replication: {username: replicator, password: secret}
  callbacks:
    on_role_change: /usr/local/bin/notify.sh
`)
	cfg, warnings, err := agentconfig.Parse(doc, []string{"PATRONI_NAME=postgresql1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, w := range warnings {
		fmt.Println("warning:", w)
	}
	fmt.Println("valid:", cfg.Validate() == nil)
	fmt.Println("name:", cfg.Name)
	fmt.Println("config key:", string(cfg.ClusterConfig().Encode()))
	fmt.Println("api_url:", cfg.APIURL())

	_, _, err = agentconfig.Parse([]byte("bootstrap:\n  dcs:\n    ttl: soon\n"), nil)
	fmt.Println(err)
	// Output:
	// warning: postgresql.callbacks (line 19): callbacks and hook scripts are not supported by pgha, ignored
	// valid: true
	// name: postgresql1
	// config key: {"ttl":30,"loop_wait":10}
	// api_url: http://127.0.0.1:8008/patroni
	// config: bootstrap.dcs.ttl (line 3): want a number of seconds or a duration such as "500ms", got str "soon"
}
