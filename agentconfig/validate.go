package agentconfig

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/hookscript"
	"github.com/pgha/pgha/pg"
	"github.com/pgha/pgha/pg/pglocal"
	"github.com/pgha/pgha/watchdog"
)

// checker collects field errors, pointing each at where the value came
// from.
type checker struct {
	c    *Config
	errs []error
}

func (k *checker) bad(path, format string, args ...any) {
	k.errs = append(k.errs, &FieldError{Path: path, Where: k.c.where[path], Msg: fmt.Sprintf(format, args...)})
}

func (k *checker) err() error {
	if len(k.errs) == 0 {
		return nil
	}
	return errors.Join(k.errs...)
}

// Validate checks everything the agent needs. Every problem is reported,
// each as a [FieldError] naming the field; the joined error wraps
// [ErrInvalid].
func (c *Config) Validate() error {
	k := &checker{c: c}
	c.checkClient(k)
	if err := dcs.ValidateName(c.Name); err != nil {
		k.bad("name", "%v", err)
	}
	c.checkLog(k)
	c.checkRestAPI(k, true)
	c.checkDynamic(k)
	c.checkBootstrap(k)
	c.checkPostgres(k)
	c.checkTags(k)
	if _, err := watchdog.ParseMode(c.Watchdog.Mode); err != nil {
		k.bad("watchdog.mode", "want off, automatic or required, got %s", quoteShort(c.Watchdog.Mode))
	}
	return k.err()
}

// ValidateClient checks what the CLI needs: scope, namespace, the DCS
// section and the REST API credentials.
func (c *Config) ValidateClient() error {
	k := &checker{c: c}
	c.checkClient(k)
	c.checkRestAPI(k, false)
	return k.err()
}

func (c *Config) checkClient(k *checker) {
	if err := dcs.ValidateName(c.Scope); err != nil {
		k.bad("scope", "%v", err)
	}
	for _, seg := range strings.Split(c.Namespace, "/") {
		if seg == "" {
			continue
		}
		if err := dcs.ValidateName(seg); err != nil {
			k.bad("namespace", "%v", err)
			break
		}
	}
	var set []string
	if c.Etcd3 != nil {
		set = append(set, "etcd3")
		c.checkEtcd(k, "etcd3", c.Etcd3)
	}
	if c.Etcd != nil {
		set = append(set, "etcd")
		c.checkEtcd(k, "etcd", c.Etcd)
	}
	if c.Consul != nil {
		set = append(set, "consul")
		c.checkConsul(k)
	}
	switch len(set) {
	case 0:
		k.bad("etcd3", "no DCS configured: set etcd3 (or consul)")
	case 1:
	default:
		k.bad(set[1], "exactly one DCS must be configured, got %s", strings.Join(set, " and "))
	}
	if (c.Ctl.CertFile == "") != (c.Ctl.KeyFile == "") {
		k.bad("ctl.certfile", "certfile and keyfile must be given together")
	}
	c.checkCredentials(k, "ctl.authentication", c.Ctl.Authentication)
}

func (c *Config) checkEtcd(k *checker, sec string, e *Etcd) {
	switch e.Protocol {
	case "", "http", "https":
	default:
		k.bad(sec+".protocol", "want http or https, got %s", quoteShort(e.Protocol))
	}
	n := 0
	if e.Host != "" {
		n++
		checkHostPort(k, sec+".host", e.Host, true)
	}
	for i, h := range e.Hosts {
		n++
		checkHostPort(k, indexPath(sec+".hosts", i), h, true)
	}
	urls := e.URLs
	if e.URL != "" {
		urls = append([]string{e.URL}, urls...)
	}
	for i, u := range urls {
		n++
		p := sec + ".urls"
		if e.URL != "" && i == 0 {
			p = sec + ".url"
		}
		checkURL(k, p, u)
	}
	if n == 0 {
		k.bad(sec+".hosts", "at least one of host, hosts, url or urls is required")
	}
	if (e.Username == "") != (e.Password == "") {
		k.bad(sec+".username", "username and password must be given together")
	}
	if (e.Cert == "") != (e.Key == "") {
		k.bad(sec+".cert", "cert and key must be given together")
	}
}

