package pglocal

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pgha/pgha/pg"
)

// Credentials are a PostgreSQL role name and password.
type Credentials struct {
	Username string
	Password string
}

// ReplicaMethod is one way of creating a replica's data directory, as
// Patroni's postgresql.create_replica_methods entries.
type ReplicaMethod struct {
	// Name is "basebackup" for the built-in pg_basebackup method; any other
	// name needs Command.
	Name string
	// Command is run (as the server's OS user) with Patroni's arguments
	// appended: --scope=<Scope> --datadir=<DataDir> --role=replica
	// --connstring=<upstream conninfo or ''>. Exit status 0 means success.
	Command []string
	// KeepData keeps the data directory contents when the method fails
	// (normally it is wiped before the next method is tried).
	KeepData bool
	// NoLeader allows the method to run without an upstream (for example a
	// restore from a backup repository).
	NoLeader bool
}

// BaseBackup is the built-in replica-creation method name.
const BaseBackup = "basebackup"

// Config configures a [Local] instance. Zero values take the defaults
// named on each field.
type Config struct {
	// Name is this member's name; it is the application_name of its
	// replication connection. Required.
	Name string
	// Scope is the cluster name, passed to custom replica methods.
	Scope string
	// BinDir holds the PostgreSQL programs (postgres, initdb, pg_basebackup,
	// pg_rewind, pg_controldata, pg_waldump). Required.
	BinDir string
	// DataDir is the data directory (PGDATA). Required, absolute.
	DataDir string
	// LogFile receives the server's stderr. Default DataDir + ".log"; it
	// lives outside the data directory so replicas do not copy it.
	LogFile string
	// ListenAddresses is listen_addresses. Default "127.0.0.1".
	ListenAddresses string
	// Port is the server port. Default 5432.
	Port int
	// SocketDir is unix_socket_directories; Local connects through it.
	// Default "/tmp".
	SocketDir string
	// RunAsUser is the OS user that runs the server and tools when this
	// process is root. Default "postgres". Ignored when not root.
	RunAsUser string
	// Superuser is the superuser role (default user name "postgres"); its
	// password is required. Local connects as this role.
	Superuser Credentials
	// Replication is the role replicas stream and clone with (default user
	// name "replicator"); its password is required.
	Replication Credentials
	// Rewind is the role pg_rewind connects as (default user name
	// "rewind_user"). Without a password the superuser is used.
	Rewind Credentials
	// Parameters are extra server settings written to pgha.conf. Names are
	// lower-case [a-z0-9_.]; settings Local manages itself are refused.
	Parameters map[string]string
	// RecoveryConf are recovery settings (Patroni's postgresql.recovery_conf)
	// written into pgha.conf only while the server is a replica (its data
	// directory has standby.signal) and before pg_rewind: restore_command,
	// archive_cleanup_command, recovery_end_command and
	// recovery_min_apply_delay. On PostgreSQL 12 and later they are
	// ordinary settings; a running replica re-reads them on reload.
	// primary_conninfo and primary_slot_name are refused (Follow sets
	// them), and so are recovery_target* (a point-in-time target belongs to
	// a custom bootstrap, not to a replica). With restore_command set, a
	// replica whose upstream has removed WAL it still needs replays it from
	// the archive, and Rewind passes --restore-target-wal so pg_rewind can
	// fetch the target's removed WAL too.
	RecoveryConf map[string]string
	// HBA replaces the default authentication rules (scram-sha-256 for
	// everything on the unix socket and loopback). One pg_hba.conf line per
	// entry; Local's own connections must still be allowed.
	HBA []string
	// ReplicaMethods are tried in order by Clone. Default: basebackup only.
	ReplicaMethods []ReplicaMethod
	// StandbyReplicaMethods are methods that Clone runs only when a
	// pg.CloneRequest.Methods names them, never in an ordinary clone:
	// the sections of Patroni's postgresql.<name> that
	// standby_cluster.create_replica_methods names but
	// postgresql.create_replica_methods does not (for example a restore
	// from a backup that creates the first member of a standby cluster).
	// CloneRequest.Methods resolves a name among ReplicaMethods, then
	// these, then the built-in basebackup; a name must not be in both
	// lists, and basebackup needs no entry.
	StandbyReplicaMethods []ReplicaMethod
	// StatusTimeout bounds connecting and each status query. Default 2s.
	StatusTimeout time.Duration
	// Logger receives operational logs. Default slog.Default().
	Logger *slog.Logger
	// DisableFenceKeeper turns off the fence keeper process that
	// ArmFence starts (the fence that needs no live agent). It is on by
	// default; turn it off only where something else (a watchdog, a
	// container runtime tied to the agent's life) stops a primary whose
	// agent is gone.
	DisableFenceKeeper bool
	// FenceKeeperLog receives the fence keeper process's own log lines.
	// Default: discarded.
	FenceKeeperLog io.Writer
}

