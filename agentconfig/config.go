package agentconfig

import "github.com/pgha/pgha/dcs"

// Config is one node's configuration, with the names of Patroni's
// patroni.yml. Fields that pgha does not use are not represented: Load
// names them in a warning instead.
type Config struct {
	// Scope is the cluster name; required.
	Scope string `yaml:"scope"`
	// Namespace is the DCS namespace (Patroni's default "/service/").
	Namespace string `yaml:"namespace"`
	// Name is this member's name, unique in the cluster; required by the
	// agent.
	Name string `yaml:"name"`

	// Log is the log section.
	Log Log `yaml:"log"`
	// RestAPI is the REST API the agent serves and the CLI calls.
	RestAPI RestAPI `yaml:"restapi"`
	// Ctl is how the CLI calls the REST API.
	Ctl Ctl `yaml:"ctl"`
	// Etcd3, Etcd (read as etcd3) and Consul are the DCS; exactly one
	// is set.
	Etcd3  *Etcd   `yaml:"etcd3"`
	Etcd   *Etcd   `yaml:"etcd"`
	Consul *Consul `yaml:"consul"`
	// Bootstrap is what a new cluster starts with.
	Bootstrap Bootstrap `yaml:"bootstrap"`
	// Postgres is the local PostgreSQL (the postgresql section).
	Postgres Postgresql `yaml:"postgresql"`
	// Tags are this member's tags.
	Tags Tags `yaml:"tags"`
	// Watchdog is the watchdog device a primary arms.
	Watchdog Watchdog `yaml:"watchdog"`

	// where records, for each dotted path that was set, where it came
	// from ("line 12" or "PATRONI_NAME"), so errors can point at it.
	where map[string]string
}

// Log is Patroni's log section. Only level and type are used: pgha logs to
// stderr through log/slog.
type Log struct {
	// Level is DEBUG, INFO, WARNING, ERROR or CRITICAL (default INFO).
	Level string `yaml:"level"`
	// Type is plain (default) or json.
	Type string `yaml:"type"`
}

// RestAPI is the restapi section: the health and management API.
type RestAPI struct {
	// Listen is the host:port the API listens on; required by the agent.
	Listen string `yaml:"listen"`
	// ConnectAddress is the host:port others reach the API at; it goes
	// into the member key's api_url. Default: Listen.
	ConnectAddress string `yaml:"connect_address"`
	// Authentication protects the management endpoints (basic auth).
	Authentication Credentials `yaml:"authentication"`
	// CertFile and KeyFile enable HTTPS.
	CertFile string `yaml:"certfile"`
	KeyFile  string `yaml:"keyfile"`
	// CAFile verifies client certificates.
	CAFile string `yaml:"cafile"`
	// VerifyClient is none (default), optional or required.
	VerifyClient string `yaml:"verify_client"`
	// Allowlist restricts management calls to these IP addresses or CIDR
	// prefixes.
	Allowlist []string `yaml:"allowlist"`
}

// Ctl is patronictl's ctl section: how the CLI talks to the REST API.
type Ctl struct {
	// Insecure skips verification of the API's certificate.
	Insecure bool `yaml:"insecure"`
	// CertFile and KeyFile are a client certificate for the API.
	CertFile string `yaml:"certfile"`
	KeyFile  string `yaml:"keyfile"`
	// CACert verifies the API's certificate.
	CACert string `yaml:"cacert"`
	// Authentication overrides restapi.authentication for the CLI.
	Authentication Credentials `yaml:"authentication"`
}

// Credentials are a user name and password.
type Credentials struct {
	// Username is the user (or role) name.
	Username string `yaml:"username"`
	// Password is the password.
	Password string `yaml:"password"`
}