func (c *Config) checkConsul(k *checker) {
	s := c.Consul
	if s.Host != "" {
		if s.Port != 0 && !strings.Contains(s.Host, ":") {
			checkHostPort(k, "consul.host", s.Host+":"+strconv.Itoa(s.Port), true)
		} else {
			checkHostPort(k, "consul.host", s.Host, true)
		}
	}
	if s.Port < 0 || s.Port > 65535 {
		k.bad("consul.port", "want 1..65535, got %d", s.Port)
	}
	if s.URL != "" {
		checkURL(k, "consul.url", s.URL)
	}
	switch s.Scheme {
	case "", "http", "https":
	default:
		k.bad("consul.scheme", "want http or https, got %s", quoteShort(s.Scheme))
	}
	switch s.Consistency {
	case "", "default", "consistent", "stale":
	default:
		k.bad("consul.consistency", "want default, consistent or stale, got %s", quoteShort(s.Consistency))
	}
	for i, chk := range s.Checks {
		if chk == "" || printable(chk) != nil {
			k.bad(indexPath("consul.checks", i), "want a check name")
		}
	}
	if printable(s.Token) != nil || printable(s.DC) != nil {
		k.bad("consul.token", "contains control characters")
	}
	if (s.Cert == "") != (s.Key == "") {
		k.bad("consul.cert", "cert and key must be given together")
	}
}

func (c *Config) checkLog(k *checker) {
	if _, ok := slogLevel(c.Log.Level); !ok {
		k.bad("log.level", "want DEBUG, INFO, WARNING, ERROR or CRITICAL, got %s", quoteShort(c.Log.Level))
	}
	switch strings.ToLower(c.Log.Type) {
	case "", "plain", "json":
	default:
		k.bad("log.type", "want plain or json, got %s", quoteShort(c.Log.Type))
	}
}

func (c *Config) checkCredentials(k *checker, path string, cr Credentials) {
	if (cr.Username == "") != (cr.Password == "") {
		k.bad(path+".username", "username and password must be given together")
	}
	if strings.Contains(cr.Username, ":") || printable(cr.Username) != nil {
		k.bad(path+".username", "must not contain ':' or control characters")
	}
	if printable(cr.Password) != nil {
		k.bad(path+".password", "must not contain control characters")
	}
}

func (c *Config) checkRestAPI(k *checker, agent bool) {
	r := c.RestAPI
	c.checkCredentials(k, "restapi.authentication", r.Authentication)
	if !agent {
		return
	}
	if r.Listen == "" {
		k.bad("restapi.listen", "required (host:port, e.g. 127.0.0.1:8008)")
	} else {
		checkHostPort(k, "restapi.listen", r.Listen, false)
	}
	if r.ConnectAddress != "" {
		checkConnectAddress(k, "restapi.connect_address", r.ConnectAddress)
	} else if r.Listen != "" && wildcardHost(r.Listen) {
		k.bad("restapi.connect_address", "required when restapi.listen is a wildcard address")
	}
	if (r.CertFile == "") != (r.KeyFile == "") {
		k.bad("restapi.certfile", "certfile and keyfile must be given together")
	}
	switch r.VerifyClient {
	case "", "none":
	case "optional", "required":
		if r.CAFile == "" {
			k.bad("restapi.cafile", "required when verify_client is %s", r.VerifyClient)
		}
		if r.CertFile == "" {
			k.bad("restapi.verify_client", "needs restapi.certfile and keyfile (HTTPS)")
		}
	default:
		k.bad("restapi.verify_client", "want none, optional or required, got %s", quoteShort(r.VerifyClient))
	}
	for i, a := range r.Allowlist {
		if _, err := parseAllow(a); err != nil {
			k.bad(indexPath("restapi.allowlist", i), "%v", err)
		}
	}
}

