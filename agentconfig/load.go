package agentconfig

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxErrors bounds the errors reported for one document.
const maxErrors = 20

// maxFileSize bounds the configuration file (1 MiB); a larger one is
// refused.
const maxFileSize = 1 << 20

// Load reads the YAML file at path (none when path is ""), applies the
// environment overrides found in env (os.Environ() form, "KEY=value";
// PGHA_* wins over PATRONI_*), and returns the configuration with warnings
// about keys it does not use. Type errors name the field and its line; all
// of them are returned joined, each wrapping [ErrInvalid]. Load does not
// check values: call [Config.Validate] (the agent) or
// [Config.ValidateClient] (the CLI).
func Load(path string, env []string) (*Config, []Warning, error) {
	var data []byte
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, fmt.Errorf("config: %w", err)
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return nil, nil, fmt.Errorf("config: %w", err)
		}
		if st.Size() > maxFileSize {
			return nil, nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrInvalid, path, maxFileSize)
		}
		data = make([]byte, st.Size())
		if _, err := f.ReadAt(data, 0); err != nil && st.Size() > 0 {
			return nil, nil, fmt.Errorf("config: reading %s: %w", path, err)
		}
	}
	return Parse(data, env)
}

// Parse is [Load] on a document already in memory.
func Parse(data []byte, env []string) (cfg *Config, warnings []Warning, err error) {
	if len(data) > maxFileSize {
		return nil, nil, fmt.Errorf("%w: document larger than %d bytes", ErrInvalid, maxFileSize)
	}
	// yaml.v3 is well behaved, but a panic on hostile input must not take
	// the agent down: it becomes an error.
	defer func() {
		if r := recover(); r != nil {
			cfg, warnings, err = nil, nil, fmt.Errorf("%w: YAML decoder failed: %v", ErrInvalid, r)
		}
	}()
	cfg = &Config{}
	d := &decoder{where: map[string]string{}}
	if len(strings.TrimSpace(string(data))) > 0 {
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		root := &doc
		if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
			root = root.Content[0]
		}
		switch {
		case isNull(root) || root.Kind == yaml.DocumentNode:
		case root.Kind == yaml.MappingNode:
			d.standbyMethods = d.standbyMethodNames(root)
			d.value(root, "", reflect.ValueOf(cfg).Elem())
		default:
			return nil, nil, fmt.Errorf("%w: line %d: the document must be a mapping of sections, got %s", ErrInvalid, root.Line, describe(root))
		}
	}
	cfg.normalizeTags(d)
	if len(d.errs) > maxErrors {
		more := len(d.errs) - maxErrors
		d.errs = append(d.errs[:maxErrors], fmt.Errorf("%w: ... and %d more errors", ErrInvalid, more))
	}
	if len(d.errs) > 0 {
		return nil, d.warnings, errors.Join(d.errs...)
	}
	cfg.where = d.where
	if err := cfg.applyEnv(env, d); err != nil {
		return nil, d.warnings, err
	}
	d.warnings = append(d.warnings, cfg.semanticWarnings()...)
	return cfg, d.warnings, nil
}

// semanticWarnings reports settings that are accepted but have no effect.
func (c *Config) semanticWarnings() []Warning {
	var w []Warning
	add := func(path, msg string) { w = append(w, Warning{Path: path, Where: c.where[path], Msg: msg}) }
	if c.Watchdog.SafetyMargin != nil {
		add("watchdog.safety_margin", "not applied: pgha arms the watchdog with a 2 s timeout, which resets a frozen primary's host before its lease can expire for any ttl the cluster may use")
	}
	if c.Postgres.PgPass != "" {
		add("postgresql.pgpass", "not needed: pgha passes passwords to PostgreSQL tools directly")
	}
	for name := range c.Postgres.RecoveryConf {
		if strings.HasPrefix(strings.ToLower(name), "recovery_target") {
			add(joinPath("postgresql.recovery_conf", name), "not used: a recovery target belongs to a custom bootstrap (point-in-time restore), not to a replica, which always follows the latest timeline")
		}
	}
	if sc, err := c.standbyCluster(); err == nil && sc != nil {
		if !sc.Active() {
			add("bootstrap.dcs.standby_cluster", "none of host, port and restore_command is set: not a standby cluster")
		}
	}
	if m := c.Bootstrap.Method; m != "" && m != "initdb" {
		if len(c.Bootstrap.Initdb) > 0 {
			add("bootstrap.initdb", "not used: bootstrap.method "+quoteShort(m)+" creates the cluster instead of initdb")
		}
		if bm, ok := c.Bootstrap.Methods[m]; ok && bm.KeepExistingRecoveryConf && len(bm.RecoveryConf) > 0 {
			add(joinPath("bootstrap", m)+".recovery_conf", "not used: keep_existing_recovery_conf keeps the restore's own recovery settings")
		}
	}
	if c.Etcd != nil {
		add("etcd", "read as etcd3: pgha speaks the etcd v3 API only, so keys live in the v3 key space, not where Patroni's etcd v2 client keeps them")
	}
	return w
}

func quoteShort(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return fmt.Sprintf("%q", s)
}
