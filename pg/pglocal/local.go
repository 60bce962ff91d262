package pglocal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/pgha/pgha/pg"

	"github.com/pgha/pgha/fence"
)

// requiredBinaries are checked by New so a missing package shows up
// at construction, not in the middle of a failover.
var requiredBinaries = []string{"postgres", "initdb", "pg_controldata", "pg_basebackup", "pg_rewind", "pg_waldump"}

// Local is the [Instance] for a data directory on this machine. Create it
// with [New]. Its methods are safe for concurrent use; operations that
// change the server are serialized.
type Local struct {
	cfg Config
	log *slog.Logger

	// uid and gid run the server and tools; runAs is false when this
	// process is not root (everything then runs as ourselves).
	runAs    bool
	uid, gid uint32
	home     string

	op sync.Mutex // serializes operations that change the server; see lockOp
	// opFences is the value of fences when the operation holding op was
	// called. Guarded by op.
	opFences uint64

	mu    sync.Mutex // guards the fields below
	state pg.ProcessState
	proc  *postmaster // the postmaster we started; nil otherwise
	conf  confState
	// cluster is the cluster's configuration last given to
	// ApplyClusterConfig, already screened; local is the member's own
	// parameters (Config.Parameters, then ApplyLocalParameters).
	cluster pg.ClusterConfig
	local   map[string]string
	// adopted is the pid of a postmaster this Local did not start but saw
	// running (left by an earlier agent); its disappearance without a stop
	// request is a crash. stopPID is such a postmaster that Stop or Fence
	// signalled: its exit is not a crash, so it is never adopted again.
	adopted int
	stopPID int
	// fences counts Fence calls (see lockOp and start).
	fences uint64
	// replayTLI caches replayTimeline's answer for one postmaster and
	// replay position.
	replayTLI replayTLICache
	// fenceKeeper is the fence keeper process, started by the first
	// ArmFence.
	fenceKeeper *fence.Keeper

	connMu sync.Mutex // guards conn
	conn   *pgx.Conn
}

var _ pg.Instance = (*Local)(nil)

// New validates cfg, checks the PostgreSQL binaries and the OS user,
// and returns a Local. It does not touch the data directory.
func New(cfg Config) (*Local, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	for _, b := range requiredBinaries {
		p := filepath.Join(cfg.BinDir, b)
		st, err := os.Stat(p)
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return nil, fmt.Errorf("%w: BinDir: %s is missing or not executable (install the Debian package postgresql-15 or point BinDir at its bin directory)", pg.ErrBinaryNotFound, p)
		}
	}
	l := &Local{cfg: cfg, log: cfg.Logger.With("member", cfg.Name), state: pg.StateStopped, local: maps.Clone(cfg.Parameters)}
	if os.Geteuid() == 0 {
		u, err := user.Lookup(cfg.RunAsUser)
		if err != nil {
			return nil, fieldErr("RunAsUser", "%v (PostgreSQL refuses to run as root)", err)
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			return nil, fieldErr("RunAsUser", "user %q must be a non-root user with numeric ids", cfg.RunAsUser)
		}
		l.runAs, l.uid, l.gid, l.home = true, uint32(uid), uint32(gid), u.HomeDir
	}
	if data, err := os.ReadFile(filepath.Join(cfg.DataDir, pghaConfFile)); err == nil {
		kv := parseOwnConf(string(data))
		l.conf = confState{primaryConninfo: kv["primary_conninfo"], primarySlot: kv["primary_slot_name"],
			syncNames: kv["synchronous_standby_names"]}
		// A recovery setting other than the configured one was a
		// FollowConfig.Recovery (a standby leader's): keep it until the
		// next Follow says otherwise.
		for _, k := range RecoveryParameters {
			if v, ok := kv[k]; ok && v != cfg.RecoveryConf[k] {
				if l.conf.recovery == nil {
					l.conf.recovery = map[string]string{}
				}
				l.conf.recovery[k] = v
			}
		}
	}
	return l, nil
}