// Etcd is the etcd3 section (the etcd section is read the same way, see
// the package documentation).
type Etcd struct {
	// Host is one host:port; Hosts a list (or a comma-separated string).
	Host  string     `yaml:"host"`
	Hosts StringList `yaml:"hosts"`
	// URL is one endpoint URL (http://host:port); URLs a list.
	URL  string     `yaml:"url"`
	URLs StringList `yaml:"urls"`
	// Protocol is http (default) or https; used for Host and Hosts.
	Protocol string `yaml:"protocol"`
	// Username and Password authenticate to etcd.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// CACert, Cert and Key are PEM files for TLS.
	CACert string `yaml:"cacert"`
	Cert   string `yaml:"cert"`
	Key    string `yaml:"key"`
}

// Consul is the consul section.
type Consul struct {
	// Host is the agent's host:port (default 127.0.0.1:8500).
	Host string `yaml:"host"`
	// URL is the agent's URL (http://host:port); it sets Scheme and Host.
	URL string `yaml:"url"`
	// Port is added to Host when Host has none.
	Port int `yaml:"port"`
	// Scheme is http (default) or https.
	Scheme string `yaml:"scheme"`
	// Token is the ACL token.
	Token string `yaml:"token"`
	// Verify, when false, skips TLS verification of the agent.
	Verify *bool `yaml:"verify"`
	// CACert, Cert and Key are PEM files for TLS.
	CACert string `yaml:"cacert"`
	Cert   string `yaml:"cert"`
	Key    string `yaml:"key"`
	// DC is the datacenter.
	DC string `yaml:"dc"`
	// Consistency is default, consistent (the default) or stale.
	Consistency string `yaml:"consistency"`
	// Checks are node health checks the session is bound to.
	Checks []string `yaml:"checks"`
}

// Bootstrap is the bootstrap section, used only by the node that
// initializes a new cluster.
type Bootstrap struct {
	// DCS is written to the config key when the cluster is initialized.
	DCS DynamicConfig `yaml:"dcs"`
	// Initdb are initdb options: "data-checksums" or {"encoding": "UTF8"}.
	Initdb InitdbOptions `yaml:"initdb"`
	// Users are roles to create after initdb (Patroni before 4.0). The
	// agent creates them; pgha's pg package does not.
	Users map[string]User `yaml:"users"`
	// Method is how the cluster is created: initdb (the default) or the
	// name of another key of this section holding a [BootstrapMethod],
	// for example a restore from a backup to a point in time.
	Method string `yaml:"method"`
	// PostBootstrap is a command run once the new cluster runs as a
	// primary, with the superuser's connection string appended (its
	// password in PGPASSWORD); a non-zero exit fails the bootstrap.
	// Patroni's older spelling is post_init.
	PostBootstrap string `yaml:"post_bootstrap" alias:"post_init"`
	// Methods holds the section named by Method, when it is not initdb.
	Methods map[string]BootstrapMethod `yaml:"-"`
}

// BootstrapMethod is a custom bootstrap method, the section of bootstrap
// that bootstrap.method names (see pg.BootstrapMethod).
type BootstrapMethod struct {
	// Command is the program and its arguments, split as a shell would
	// (Patroni's shlex). It must create the data directory.
	Command string `yaml:"command"`
	// KeepExistingRecoveryConf keeps the recovery.signal and recovery
	// settings the command left; RecoveryConf is then not written.
	KeepExistingRecoveryConf bool `yaml:"keep_existing_recovery_conf"`
	// NoParams leaves out the --scope and --datadir arguments.
	NoParams bool `yaml:"no_params"`
	// RecoveryConf are the recovery settings of the first start
	// (restore_command, recovery_target_name, recovery_target_time,
	// recovery_target_action, ...), written with recovery.signal.
	RecoveryConf map[string]any `yaml:"recovery_conf"`
	// Options are the section's other keys, passed to the command as
	// --name=value.
	Options map[string]string `yaml:"-"`
}

// User is one bootstrap.users entry.
type User struct {
	// Password is the role's password; empty: the role has none.
	Password string `yaml:"password"`
	// Options are role options such as createrole or createdb.
	Options []string `yaml:"options"`
}

