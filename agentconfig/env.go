package agentconfig

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Environment variable prefixes. Each override exists under both; the
// PGHA_ one wins when both are set.
const (
	envPrefixPatroni = "PATRONI_"
	envPrefixPGHA    = "PGHA_"
)

// envVar is one override: the name after the prefix, the dotted path it
// sets, and how.
type envVar struct {
	name string
	path string
	set  func(c *Config, v string) error
}

func str(dst func(c *Config) *string) func(c *Config, v string) error {
	return func(c *Config, v string) error { *dst(c) = v; return nil }
}

func etcd3(c *Config) *Etcd {
	if c.Etcd3 == nil {
		c.Etcd3 = &Etcd{}
	}
	return c.Etcd3
}

func etcd2(c *Config) *Etcd {
	if c.Etcd == nil {
		c.Etcd = &Etcd{}
	}
	return c.Etcd
}

func consulSec(c *Config) *Consul {
	if c.Consul == nil {
		c.Consul = &Consul{}
	}
	return c.Consul
}

// envVars lists the supported overrides, with Patroni's names.
func envVars() []envVar {
	vars := []envVar{
		{"SCOPE", "scope", str(func(c *Config) *string { return &c.Scope })},
		{"NAME", "name", str(func(c *Config) *string { return &c.Name })},
		{"NAMESPACE", "namespace", str(func(c *Config) *string { return &c.Namespace })},
		{"LOG_LEVEL", "log.level", str(func(c *Config) *string { return &c.Log.Level })},
		{"LOG_TYPE", "log.type", str(func(c *Config) *string { return &c.Log.Type })},
		{"RESTAPI_LISTEN", "restapi.listen", str(func(c *Config) *string { return &c.RestAPI.Listen })},
		{"RESTAPI_CONNECT_ADDRESS", "restapi.connect_address", str(func(c *Config) *string { return &c.RestAPI.ConnectAddress })},
		{"RESTAPI_USERNAME", "restapi.authentication.username", str(func(c *Config) *string { return &c.RestAPI.Authentication.Username })},
		{"RESTAPI_PASSWORD", "restapi.authentication.password", str(func(c *Config) *string { return &c.RestAPI.Authentication.Password })},
		{"RESTAPI_CERTFILE", "restapi.certfile", str(func(c *Config) *string { return &c.RestAPI.CertFile })},
		{"RESTAPI_KEYFILE", "restapi.keyfile", str(func(c *Config) *string { return &c.RestAPI.KeyFile })},
		{"RESTAPI_CAFILE", "restapi.cafile", str(func(c *Config) *string { return &c.RestAPI.CAFile })},
		{"RESTAPI_VERIFY_CLIENT", "restapi.verify_client", str(func(c *Config) *string { return &c.RestAPI.VerifyClient })},
		{"RESTAPI_ALLOWLIST", "restapi.allowlist", func(c *Config, v string) error { c.RestAPI.Allowlist = splitList(v); return nil }},
		{"CTL_INSECURE", "ctl.insecure", func(c *Config, v string) error { return setBool(&c.Ctl.Insecure, v) }},
		{"CTL_CERTFILE", "ctl.certfile", str(func(c *Config) *string { return &c.Ctl.CertFile })},
		{"CTL_KEYFILE", "ctl.keyfile", str(func(c *Config) *string { return &c.Ctl.KeyFile })},
		{"CTL_CACERT", "ctl.cacert", str(func(c *Config) *string { return &c.Ctl.CACert })},
		{"CONSUL_HOST", "consul.host", str(func(c *Config) *string { return &consulSec(c).Host })},
		{"CONSUL_URL", "consul.url", str(func(c *Config) *string { return &consulSec(c).URL })},
		{"CONSUL_PORT", "consul.port", func(c *Config, v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("want an integer, got %s", quoteShort(v))
			}
			consulSec(c).Port = n
			return nil
		}},
		{"CONSUL_SCHEME", "consul.scheme", str(func(c *Config) *string { return &consulSec(c).Scheme })},
		{"CONSUL_TOKEN", "consul.token", str(func(c *Config) *string { return &consulSec(c).Token })},
		{"CONSUL_VERIFY", "consul.verify", func(c *Config, v string) error {
			var b bool
			if err := setBool(&b, v); err != nil {
				return err
			}
			consulSec(c).Verify = &b
			return nil
		}},
		{"CONSUL_CACERT", "consul.cacert", str(func(c *Config) *string { return &consulSec(c).CACert })},
		{"CONSUL_CERT", "consul.cert", str(func(c *Config) *string { return &consulSec(c).Cert })},
		{"CONSUL_KEY", "consul.key", str(func(c *Config) *string { return &consulSec(c).Key })},
		{"CONSUL_DC", "consul.dc", str(func(c *Config) *string { return &consulSec(c).DC })},
		{"CONSUL_CONSISTENCY", "consul.consistency", str(func(c *Config) *string { return &consulSec(c).Consistency })},
		{"CONSUL_CHECKS", "consul.checks", func(c *Config, v string) error { consulSec(c).Checks = splitList(v); return nil }},
		{"POSTGRESQL_LISTEN", "postgresql.listen", str(func(c *Config) *string { return &c.Postgres.Listen })},
		{"POSTGRESQL_CONNECT_ADDRESS", "postgresql.connect_address", str(func(c *Config) *string { return &c.Postgres.ConnectAddress })},
		{"POSTGRESQL_PROXY_ADDRESS", "postgresql.proxy_address", str(func(c *Config) *string { return &c.Postgres.ProxyAddress })},
		{"POSTGRESQL_DATA_DIR", "postgresql.data_dir", str(func(c *Config) *string { return &c.Postgres.DataDir })},
		{"POSTGRESQL_BIN_DIR", "postgresql.bin_dir", str(func(c *Config) *string { return &c.Postgres.BinDir })},
		{"POSTGRESQL_PGPASS", "postgresql.pgpass", str(func(c *Config) *string { return &c.Postgres.PgPass })},
		{"POSTGRESQL_RUN_AS_USER", "postgresql.run_as_user", str(func(c *Config) *string { return &c.Postgres.RunAsUser })},
		{"SUPERUSER_USERNAME", "postgresql.authentication.superuser.username", str(func(c *Config) *string { return &c.Postgres.Authentication.Superuser.Username })},
		{"SUPERUSER_PASSWORD", "postgresql.authentication.superuser.password", str(func(c *Config) *string { return &c.Postgres.Authentication.Superuser.Password })},
		{"REPLICATION_USERNAME", "postgresql.authentication.replication.username", str(func(c *Config) *string { return &c.Postgres.Authentication.Replication.Username })},
		{"REPLICATION_PASSWORD", "postgresql.authentication.replication.password", str(func(c *Config) *string { return &c.Postgres.Authentication.Replication.Password })},
		{"REWIND_USERNAME", "postgresql.authentication.rewind.username", str(func(c *Config) *string { return &c.Postgres.Authentication.Rewind.Username })},
		{"REWIND_PASSWORD", "postgresql.authentication.rewind.password", str(func(c *Config) *string { return &c.Postgres.Authentication.Rewind.Password })},
	}
	// etcd3 and etcd (read as etcd3) take the same settings.
	for _, sec := range []struct {
		env, path string
		get       func(c *Config) *Etcd
	}{{"ETCD3_", "etcd3", etcd3}, {"ETCD_", "etcd", etcd2}} {
		get := sec.get
		vars = append(vars,
			envVar{sec.env + "HOST", sec.path + ".host", str(func(c *Config) *string { return &get(c).Host })},
			envVar{sec.env + "HOSTS", sec.path + ".hosts", func(c *Config, v string) error { get(c).Hosts = splitList(v); return nil }},
			envVar{sec.env + "URL", sec.path + ".url", str(func(c *Config) *string { return &get(c).URL })},
			envVar{sec.env + "PROTOCOL", sec.path + ".protocol", str(func(c *Config) *string { return &get(c).Protocol })},
			envVar{sec.env + "USERNAME", sec.path + ".username", str(func(c *Config) *string { return &get(c).Username })},
			envVar{sec.env + "PASSWORD", sec.path + ".password", str(func(c *Config) *string { return &get(c).Password })},
			envVar{sec.env + "CACERT", sec.path + ".cacert", str(func(c *Config) *string { return &get(c).CACert })},
			envVar{sec.env + "CERT", sec.path + ".cert", str(func(c *Config) *string { return &get(c).Cert })},
			envVar{sec.env + "KEY", sec.path + ".key", str(func(c *Config) *string { return &get(c).Key })},
		)
	}
	return vars
}

