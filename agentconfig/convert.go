package agentconfig

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/consul"
	"github.com/pgha/pgha/dcs/etcd"
	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/hookscript"
	"github.com/pgha/pgha/pg"
	"github.com/pgha/pgha/pg/pglocal"
)

// slogLevel maps Patroni's (Python's) level names to slog levels.
func slogLevel(s string) (slog.Level, bool) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "", "INFO":
		return slog.LevelInfo, true
	case "DEBUG":
		return slog.LevelDebug, true
	case "WARNING", "WARN":
		return slog.LevelWarn, true
	case "ERROR", "CRITICAL", "FATAL":
		return slog.LevelError, true
	}
	return 0, false
}

// LogLevel is log.level as a slog level: DEBUG, INFO (the default),
// WARNING and ERROR or CRITICAL. An invalid level means INFO; Validate
// reports it.
func (c *Config) LogLevel() slog.Level {
	level, _ := slogLevel(c.Log.Level)
	return level
}

// DCSKind returns "etcd3" or "consul": the configured backend, or "" when
// none or several are configured.
func (c *Config) DCSKind() string {
	n := 0
	kind := ""
	if c.Etcd3 != nil || c.Etcd != nil {
		n, kind = n+1, "etcd3"
		if c.Etcd3 != nil && c.Etcd != nil {
			n++
		}
	}
	if c.Consul != nil {
		n, kind = n+1, "consul"
	}
	if n != 1 {
		return ""
	}
	return kind
}

func (c *Config) etcdSection() *Etcd {
	if c.Etcd3 != nil {
		return c.Etcd3
	}
	return c.Etcd
}

// etcdConfig returns the dcs/etcd configuration. Endpoints come from url,
// urls, host and hosts (with protocol, default http).
func (c *Config) etcdConfig(logger *slog.Logger) (etcd.Config, error) {
	e := c.etcdSection()
	if e == nil {
		return etcd.Config{}, fmt.Errorf("%w: no etcd3 section", ErrInvalid)
	}
	proto := e.Protocol
	if proto == "" {
		proto = "http"
		if e.CACert != "" || e.Cert != "" {
			proto = "https"
		}
	}
	var eps []string
	if e.URL != "" {
		eps = append(eps, e.URL)
	}
	eps = append(eps, e.URLs...)
	if e.Host != "" {
		eps = append(eps, proto+"://"+e.Host)
	}
	for _, h := range e.Hosts {
		eps = append(eps, proto+"://"+h)
	}
	cfg := etcd.Config{
		Endpoints: eps,
		Namespace: c.Namespace,
		Scope:     c.Scope,
		Username:  e.Username,
		Password:  e.Password,
		Logger:    logger,
	}
	if e.CACert != "" || e.Cert != "" || proto == "https" {
		t, err := clientTLS(e.CACert, e.Cert, e.Key, false)
		if err != nil {
			return etcd.Config{}, fmt.Errorf("etcd3: %w", err)
		}
		cfg.TLS = t
	}
	return cfg, nil
}

// consulConfig returns the dcs/consul configuration.
func (c *Config) consulConfig(logger *slog.Logger) (consul.Config, error) {
	s := c.Consul
	if s == nil {
		return consul.Config{}, fmt.Errorf("%w: no consul section", ErrInvalid)
	}
	cfg := consul.Config{
		Address:     s.Host,
		Scheme:      s.Scheme,
		Token:       s.Token,
		Datacenter:  s.DC,
		Namespace:   c.Namespace,
		Scope:       c.Scope,
		Consistency: consul.Consistency(s.Consistency),
		NodeChecks:  s.Checks,
		Logger:      logger,
	}
	if c.Name != "" {
		cfg.SessionName = c.Scope + "-" + c.Name
	}
	if s.URL != "" {
		u, err := url.Parse(s.URL)
		if err != nil {
			return consul.Config{}, fmt.Errorf("%w: consul.url: %v", ErrInvalid, err)
		}
		cfg.Scheme, cfg.Address = u.Scheme, u.Host
	}
	if cfg.Address != "" && s.Port != 0 {
		if _, _, err := net.SplitHostPort(cfg.Address); err != nil {
			cfg.Address = net.JoinHostPort(cfg.Address, strconv.Itoa(s.Port))
		}
	}
	if s.CACert != "" || s.Cert != "" || cfg.Scheme == "https" {
		insecure := s.Verify != nil && !*s.Verify
		t, err := clientTLS(s.CACert, s.Cert, s.Key, insecure)
		if err != nil {
			return consul.Config{}, fmt.Errorf("consul: %w", err)
		}
		cfg.TLS = t
	}
	return cfg, nil
}