// DynamicConfig is bootstrap.dcs, the initial dynamic configuration: the
// cluster's config key when this node initializes it. Unset fields are nil
// and keep their defaults. The fields are Patroni's settings of the same
// names; failover.Settings documents what each does in pgha and how it is
// clamped. Patroni's master_start_timeout and master_stop_timeout are read
// as primary_start_timeout and primary_stop_timeout.
type DynamicConfig struct {
	// TTL is the leader lease's time to live.
	TTL *Seconds `yaml:"ttl"`
	// LoopWait is the longest time between two HA cycles.
	LoopWait *Seconds `yaml:"loop_wait"`
	// RetryTimeout is Patroni's DCS retry bound.
	RetryTimeout *Seconds `yaml:"retry_timeout"`
	// MaximumLagOnFailover is the most WAL, in bytes, a candidate may
	// lack and still be promoted automatically.
	MaximumLagOnFailover *int64 `yaml:"maximum_lag_on_failover"`
	// MaximumLagOnSyncnode is the most WAL, in bytes, a synchronous
	// standby may lack (-1: no limit).
	MaximumLagOnSyncnode *int64 `yaml:"maximum_lag_on_syncnode"`
	// PrimaryStartTimeout bounds restarting a crashed primary in place.
	PrimaryStartTimeout *Seconds `yaml:"primary_start_timeout" alias:"master_start_timeout"`
	// PrimaryStopTimeout bounds a primary's clean stop.
	PrimaryStopTimeout *Seconds `yaml:"primary_stop_timeout" alias:"master_stop_timeout"`
	// SynchronousMode is off, on or quorum.
	SynchronousMode *SyncMode `yaml:"synchronous_mode"`
	// SynchronousModeStrict makes commits wait when no synchronous
	// standby is available.
	SynchronousModeStrict *bool `yaml:"synchronous_mode_strict"`
	// SynchronousNodeCount is how many standbys acknowledge each commit.
	SynchronousNodeCount *int64 `yaml:"synchronous_node_count"`
	// FailsafeMode keeps a primary that lost the DCS running while every
	// member confirms it.
	FailsafeMode *bool `yaml:"failsafe_mode"`
	// CheckTimeline excludes candidates whose timeline is unknown.
	CheckTimeline *bool `yaml:"check_timeline"`
	// MaxTimelinesHistory bounds the history key (0: no limit).
	MaxTimelinesHistory *int64 `yaml:"max_timelines_history"`
	// Postgresql is bootstrap.dcs.postgresql.
	Postgresql DynamicPostgresql `yaml:"postgresql"`
	// Extra holds other keys (slots, standby_cluster, ...): written to the
	// DCS as they are, not interpreted by pgha.
	Extra map[string]any `yaml:",inline"`
}

// DynamicPostgresql is bootstrap.dcs.postgresql.
type DynamicPostgresql struct {
	// UsePgRewind lets a diverged former primary rejoin by pg_rewind.
	UsePgRewind *bool `yaml:"use_pg_rewind"`
	// UseSlots is written to the config key for Patroni's tools.
	UseSlots *bool `yaml:"use_slots"`
	// Parameters are server settings shared by the cluster; a node's
	// postgresql.parameters override them.
	Parameters map[string]any `yaml:"parameters"`
	// PgHBA are pg_hba.conf lines, used when postgresql.pg_hba is unset.
	PgHBA []string `yaml:"pg_hba"`
	// Extra holds other keys, written to the DCS as they are.
	Extra map[string]any `yaml:",inline"`
}