func setBool(dst *bool, v string) error {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		*dst = true
	case "0", "false", "no", "off":
		*dst = false
	default:
		return fmt.Errorf("want true or false, got %s", quoteShort(v))
	}
	return nil
}

// applyEnv applies the overrides in env. Unrecognized PATRONI_ and PGHA_
// variables are named in warnings, so a typo does not go unnoticed.
func (c *Config) applyEnv(env []string, d *decoder) error {
	values := map[string]string{} // name after prefix -> value
	source := map[string]string{} // name after prefix -> variable name
	var names []string
	for _, kv := range env {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		var rest string
		switch {
		case strings.HasPrefix(name, envPrefixPGHA):
			rest = strings.TrimPrefix(name, envPrefixPGHA)
		case strings.HasPrefix(name, envPrefixPatroni):
			rest = strings.TrimPrefix(name, envPrefixPatroni)
			if _, pgha := source[rest]; pgha && strings.HasPrefix(source[rest], envPrefixPGHA) {
				continue
			}
		default:
			continue
		}
		if _, seen := source[rest]; !seen {
			names = append(names, rest)
		}
		values[rest], source[rest] = value, name
	}
	known := map[string]envVar{}
	for _, v := range envVars() {
		known[v.name] = v
	}
	sort.Strings(names)
	var errs []error
	for _, rest := range names {
		v, ok := known[rest]
		if !ok {
			d.warnings = append(d.warnings, Warning{Path: source[rest], Msg: "environment variable not used by pgha"})
			continue
		}
		if err := v.set(c, values[rest]); err != nil {
			errs = append(errs, &FieldError{Path: v.path, Where: source[rest], Msg: err.Error()})
			continue
		}
		c.where[v.path] = source[rest]
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return nil
}