func (c *Config) checkDynamic(k *checker) {
	d := c.Bootstrap.DCS
	pos := func(path string, s *Seconds) {
		if s != nil && *s <= 0 {
			k.bad(path, "must be positive, got %v", float64(*s))
		}
	}
	pos("bootstrap.dcs.ttl", d.TTL)
	pos("bootstrap.dcs.loop_wait", d.LoopWait)
	pos("bootstrap.dcs.retry_timeout", d.RetryTimeout)
	ttl := Seconds(30)
	if d.TTL != nil {
		ttl = *d.TTL
	}
	if d.LoopWait != nil && *d.LoopWait >= ttl {
		k.bad("bootstrap.dcs.loop_wait", "must be below ttl (%v s), got %v", float64(ttl), float64(*d.LoopWait))
	}
	if d.RetryTimeout != nil && *d.RetryTimeout >= ttl {
		k.bad("bootstrap.dcs.retry_timeout", "must be below ttl (%v s), got %v", float64(ttl), float64(*d.RetryTimeout))
	}
	nonNeg := func(path string, v *int64, min int64) {
		if v != nil && *v < min {
			k.bad(path, "must be >= %d, got %d", min, *v)
		}
	}
	nonNeg("bootstrap.dcs.maximum_lag_on_failover", d.MaximumLagOnFailover, 0)
	nonNeg("bootstrap.dcs.maximum_lag_on_syncnode", d.MaximumLagOnSyncnode, -1)
	nonNeg("bootstrap.dcs.synchronous_node_count", d.SynchronousNodeCount, 1)
	nonNeg("bootstrap.dcs.max_timelines_history", d.MaxTimelinesHistory, 0)
	for path, s := range map[string]*Seconds{
		"bootstrap.dcs.primary_start_timeout": d.PrimaryStartTimeout,
		"bootstrap.dcs.primary_stop_timeout":  d.PrimaryStopTimeout,
	} {
		if s != nil && *s < 0 {
			k.bad(path, "must be >= 0, got %v", float64(*s))
		}
	}
	checkParameters(k, "bootstrap.dcs.postgresql.parameters", d.Postgresql.Parameters)
	checkHBA(k, "bootstrap.dcs.postgresql.pg_hba", d.Postgresql.PgHBA)
	if _, err := c.standbyCluster(); err != nil {
		k.bad("bootstrap.dcs."+failover.StandbyClusterKey, "%v", err)
	}
}

// standbyCluster parses bootstrap.dcs.standby_cluster (nil when absent),
// as the Controller will parse the config key it seeds.
func (c *Config) standbyCluster() (*failover.StandbyCluster, error) {
	raw, ok := c.ClusterConfig().Extra[failover.StandbyClusterKey]
	if !ok {
		return nil, nil
	}
	return failover.ParseStandbyCluster(raw)
}

// initdbReserved are initdb options pgha sets itself.
func initdbReserved(name string) bool {
	switch name {
	case "pgdata", "D", "username", "U", "pwfile", "pwprompt", "W", "auth", "A", "auth-local", "auth-host", "waldir", "X":
		return true
	}
	return false
}

func (c *Config) checkBootstrap(k *checker) {
	for i, o := range c.Bootstrap.Initdb {
		p := indexPath("bootstrap.initdb", i)
		if !optionName(o.Name) {
			k.bad(p, "option name %s: want letters, digits and '-'", quoteShort(o.Name))
			continue
		}
		if initdbReserved(o.Name) {
			k.bad(p, "option %s is set by pgha", o.Name)
		}
		if printable(o.Value) != nil {
			k.bad(p, "value of %s contains control characters", o.Name)
		}
	}
	c.checkBootstrapMethod(k)
	if pb := c.Bootstrap.PostBootstrap; pb != "" {
		if words, err := hookscript.Split(pb); err != nil || len(words) == 0 || printable(pb) != nil {
			k.bad("bootstrap.post_bootstrap", "want one line, the program and its arguments, got %s", quoteShort(pb))
		}
	}
	for name, u := range c.Bootstrap.Users {
		p := joinPath("bootstrap.users", name)
		if err := roleName(name); err != nil {
			k.bad(p, "%v", err)
		}
		if printable(u.Password) != nil {
			k.bad(p+".password", "contains control characters")
		}
		for i, o := range u.Options {
			if !optionName(strings.ReplaceAll(o, " ", "-")) {
				k.bad(indexPath(p+".options", i), "want a role option such as createdb, got %s", quoteShort(o))
			}
		}
	}
}