// NewStore connects to the configured DCS.
func (c *Config) NewStore(logger *slog.Logger) (dcs.Store, error) {
	switch c.DCSKind() {
	case "etcd3":
		cfg, err := c.etcdConfig(logger)
		if err != nil {
			return nil, err
		}
		return etcd.New(cfg)
	case "consul":
		cfg, err := c.consulConfig(logger)
		if err != nil {
			return nil, err
		}
		return consul.New(cfg)
	}
	return nil, fmt.Errorf("%w: exactly one of etcd3 and consul must be configured", ErrInvalid)
}

// clientTLS builds a client TLS configuration from PEM files.
func clientTLS(caFile, certFile, keyFile string, insecure bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure} //nolint:gosec // only when the operator asks
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("reading CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificate found in %s", caFile)
		}
		cfg.RootCAs = pool
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("loading client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// APIClientTLS returns the TLS configuration the CLI uses to call the REST
// API over HTTPS (ctl section, falling back to restapi.cafile), or nil
// when nothing is configured.
func (c *Config) APIClientTLS() (*tls.Config, error) {
	ca, cert, key := c.Ctl.CACert, c.Ctl.CertFile, c.Ctl.KeyFile
	if ca == "" {
		ca = c.RestAPI.CAFile
	}
	if ca == "" && cert == "" && !c.Ctl.Insecure {
		return nil, nil
	}
	return clientTLS(ca, cert, key, c.Ctl.Insecure)
}

// APIAuth returns the basic-auth credentials the CLI sends: ctl's, else
// restapi's.
func (c *Config) APIAuth() Credentials {
	if c.Ctl.Authentication.Username != "" {
		return c.Ctl.Authentication
	}
	return c.RestAPI.Authentication
}

// HealthAuth returns the REST API's authentication settings.
func (c *Config) HealthAuth() (healthapi.Auth, error) {
	a := healthapi.Auth{
		Username:          c.RestAPI.Authentication.Username,
		Password:          c.RestAPI.Authentication.Password,
		RequireClientCert: c.RestAPI.VerifyClient == "required" || c.RestAPI.VerifyClient == "optional",
		Realm:             "Patroni",
	}
	for i, s := range c.RestAPI.Allowlist {
		p, err := parseAllow(s)
		if err != nil {
			return healthapi.Auth{}, &FieldError{Path: indexPath("restapi.allowlist", i), Msg: err.Error()}
		}
		a.Allowlist = append(a.Allowlist, p)
	}
	return a, nil
}

// HealthServerOptions returns the REST API server's options, with TLS
// loaded from certfile, keyfile and cafile when set.
func (c *Config) HealthServerOptions(logger *slog.Logger) (healthapi.ServerOptions, error) {
	o := healthapi.ServerOptions{Addr: c.RestAPI.Listen, Logger: logger}
	if c.RestAPI.CertFile == "" {
		return o, nil
	}
	verify := healthapi.VerifyNone
	switch c.RestAPI.VerifyClient {
	case "optional":
		verify = healthapi.VerifyOptional
	case "required":
		verify = healthapi.VerifyRequired
	}
	t, err := healthapi.ServerTLSConfig(c.RestAPI.CertFile, c.RestAPI.KeyFile, c.RestAPI.CAFile, verify)
	if err != nil {
		return o, err
	}
	o.TLS = t
	return o, nil
}

// APIURL is this member's api_url: "http(s)://<restapi.connect_address>/patroni".
func (c *Config) APIURL() string {
	addr := c.RestAPI.ConnectAddress
	if addr == "" {
		addr = c.RestAPI.Listen
	}
	scheme := "http"
	if c.RestAPI.CertFile != "" {
		scheme = "https"
	}
	return scheme + "://" + addr + "/patroni"
}

// ConnURL is this member's conn_url: "postgres://<postgresql.connect_address>/postgres".
func (c *Config) ConnURL() string {
	addr := c.Postgres.ConnectAddress
	if addr == "" {
		if hosts, port, err := splitListen(c.Postgres.Listen); err == nil {
			addr = net.JoinHostPort(hosts[0], strconv.Itoa(port))
		}
	}
	return "postgres://" + addr + "/postgres"
}

// ProxyURL is the member key's proxy_url from postgresql.proxy_address
// (a pooler in front of this node), as Patroni writes it; "" when unset.
func (c *Config) ProxyURL() string {
	if c.Postgres.ProxyAddress == "" {
		return ""
	}
	return "postgres://" + c.Postgres.ProxyAddress + "/postgres"
}

// ServerParameters are the member's own server settings
// (postgresql.parameters), rendered as strings. bootstrap.dcs.postgresql
// parameters are not among them: they go into the cluster's config key,
// from which every member's Controller applies them (see
// pg.ClusterConfigurer), so that edit-config can change them later.
// unix_socket_directories is left out: see [Config.PGLocalConfig].
func (c *Config) ServerParameters() map[string]string {
	out := map[string]string{}
	for _, m := range []map[string]any{c.Postgres.Parameters} {
		for k, v := range m {
			// PostgreSQL names are case-insensitive; pg wants lower case.
			if s, ok := pg.SettingValue(v); ok {
				out[strings.ToLower(k)] = s
			}
		}
	}
	delete(out, "unix_socket_directories")
	return out
}

// RecoveryParameters are postgresql.recovery_conf rendered as strings,
// names in lower case, without the recovery_target* keys (warned about at
// load: they are not used for a replica). Nil when none is set.
func (c *Config) RecoveryParameters() map[string]string {
	var out map[string]string
	for k, v := range c.Postgres.RecoveryConf {
		k = strings.ToLower(k)
		if strings.HasPrefix(k, "recovery_target") {
			continue
		}
		if s, ok := pg.SettingValue(v); ok {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = s
		}
	}
	return out
}

// PGLocalConfig returns the pglocal.Local configuration. A relative
// unix_socket_directories (Patroni's samples use "..") is taken relative
// to the data directory, as PostgreSQL does.
func (c *Config) PGLocalConfig(logger *slog.Logger) (pglocal.Config, error) {
	p := c.Postgres
	hosts, port, err := splitListen(p.Listen)
	if err != nil {
		return pglocal.Config{}, &FieldError{Path: "postgresql.listen", Where: c.where["postgresql.listen"], Msg: err.Error()}
	}
	for i, h := range hosts {
		if h == "0.0.0.0" {
			hosts[i] = "*"
		}
	}
	lc := pglocal.Config{
		Name:            c.Name,
		Scope:           c.Scope,
		BinDir:          p.BinDir,
		DataDir:         p.DataDir,
		ListenAddresses: strings.Join(hosts, ","),
		Port:            port,
		RunAsUser:       p.RunAsUser,
		Superuser:       pglocal.Credentials(p.Authentication.Superuser),
		Replication:     pglocal.Credentials(p.Authentication.Replication),
		Rewind:          pglocal.Credentials(p.Authentication.Rewind),
		Parameters:      c.ServerParameters(),
		RecoveryConf:    c.RecoveryParameters(),
		HBA:             p.PgHBA,
		Logger:          logger,
	}
	if len(lc.HBA) == 0 {
		lc.HBA = c.Bootstrap.DCS.Postgresql.PgHBA
	}
	for _, m := range []map[string]any{c.Bootstrap.DCS.Postgresql.Parameters, p.Parameters} {
		if v, ok := m["unix_socket_directories"]; ok {
			s, _ := pg.SettingValue(v)
			first := strings.TrimSpace(strings.Split(s, ",")[0])
			if first != "" && !filepath.IsAbs(first) && p.DataDir != "" {
				first = filepath.Clean(filepath.Join(p.DataDir, first))
			}
			lc.SocketDir = first
		}
	}
	for _, name := range p.CreateReplicaMethods {
		if name == pglocal.BaseBackup {
			lc.ReplicaMethods = append(lc.ReplicaMethods, pglocal.ReplicaMethod{Name: pglocal.BaseBackup})
			continue
		}
		m, ok := p.Methods[name]
		if !ok {
			return pglocal.Config{}, &FieldError{Path: "postgresql.create_replica_methods", Msg: "method " + quoteShort(name) + " has no section"}
		}
		lc.ReplicaMethods = append(lc.ReplicaMethods, pglocal.ReplicaMethod{
			Name: name, Command: strings.Fields(m.Command), KeepData: m.KeepData, NoLeader: m.NoLeader,
		})
	}
	// The sections only standby_cluster.create_replica_methods names are
	// defined for a standby leader's creation, not tried by ordinary
	// clones (Patroni looks both lists up in postgresql.<name>).
	if sc, err := c.standbyCluster(); err == nil && sc != nil {
		for _, name := range sc.CreateReplicaMethods {
			defined := func(m pglocal.ReplicaMethod) bool { return m.Name == name }
			if name == pglocal.BaseBackup || slices.ContainsFunc(lc.ReplicaMethods, defined) || slices.ContainsFunc(lc.StandbyReplicaMethods, defined) {
				continue
			}
			m, ok := p.Methods[name]
			if !ok {
				return pglocal.Config{}, &FieldError{Path: "bootstrap.dcs.standby_cluster.create_replica_methods", Msg: "method " + quoteShort(name) + " has no postgresql." + name + " section"}
			}
			lc.StandbyReplicaMethods = append(lc.StandbyReplicaMethods, pglocal.ReplicaMethod{
				Name: name, Command: strings.Fields(m.Command), KeepData: m.KeepData, NoLeader: m.NoLeader,
			})
		}
	}
	return lc, nil
}

// BootstrapOptions returns how this node bootstraps a new cluster: the
// initdb options of bootstrap.initdb (encoding, locale and data-checksums
// map to their fields; other options are passed to initdb as --name or
// --name=value), or the custom method bootstrap.method names, and
// bootstrap.post_bootstrap. Validate has refused commands that do not
// split.
func (c *Config) BootstrapOptions() pg.BootstrapOptions {
	var o pg.BootstrapOptions
	if pb := c.Bootstrap.PostBootstrap; pb != "" {
		o.PostBootstrap, _ = hookscript.Split(pb)
	}
	if name := c.Bootstrap.Method; name != "" && name != "initdb" {
		m := c.Bootstrap.Methods[name]
		cmd, _ := hookscript.Split(m.Command)
		bm := &pg.BootstrapMethod{Name: name, Command: cmd, NoParams: m.NoParams,
			KeepExistingRecoveryConf: m.KeepExistingRecoveryConf, Options: maps.Clone(m.Options)}
		for k, v := range m.RecoveryConf {
			if s, ok := pg.SettingValue(v); ok {
				if bm.RecoveryConf == nil {
					bm.RecoveryConf = map[string]string{}
				}
				bm.RecoveryConf[strings.ToLower(k)] = s
			}
		}
		o.Method = bm
		return o
	}
	for _, opt := range c.Bootstrap.Initdb {
		switch {
		case opt.Name == "encoding" || opt.Name == "E":
			o.Encoding = opt.Value
		case opt.Name == "locale":
			o.Locale = opt.Value
		case opt.Name == "data-checksums" || opt.Name == "k":
			o.DataChecksums = true
		case opt.HasValue:
			o.InitdbArgs = append(o.InitdbArgs, "--"+opt.Name+"="+opt.Value)
		default:
			o.InitdbArgs = append(o.InitdbArgs, "--"+opt.Name)
		}
	}
	return o
}

// ClusterConfig returns bootstrap.dcs as the dynamic configuration to
// store in the config key when the cluster is initialized. Unset fields
// stay unset (the defaults apply).
func (c *Config) ClusterConfig() *dcs.ClusterConfig {
	d := c.Bootstrap.DCS
	secs := func(s *Seconds) *float64 {
		if s == nil {
			return nil
		}
		f := float64(*s)
		return &f
	}
	out := &dcs.ClusterConfig{
		TTL:                   secs(d.TTL),
		LoopWait:              secs(d.LoopWait),
		RetryTimeout:          secs(d.RetryTimeout),
		MaximumLagOnFailover:  d.MaximumLagOnFailover,
		MaximumLagOnSyncnode:  d.MaximumLagOnSyncnode,
		PrimaryStartTimeout:   secs(d.PrimaryStartTimeout),
		PrimaryStopTimeout:    secs(d.PrimaryStopTimeout),
		SynchronousModeStrict: d.SynchronousModeStrict,
		SynchronousNodeCount:  d.SynchronousNodeCount,
		FailsafeMode:          d.FailsafeMode,
		CheckTimeline:         d.CheckTimeline,
		MaxTimelinesHistory:   d.MaxTimelinesHistory,
		Extra:                 rawMap(d.Extra),
	}
	if d.SynchronousMode != nil {
		m := string(*d.SynchronousMode)
		out.SynchronousMode = &m
	}
	p := d.Postgresql
	if p.UsePgRewind != nil || p.UseSlots != nil || p.Parameters != nil || p.PgHBA != nil || p.Extra != nil {
		pc := &dcs.PostgresqlConfig{UsePgRewind: p.UsePgRewind, UseSlots: p.UseSlots, Parameters: p.Parameters, Extra: rawMap(p.Extra)}
		if p.PgHBA != nil {
			if pc.Extra == nil {
				pc.Extra = map[string]json.RawMessage{}
			}
			pc.Extra["pg_hba"] = mustJSON(p.PgHBA)
		}
		out.Postgresql = pc
	}
	return out
}

// rawMap encodes YAML-decoded values as JSON. yaml.v3 decodes mappings
// with string keys as map[string]any, which encoding/json accepts; a value
// it cannot encode (a mapping with non-string keys) becomes null.
func rawMap(m map[string]any) map[string]json.RawMessage {
	if m == nil {
		return nil
	}
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		out[k] = mustJSON(v)
	}
	return out
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}