// managedParams are set by Local from other fields or operations.
var managedParams = map[string]string{
	"port":                      "Port",
	"listen_addresses":          "ListenAddresses",
	"unix_socket_directories":   "SocketDir",
	"hba_file":                  "HBA",
	"ident_file":                "ClusterConfig.Ident",
	"primary_conninfo":          "Follow",
	"primary_slot_name":         "Follow",
	"synchronous_standby_names": "SetSynchronousStandbyNames",
	"data_directory":            "DataDir",
	"config_file":               "DataDir",
	"restore_command":           "RecoveryConf",
	"archive_cleanup_command":   "RecoveryConf",
	"recovery_end_command":      "RecoveryConf",
	"recovery_min_apply_delay":  "RecoveryConf",
}

// RecoveryParameters are the settings [Config.RecoveryConf] accepts:
// recovery settings a replica uses and the HA loop does not set itself.
var RecoveryParameters = []string{"archive_cleanup_command", "recovery_end_command", "recovery_min_apply_delay", "restore_command"}

// CheckRecoveryParameter reports why name cannot be a RecoveryConf entry,
// or nil when it can.
func CheckRecoveryParameter(name string) error {
	switch {
	case slices.Contains(RecoveryParameters, name):
		return nil
	case name == "primary_conninfo" || name == "primary_slot_name":
		return fmt.Errorf("%s is set by the HA loop (Follow), from the member it follows", name)
	case strings.HasPrefix(name, "recovery_target"):
		return fmt.Errorf("%s is a point-in-time recovery target, for a custom bootstrap, not for a replica", name)
	}
	return fmt.Errorf("%q is not a recovery setting pgha writes for a replica (accepted: %s)", name, strings.Join(RecoveryParameters, ", "))
}