// Config returns the effective configuration (defaults applied).
func (l *Local) Config() Config { return l.cfg }

// DataDir returns the data directory.
func (l *Local) DataDir() string { return l.cfg.DataDir }

// Port returns the server port.
func (l *Local) Port() int { return l.cfg.Port }

// Upstream returns how other members on this host reach this server over
// TCP (its first listen address and port).
func (l *Local) Upstream() pg.Upstream {
	host := strings.TrimSpace(strings.Split(l.cfg.ListenAddresses, ",")[0])
	if host == "*" || host == "0.0.0.0" || host == "" {
		host = "127.0.0.1"
	}
	return pg.Upstream{Host: host, Port: l.cfg.Port}
}

// command prepares a PostgreSQL program (or, when abs is true, an
// arbitrary command) to run as the server's OS user with a clean libpq
// environment.
func (l *Local) command(ctx context.Context, prog string, args ...string) *exec.Cmd {
	path := prog
	if !filepath.IsAbs(prog) {
		path = filepath.Join(l.cfg.BinDir, prog)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = "/"
	env := []string{"LC_ALL=C", "LANG=C"}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PG") || k == "HOME" || k == "LC_ALL" || k == "LANG" {
			continue
		}
		env = append(env, kv)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if l.runAs {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: l.uid, Gid: l.gid}
		env = append(env, "HOME="+l.home)
	} else if h, err := os.UserHomeDir(); err == nil {
		env = append(env, "HOME="+h)
	}
	cmd.Env = env
	return cmd
}

// run runs a program to completion and returns its combined output. A
// failure carries the output's tail.
func (l *Local) run(ctx context.Context, extraEnv []string, prog string, args ...string) (string, error) {
	cmd := l.command(ctx, prog, args...)
	cmd.Env = append(cmd.Env, extraEnv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	l.log.Debug("pg: running", "program", filepath.Base(prog), "args", redactArgs(args))
	err := cmd.Run()
	s := out.String()
	if err != nil {
		err = fmt.Errorf("%s: %w: %s", filepath.Base(prog), err, tail(s, 2000))
		if isAuthFailure(s) {
			err = fmt.Errorf("%w: %w", pg.ErrAuthFailed, err)
		}
	}
	return s, err
}

// redactArgs hides anything that looks like a password in logged arguments.
func redactArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.Contains(a, "password") {
			a = "<redacted>"
		}
		out[i] = a
	}
	return out
}

func isAuthFailure(output string) bool {
	return strings.Contains(output, "password authentication failed") ||
		strings.Contains(output, "no password supplied") ||
		strings.Contains(output, "no pg_hba.conf entry")
}

// tail returns the last n bytes of s, trimmed.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return s
}

// chown gives path to the server's OS user when running as root.
func (l *Local) chown(path string) error {
	if !l.runAs {
		return nil
	}
	return os.Chown(path, int(l.uid), int(l.gid))
}

// writeFile writes a file inside the data directory atomically, readable
// only by the server's OS user.
func (l *Local) writeFile(name string, data []byte) error {
	path := filepath.Join(l.cfg.DataDir, name)
	tmp := path + ".pgha-tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("pg: write %s: %w", path, err)
	}
	if err := l.chown(tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("pg: chown %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("pg: write %s: %w", path, err)
	}
	return nil
}

// ensureDir creates dir (and missing parents, traversable) owned by the
// server's OS user with the given mode.
func (l *Local) ensureDir(dir string, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("pg: create %s: %w", filepath.Dir(dir), err)
	}
	if err := os.Mkdir(dir, mode); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("pg: create %s: %w", dir, err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		return fmt.Errorf("pg: chmod %s: %w", dir, err)
	}
	if err := l.chown(dir); err != nil {
		return fmt.Errorf("pg: chown %s: %w", dir, err)
	}
	return nil
}