// Postgresql is the postgresql section.
type Postgresql struct {
	// Listen is host:port or "host1,host2:port" (listen_addresses and
	// port).
	Listen string `yaml:"listen"`
	// ConnectAddress is the host:port others connect to; it goes into the
	// member key's conn_url. Default: Listen's first host.
	ConnectAddress string `yaml:"connect_address"`
	// ProxyAddress is the host:port of a connection pooler in front of
	// this node, published as the member key's proxy_url.
	ProxyAddress string `yaml:"proxy_address"`
	// DataDir is PGDATA; absolute.
	DataDir string `yaml:"data_dir"`
	// BinDir holds the PostgreSQL programs.
	BinDir string `yaml:"bin_dir"`
	// PgPass is accepted for compatibility; pgha passes passwords
	// directly and writes no password file.
	PgPass string `yaml:"pgpass"`
	// Authentication are the roles the agent and the replicas use.
	Authentication Authentication `yaml:"authentication"`
	// Parameters are server settings; they override
	// bootstrap.dcs.postgresql.parameters.
	Parameters map[string]any `yaml:"parameters"`
	// PgHBA replaces the default pg_hba.conf lines.
	PgHBA []string `yaml:"pg_hba"`
	// RecoveryConf are recovery settings written into the server's
	// configuration only while this member runs as a replica (Patroni's
	// recovery_conf): restore_command, archive_cleanup_command,
	// recovery_end_command, recovery_min_apply_delay. primary_conninfo and
	// primary_slot_name are refused (the HA loop sets them);
	// recovery_target* keys are warned about and not used (they belong to
	// a custom bootstrap). See pglocal.Config.RecoveryConf.
	RecoveryConf map[string]any `yaml:"recovery_conf"`
	// CreateReplicaMethods names the replica creation methods in order;
	// each name other than basebackup is a key of this section holding a
	// ReplicaMethod.
	CreateReplicaMethods []string `yaml:"create_replica_methods"`
	// Methods are the custom replica methods named in
	// CreateReplicaMethods or in
	// bootstrap.dcs.standby_cluster.create_replica_methods (Patroni looks
	// both up in postgresql.<name>); the latter alone are used only to
	// create a standby cluster's first member (see
	// pglocal.Config.StandbyReplicaMethods).
	Methods map[string]ReplicaMethod `yaml:"-"`
	// RunAsUser is the OS user that runs PostgreSQL when the agent runs
	// as root (pgha extension; default postgres).
	RunAsUser string `yaml:"run_as_user"`
	// Callbacks maps on_start, on_stop, on_restart, on_reload and
	// on_role_change to a command, run after the fact with the action,
	// the role and the scope as arguments (Patroni's convention).
	Callbacks map[string]string `yaml:"callbacks"`
	// PrePromote is a command run before this node promotes; a non-zero
	// exit vetoes the promotion.
	PrePromote string `yaml:"pre_promote"`
	// BeforeStop is a command run before the agent stops PostgreSQL.
	BeforeStop string `yaml:"before_stop"`
}

// Authentication is postgresql.authentication.
type Authentication struct {
	// Superuser is the role the agent connects as; required.
	Superuser Credentials `yaml:"superuser"`
	// Replication is the role replicas stream and clone with; required.
	Replication Credentials `yaml:"replication"`
	// Rewind is the role pg_rewind connects as; default the superuser.
	Rewind Credentials `yaml:"rewind"`
}

// ReplicaMethod is a custom replica creation method, e.g.
// postgresql.pgbackrest.
type ReplicaMethod struct {
	// Command is the program and its arguments, split on spaces.
	Command string `yaml:"command"`
	// KeepData keeps the data directory's files for the command.
	KeepData bool `yaml:"keep_data"`
	// NoLeader lets the method run without a leader (no_master in
	// Patroni's older spelling).
	NoLeader bool `yaml:"no_leader" alias:"no_master"`
	// NoParams is refused: pgha always appends Patroni's arguments.
	NoParams bool `yaml:"no_params"`
}

// Tags are this member's tags. Known tags are checked and normalized
// (booleans, integers); custom tags are kept as they are.
type Tags = dcs.Tags

// Watchdog is Patroni's watchdog section: mode (off, automatic, the
// default, or required) and device; see [Config.WatchdogConfig].
type Watchdog struct {
	// Mode is off, automatic or required.
	Mode string `yaml:"mode"`
	// Device is the watchdog device, default /dev/watchdog.
	Device string `yaml:"device"`
	// SafetyMargin is accepted but not applied (a warning says why).
	SafetyMargin *Seconds `yaml:"safety_margin"`
}