// withDefaults returns a copy with defaults applied.
func (c Config) withDefaults() Config {
	if c.LogFile == "" && c.DataDir != "" {
		c.LogFile = filepath.Clean(c.DataDir) + ".log"
	}
	if c.ListenAddresses == "" {
		c.ListenAddresses = "127.0.0.1"
	}
	if c.Port == 0 {
		c.Port = 5432
	}
	if c.SocketDir == "" {
		c.SocketDir = "/tmp"
	}
	if c.RunAsUser == "" {
		c.RunAsUser = "postgres"
	}
	if c.Superuser.Username == "" {
		c.Superuser.Username = "postgres"
	}
	if c.Replication.Username == "" {
		c.Replication.Username = "replicator"
	}
	if c.Rewind.Username == "" {
		c.Rewind.Username = "rewind_user"
	}
	if len(c.ReplicaMethods) == 0 {
		c.ReplicaMethods = []ReplicaMethod{{Name: BaseBackup}}
	}
	if c.StatusTimeout <= 0 {
		c.StatusTimeout = 2 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func fieldErr(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", pg.ErrInvalidConfig, field, fmt.Sprintf(format, args...))
}

// validate checks a config that already has defaults applied.
func (c Config) validate() error {
	if c.Name == "" {
		return fieldErr("Name", "required")
	}
	if err := printable(c.Name); err != nil {
		return fieldErr("Name", "%v", err)
	}
	if c.BinDir == "" {
		return fieldErr("BinDir", "required (for example /usr/lib/postgresql/15/bin)")
	}
	if c.DataDir == "" || !filepath.IsAbs(c.DataDir) {
		return fieldErr("DataDir", "an absolute path is required, got %q", c.DataDir)
	}
	if filepath.Clean(c.DataDir) == "/" {
		return fieldErr("DataDir", "must not be /")
	}
	if !filepath.IsAbs(c.LogFile) {
		return fieldErr("LogFile", "an absolute path is required, got %q", c.LogFile)
	}
	if strings.HasPrefix(filepath.Clean(c.LogFile)+"/", filepath.Clean(c.DataDir)+"/") {
		return fieldErr("LogFile", "must be outside DataDir")
	}
	if c.Port < 1 || c.Port > 65535 {
		return fieldErr("Port", "must be 1..65535, got %d", c.Port)
	}
	if !filepath.IsAbs(c.SocketDir) {
		return fieldErr("SocketDir", "an absolute path is required, got %q", c.SocketDir)
	}
	// sun_path holds 108 bytes including "/.s.PGSQL.<port>" and a NUL.
	if len(c.SocketDir)+len("/.s.PGSQL.65535")+1 > 108 {
		return fieldErr("SocketDir", "path too long for a unix socket (%d bytes)", len(c.SocketDir))
	}
	for field, v := range map[string]string{
		"ListenAddresses": c.ListenAddresses, "SocketDir": c.SocketDir, "DataDir": c.DataDir,
		"Scope": c.Scope, "RunAsUser": c.RunAsUser,
	} {
		if err := printable(v); err != nil {
			return fieldErr(field, "%v", err)
		}
	}
	for field, cr := range map[string]Credentials{"Superuser": c.Superuser, "Replication": c.Replication, "Rewind": c.Rewind} {
		if err := validRoleName(cr.Username); err != nil {
			return fieldErr(field+".Username", "%v", err)
		}
		if strings.ContainsRune(cr.Password, 0) {
			return fieldErr(field+".Password", "contains a NUL byte")
		}
	}
	if c.Superuser.Password == "" {
		return fieldErr("Superuser.Password", "required")
	}
	if c.Replication.Password == "" {
		return fieldErr("Replication.Password", "required")
	}
	for name, value := range c.Parameters {
		if err := validParamName(name); err != nil {
			return fieldErr("Parameters["+name+"]", "%v", err)
		}
		if owner, ok := managedParams[name]; ok {
			return fieldErr("Parameters["+name+"]", "managed by pgha (use %s)", owner)
		}
		if err := validParamValue(value); err != nil {
			return fieldErr("Parameters["+name+"]", "%v", err)
		}
	}
	for name, value := range c.RecoveryConf {
		if err := CheckRecoveryParameter(name); err != nil {
			return fieldErr("RecoveryConf["+name+"]", "%v", err)
		}
		if err := validParamValue(value); err != nil {
			return fieldErr("RecoveryConf["+name+"]", "%v", err)
		}
	}
	for i, line := range c.HBA {
		if err := printable(line); err != nil || strings.TrimSpace(line) == "" {
			return fieldErr(fmt.Sprintf("HBA[%d]", i), "must be one non-empty line of printable characters")
		}
	}
	for i, m := range c.ReplicaMethods {
		if err := m.check(fmt.Sprintf("ReplicaMethods[%d]", i)); err != nil {
			return err
		}
	}
	for i, m := range c.StandbyReplicaMethods {
		f := fmt.Sprintf("StandbyReplicaMethods[%d]", i)
		if err := m.check(f); err != nil {
			return err
		}
		switch {
		case m.Name == BaseBackup:
			return fieldErr(f+".Name", "basebackup is built in: name it in CloneRequest.Methods without an entry here")
		case slices.ContainsFunc(c.ReplicaMethods, func(o ReplicaMethod) bool { return o.Name == m.Name }):
			return fieldErr(f+".Name", "method %q is also in ReplicaMethods: define it once", m.Name)
		case slices.ContainsFunc(c.StandbyReplicaMethods[:i], func(o ReplicaMethod) bool { return o.Name == m.Name }):
			return fieldErr(f+".Name", "method %q is defined twice", m.Name)
		}
	}
	return nil
}

// check validates one method; f names it in errors.
func (m ReplicaMethod) check(f string) error {
	switch {
	case m.Name == "":
		return fieldErr(f+".Name", "required")
	case printable(m.Name) != nil:
		return fieldErr(f+".Name", "%v", printable(m.Name))
	case m.Name == BaseBackup && len(m.Command) > 0:
		return fieldErr(f+".Command", "not allowed for the built-in basebackup method")
	case m.Name != BaseBackup && len(m.Command) == 0:
		return fieldErr(f+".Command", "required for method %q", m.Name)
	}
	return nil
}

// replicaMethods returns the methods a clone tries: the configured order,
// or the methods names resolves to (see pg.CloneRequest.Methods). A name
// with no definition is an ErrInvalidConfig error.
func (c Config) replicaMethods(names []string) ([]ReplicaMethod, error) {
	if len(names) == 0 {
		return c.ReplicaMethods, nil
	}
	out := make([]ReplicaMethod, 0, len(names))
	for _, name := range names {
		byName := func(m ReplicaMethod) bool { return m.Name == name }
		if i := slices.IndexFunc(c.ReplicaMethods, byName); i >= 0 {
			out = append(out, c.ReplicaMethods[i])
		} else if i := slices.IndexFunc(c.StandbyReplicaMethods, byName); i >= 0 {
			out = append(out, c.StandbyReplicaMethods[i])
		} else if name == BaseBackup {
			out = append(out, ReplicaMethod{Name: BaseBackup})
		} else {
			var known []string
			for _, m := range append(slices.Clone(c.ReplicaMethods), c.StandbyReplicaMethods...) {
				if m.Name != BaseBackup {
					known = append(known, m.Name)
				}
			}
			return nil, fmt.Errorf("%w: CloneRequest.Methods: replica method %q is not defined (defined: basebackup%s)",
				pg.ErrInvalidConfig, name, strings.Join(append([]string{""}, known...), ", "))
		}
	}
	return out, nil
}

// maxIdentifierLen is PostgreSQL's NAMEDATALEN-1.
const maxIdentifierLen = 63

// printable rejects control characters, which would break the line-based
// files the values end up in.
func printable(s string) error {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("contains control character %q", r)
		}
	}
	return nil
}

func validRoleName(s string) error {
	if s == "" || len(s) > maxIdentifierLen {
		return fmt.Errorf("role name %q must be 1 to 63 bytes", s)
	}
	return printable(s)
}