// checkBootstrapMethod checks bootstrap.method and the section it names.
func (c *Config) checkBootstrapMethod(k *checker) {
	name := c.Bootstrap.Method
	if name == "" || name == "initdb" {
		return
	}
	m, ok := c.Bootstrap.Methods[name]
	if !ok {
		k.bad("bootstrap.method", "names %s, but there is no bootstrap.%s section with a command", quoteShort(name), name)
		return
	}
	p := joinPath("bootstrap", name)
	if words, err := hookscript.Split(m.Command); err != nil || len(words) == 0 || printable(m.Command) != nil {
		k.bad(p+".command", "required: one line, the program and its arguments")
	}
	for opt, v := range m.Options {
		switch {
		case opt == "scope" || opt == "datadir":
			k.bad(joinPath(p, opt), "passed by pgha itself (--%s), unless no_params", opt)
		case !optionName(strings.ReplaceAll(opt, "_", "-")):
			k.bad(joinPath(p, opt), "not usable as a --name=value option: want letters, digits, '-' and '_'")
		case printable(v) != nil:
			k.bad(joinPath(p, opt), "contains control characters")
		}
	}
	for rk, v := range m.RecoveryConf {
		rp := joinPath(p+".recovery_conf", rk)
		if err := pglocal.CheckBootstrapRecoveryParameter(strings.ToLower(rk)); err != nil {
			k.bad(rp, "%v", err)
			continue
		}
		s, ok := pg.SettingValue(v)
		switch {
		case !ok:
			k.bad(rp, "want a string, number or boolean")
		case printable(s) != nil:
			k.bad(rp, "contains control characters")
		}
	}
}

func (c *Config) checkPostgres(k *checker) {
	p := c.Postgres
	if p.Listen == "" {
		k.bad("postgresql.listen", "required (host:port, e.g. 127.0.0.1:5432)")
	} else if _, _, err := splitListen(p.Listen); err != nil {
		k.bad("postgresql.listen", "%v", err)
	}
	if p.ConnectAddress != "" {
		checkConnectAddress(k, "postgresql.connect_address", p.ConnectAddress)
	} else if hosts, _, err := splitListen(p.Listen); err == nil && (hosts[0] == "*" || wildcardHost(hosts[0]+":1")) {
		k.bad("postgresql.connect_address", "required when postgresql.listen is a wildcard address")
	}
	if p.ProxyAddress != "" {
		checkConnectAddress(k, "postgresql.proxy_address", p.ProxyAddress)
	}
	switch {
	case p.DataDir == "":
		k.bad("postgresql.data_dir", "required (an absolute path)")
	case !filepath.IsAbs(p.DataDir):
		k.bad("postgresql.data_dir", "must be an absolute path, got %s", quoteShort(p.DataDir))
	case filepath.Clean(p.DataDir) == "/":
		k.bad("postgresql.data_dir", "must not be /")
	case printable(p.DataDir) != nil:
		k.bad("postgresql.data_dir", "contains control characters")
	}
	switch {
	case p.BinDir == "":
		k.bad("postgresql.bin_dir", "required (e.g. /usr/lib/postgresql/15/bin)")
	case !filepath.IsAbs(p.BinDir) || printable(p.BinDir) != nil:
		k.bad("postgresql.bin_dir", "must be an absolute path, got %s", quoteShort(p.BinDir))
	}
	if p.RunAsUser != "" && !optionName(strings.ReplaceAll(p.RunAsUser, "_", "-")) {
		k.bad("postgresql.run_as_user", "want an OS user name, got %s", quoteShort(p.RunAsUser))
	}
	a := p.Authentication
	for _, r := range []struct {
		path     string
		cr       Credentials
		needPass bool
	}{
		{"postgresql.authentication.superuser", a.Superuser, true},
		{"postgresql.authentication.replication", a.Replication, true},
		{"postgresql.authentication.rewind", a.Rewind, false},
	} {
		if r.cr.Username != "" {
			if err := roleName(r.cr.Username); err != nil {
				k.bad(r.path+".username", "%v", err)
			}
		}
		if r.needPass && r.cr.Password == "" {
			k.bad(r.path+".password", "required")
		}
		if strings.ContainsRune(r.cr.Password, 0) {
			k.bad(r.path+".password", "contains a NUL byte")
		}
	}
	checkParameters(k, "postgresql.parameters", p.Parameters)
	checkRecoveryConf(k, "postgresql.recovery_conf", p.RecoveryConf)
	checkHBA(k, "postgresql.pg_hba", p.PgHBA)
	if _, err := c.hookScripts(); err != nil {
		k.bad("postgresql.callbacks", "%v", err)
	}
	lists := map[string][]string{"postgresql.create_replica_methods": p.CreateReplicaMethods}
	if sc, err := c.standbyCluster(); err == nil && sc != nil {
		lists["bootstrap.dcs.standby_cluster.create_replica_methods"] = sc.CreateReplicaMethods
	}
	checked := map[string]bool{}
	for _, list := range slices.Sorted(maps.Keys(lists)) {
		for i, m := range lists[list] {
			if m == "basebackup" {
				continue
			}
			rm, ok := p.Methods[m]
			if !ok {
				k.bad(indexPath(list, i), "method %s has no postgresql.%s section with a command", quoteShort(m), m)
				continue
			}
			if checked[m] {
				continue
			}
			checked[m] = true
			switch {
			case strings.TrimSpace(rm.Command) == "" || printable(rm.Command) != nil:
				k.bad(joinPath("postgresql", m)+".command", "required: one line, the program and its arguments")
			case rm.NoParams:
				k.bad(joinPath("postgresql", m)+".no_params", "not supported: pgha always passes --scope, --datadir, --role and --connstring")
			}
		}
	}
}

