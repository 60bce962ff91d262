package agentconfig

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary documents through Parse, Validate and the
// conversions: none of them may panic.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"pgha.yml", "postgres0.yml"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(minimal))
	f.Add([]byte("bootstrap:\n  initdb:\n  - {a: b}\n  - c\n"))
	f.Add([]byte("a: &x [1]\nb: *x\ntags: {x: *x}\n"))
	f.Add([]byte("postgresql:\n  create_replica_methods: [m]\n  m: {command: x}\n"))
	f.Add([]byte("m: &m {command: x, k: v}\nbootstrap:\n  method: m\n  m: *m\n  n: {command: y}\n  post_init: z\n  m2: {recovery_conf: {a: [1]}}\n"))
	f.Add([]byte("u: &u {password: x, options: [a]}\nbootstrap:\n  users: {a: *u, b: *u}\n  dcs: {maximum_lag_on_failover: '5', ttl: 1.5s, x: *u}\n"))
	f.Add([]byte("h: &h b\netcd3: {hosts: [a, *h]}\nbootstrap: {initdb: [k, {E: UTF8}, [x]]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, _, err := Parse(data, []string{"PATRONI_NAME=n"})
		if err != nil {
			return
		}
		_ = cfg.Validate()
		_ = cfg.ValidateClient()
		_ = cfg.ClusterConfig().Encode()
		_, _ = cfg.PGLocalConfig(nil)
		_ = cfg.BootstrapOptions()
		_, _ = cfg.HealthAuth()
		_ = cfg.APIURL()
		_ = cfg.ConnURL()
		if cfg.DCSKind() == "etcd3" {
			_, _ = cfg.etcdConfig(nil)
		}
	})
}
