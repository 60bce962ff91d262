package main

import (
	"testing"

	"github.com/pgha/pgha/agentconfig"
)

func TestApplyDCSURL(t *testing.T) {
	for _, tt := range []struct {
		url, etcd, consul, namespace string
	}{
		{"etcd3://10.0.0.1:2379/service", "10.0.0.1:2379", "", "/service"},
		{"etcd://e1", "e1:2379", "", "/keep/"},
		{"10.0.0.2:2399", "10.0.0.2:2399", "", "/keep/"},
		{"consul://c1/ns/", "", "c1:8500", "/ns/"},
		{":8500", "", "localhost:8500", "/keep/"},
		{"", "localhost:2379", "", "/keep/"},
	} {
		cfg := &agentconfig.Config{Namespace: "/keep/", Consul: &agentconfig.Consul{Host: "old:8500"}, Etcd: &agentconfig.Etcd{Host: "old:2379"}}
		if err := applyDCSURL(cfg, tt.url); err != nil {
			t.Errorf("%q: %v", tt.url, err)
			continue
		}
		var etcd, consul string
		if cfg.Etcd3 != nil {
			etcd = cfg.Etcd3.Host
		}
		if cfg.Consul != nil {
			consul = cfg.Consul.Host
		}
		if etcd != tt.etcd || consul != tt.consul || cfg.Etcd != nil || cfg.Namespace != tt.namespace {
			t.Errorf("%q: etcd3 %q consul %q etcd %v namespace %q; want %q %q nil %q", tt.url, etcd, consul, cfg.Etcd, cfg.Namespace, tt.etcd, tt.consul, tt.namespace)
		}
	}
	for _, bad := range []string{"zookeeper://z", "x://h", "h:99999", "etcd3://h:port"} {
		if err := applyDCSURL(&agentconfig.Config{}, bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