// managedParameter names server settings that pgha derives from other
// fields, and which field to use instead.
func managedParameter(name string) (string, bool) {
	switch name {
	case "port", "listen_addresses":
		return "postgresql.listen", true
	case "hba_file":
		return "postgresql.pg_hba", true
	case "data_directory", "config_file":
		return "postgresql.data_dir", true
	case "primary_conninfo", "primary_slot_name", "synchronous_standby_names", "recovery_target_timeline":
		return "the HA loop (it sets them)", true
	}
	if slices.Contains(pglocal.RecoveryParameters, name) {
		return "postgresql.recovery_conf (a recovery setting, written only while the member is a replica)", true
	}
	return "", false
}

// checkRecoveryConf checks postgresql.recovery_conf: only the recovery
// settings pgha writes for a replica; recovery_target* keys are warned
// about (semanticWarnings) and dropped.
func checkRecoveryConf(k *checker, path string, rc map[string]any) {
	for name, v := range rc {
		p := joinPath(path, name)
		lname := strings.ToLower(name)
		if strings.HasPrefix(lname, "recovery_target") {
			continue
		}
		if err := pglocal.CheckRecoveryParameter(lname); err != nil {
			k.bad(p, "%v", err)
			continue
		}
		s, ok := pg.SettingValue(v)
		if !ok {
			k.bad(p, "want a string, number or boolean")
			continue
		}
		if printable(s) != nil {
			k.bad(p, "contains control characters")
		}
	}
}

func checkParameters(k *checker, path string, params map[string]any) {
	for name, v := range params {
		p := joinPath(path, name)
		if !paramName(name) {
			k.bad(p, "not a valid parameter name")
			continue
		}
		if owner, ok := managedParameter(strings.ToLower(name)); ok {
			k.bad(p, "managed by pgha: set %s instead", owner)
			continue
		}
		s, ok := pg.SettingValue(v)
		if !ok {
			k.bad(p, "want a string, number or boolean")
			continue
		}
		if printable(s) != nil {
			k.bad(p, "contains control characters")
		}
	}
}

func checkHBA(k *checker, path string, lines []string) {
	for i, l := range lines {
		if strings.TrimSpace(l) == "" || printable(l) != nil {
			k.bad(indexPath(path, i), "must be one non-empty line of printable characters")
		}
	}
}