// dataDirEmpty reports whether the data directory is missing or empty.
func (l *Local) dataDirEmpty() (bool, error) {
	entries, err := os.ReadDir(l.cfg.DataDir)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("pg: read data directory: %w", err)
	}
	return len(entries) == 0, nil
}

// initialized reports whether the data directory holds a cluster.
func (l *Local) initialized() bool {
	_, err := os.Stat(filepath.Join(l.cfg.DataDir, "PG_VERSION"))
	return err == nil
}

// removeContents deletes everything inside the data directory, keeping
// the directory itself (and its ownership and mode).
func (l *Local) removeContents() error {
	entries, err := os.ReadDir(l.cfg.DataDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pg: read data directory: %w", err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(l.cfg.DataDir, e.Name())); err != nil {
			return fmt.Errorf("pg: remove data: %w", err)
		}
	}
	return nil
}

// RemoveData deletes the contents of the data directory. The server must
// be stopped.
func (l *Local) RemoveData(ctx context.Context) error {
	l.lockOp()
	defer l.op.Unlock()
	if s := l.State(); s == pg.StateRunning || s == pg.StateStarting || s == pg.StateStopping {
		return fmt.Errorf("pg: remove data: %w", pg.ErrAlreadyRunning)
	}
	l.log.Warn("pg: removing data directory contents", "datadir", l.cfg.DataDir)
	return l.removeContents()
}

// writeConfig (re)writes pgha.conf and pgha_hba.conf and makes sure
// postgresql.conf includes pgha.conf.
func (l *Local) writeConfig() error {
	return l.writeConfigAs(l.hasStandbySignal())
}

// hasStandbySignal reports whether the data directory has standby.signal:
// the server starts (or runs) as a replica.
func (l *Local) hasStandbySignal() bool {
	_, err := os.Stat(filepath.Join(l.cfg.DataDir, "standby.signal"))
	return err == nil
}

// writeConfigAs is writeConfig with the recovery settings
// (Config.RecoveryConf) written when standby is set.
func (l *Local) writeConfigAs(standby bool) error {
	l.mu.Lock()
	st, cc, local := l.conf, l.cluster, l.local
	l.mu.Unlock()
	st.standby = standby
	if err := l.writeFile(pghaConfFile, renderConf(l.cfg, local, cc, st)); err != nil {
		return err
	}
	hba, ident := renderHBA(l.cfg, cc), renderIdent(cc)
	if st.bootstrapPeer != "" {
		hba, ident = withBootstrapPeer(hba, ident, st.bootstrapPeer, l.cfg.Superuser.Username)
	}
	if err := l.writeFile(pghaHBAFile, hba); err != nil {
		return err
	}
	if err := l.writeFile(pghaIdentFile, ident); err != nil {
		return err
	}
	return l.ensureInclude()
}

// ensureInclude appends the include line to postgresql.conf once, leaving
// the rest of the user's file as it is.
func (l *Local) ensureInclude() error {
	path := filepath.Join(l.cfg.DataDir, "postgresql.conf")
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return l.writeFile("postgresql.conf", []byte(includeLine+"\n"))
	}
	if err != nil {
		return fmt.Errorf("pg: read postgresql.conf: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == includeLine {
			return nil
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("pg: open postgresql.conf: %w", err)
	}
	defer f.Close()
	prefix := ""
	if len(data) > 0 && data[len(data)-1] != '\n' {
		prefix = "\n"
	}
	if _, err := f.WriteString(prefix + includeLine + "\n"); err != nil {
		return fmt.Errorf("pg: append to postgresql.conf: %w", err)
	}
	return nil
}

// setStandbySignal creates or removes standby.signal.
func (l *Local) setStandbySignal(on bool) error {
	path := filepath.Join(l.cfg.DataDir, "standby.signal")
	if on {
		return l.writeFile("standby.signal", nil)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pg: remove standby.signal: %w", err)
	}
	return nil
}