// knownBoolTags and knownIntTags are Patroni's tags with their types.
func tagKind(name string) string {
	switch name {
	case dcs.TagNoFailover, dcs.TagNoLoadBalance, dcs.TagCloneFrom, dcs.TagNoSync, "nostream":
		return "bool"
	case dcs.TagFailoverPriority, dcs.TagSyncPriority:
		return "int"
	case dcs.TagReplicateFrom:
		return "name"
	}
	return ""
}

func (c *Config) checkTags(k *checker) {
	for name, v := range c.Tags {
		p := joinPath("tags", name)
		if !plainKey(name) {
			k.bad(p, "tag names must be letters, digits, '_' and '-'")
			continue
		}
		switch tagKind(name) {
		case "bool":
			if _, ok := v.(bool); !ok {
				k.bad(p, "want true or false")
			}
		case "int":
			if n, ok := v.(int64); !ok || n < 0 {
				k.bad(p, "want an integer >= 0")
			}
		case "name":
			if s, ok := v.(string); !ok || dcs.ValidateName(s) != nil {
				k.bad(p, "want a member name")
			}
		default:
			if s, ok := pg.SettingValue(v); !ok || printable(s) != nil {
				k.bad(p, "custom tags must be a string, number or boolean")
			}
		}
	}
	if c.Tags.Bool(dcs.TagNoFailover) {
		if n, ok := c.Tags[dcs.TagFailoverPriority].(int64); ok && n > 0 {
			k.bad("tags.failover_priority", "contradicts nofailover: true")
		}
	}
}

// checkHostPort checks "host:port"; needHost requires a host.
func checkHostPort(k *checker, path, s string, needHost bool) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		k.bad(path, "want host:port, got %s", quoteShort(s))
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		k.bad(path, "port must be 1..65535, got %s", quoteShort(port))
	}
	if needHost && host == "" {
		k.bad(path, "host is missing in %s", quoteShort(s))
	}
	if !hostChars(host) {
		k.bad(path, "host %s contains characters not allowed in a host name", quoteShort(host))
	}
}

func checkConnectAddress(k *checker, path, s string) {
	checkHostPort(k, path, s, true)
	if wildcardHost(s) {
		k.bad(path, "must be an address others can connect to, not a wildcard")
	}
}

func wildcardHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "" || host == "*" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsUnspecified()
}

func checkURL(k *checker, path, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || printable(s) != nil {
		k.bad(path, "want http(s)://host:port, got %s", quoteShort(s))
	}
}

// splitListen parses postgresql.listen: "host[,host...]:port".
func splitListen(s string) ([]string, int, error) {
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return nil, 0, fmt.Errorf("want host:port, got %s", quoteShort(s))
	}
	port, err := strconv.Atoi(s[i+1:])
	if err != nil || port < 1 || port > 65535 {
		return nil, 0, fmt.Errorf("port must be 1..65535 in %s", quoteShort(s))
	}
	var hosts []string
	for _, h := range strings.Split(s[:i], ",") {
		h = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(h), "["), "]")
		if h == "" || (h != "*" && !hostChars(h)) {
			return nil, 0, fmt.Errorf("bad host %s in %s", quoteShort(h), quoteShort(s))
		}
		hosts = append(hosts, h)
	}
	return hosts, port, nil
}

// hostChars allows what host names and IP literals use.
func hostChars(h string) bool {
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == ':', r == '_', r == '%':
		default:
			return false
		}
	}
	return true
}

func parseAllow(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("want an IP address or CIDR prefix, got %s", quoteShort(s))
	}
	ip = ip.Unmap()
	return netip.PrefixFrom(ip, ip.BitLen()), nil
}

func printable(s string) error {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("contains control character %q", r)
		}
	}
	return nil
}

func roleName(s string) error {
	if s == "" || len(s) > 63 {
		return fmt.Errorf("role name %s must be 1 to 63 bytes", quoteShort(s))
	}
	return printable(s)
}

func optionName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

func paramName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_':
		case (r >= '0' && r <= '9') || r == '.':
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}
