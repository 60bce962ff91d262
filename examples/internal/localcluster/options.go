package localcluster

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Options configure [Start]. Zero values take the defaults named.
type Options struct {
	// AgentBin is the pgha-agent binary (see [BuildAgent]). Required.
	AgentBin string
	// Nodes is the number of agents, named node1..nodeN; default 3.
	Nodes int
	// EtcdMembers is 1, 3 or 5; default 1.
	EtcdMembers int
	// EtcdHeartbeat and EtcdElection are the raft heartbeat interval and
	// election timeout of the embedded members; zero takes etcdembed's
	// (50 ms and 500 ms). [StockEtcdHeartbeat] and [StockEtcdElection] are
	// etcd's own defaults. etcd wants the election timeout to be at least
	// five heartbeats.
	EtcdHeartbeat time.Duration
	EtcdElection  time.Duration
	// Scope is the cluster name; default "pgha-local".
	Scope string
	// Dir is the work directory; "" creates a fresh one under /tmp that
	// PostgreSQL's OS user can traverse. Close removes it unless KeepDir.
	Dir     string
	KeepDir bool
	// PGBinDir holds the PostgreSQL programs; default
	// /usr/lib/postgresql/15/bin.
	PGBinDir string
	// HAProxyBin is the haproxy binary; default "haproxy" on PATH.
	HAProxyBin string
	// NoHAProxy starts no HAProxy (ReadWriteAddr is then "").
	NoHAProxy bool
	// RunAsUser is the OS user running PostgreSQL when this process is
	// root; default "postgres".
	RunAsUser string
	// DCS is merged into bootstrap.dcs of every node's configuration
	// (patroni.yml keys), e.g. {"primary_start_timeout": 15}. Defaults:
	// ttl 6, loop_wait 1, retry_timeout 2, primary_start_timeout pgha's
	// default (15 s), maximum_lag_on_failover 1 MiB, use_pg_rewind and use_slots on. The
	// merge is shallow: a "postgresql" key replaces that whole sub-map.
	DCS map[string]any
	// Customize, when set, may edit node i's configuration (the YAML
	// document as a map) before it is written.
	Customize func(i int, cfg map[string]any)
	// AgentEnv is extra environment for the agents ("KEY=value").
	AgentEnv []string
	// SharedFrom, when set, is another running cluster whose etcd this
	// one uses (under its own Scope, which must differ) and whose
	// PostgreSQL passwords it takes: a standby cluster of it, cloned from
	// its primary, has its roles. The shared etcd stays SharedFrom's to
	// close.
	SharedFrom *Cluster
	// Logger receives the orchestration's progress; default
	// slog.Default().
	Logger *slog.Logger
}

// Default PostgreSQL binaries (Debian's postgresql-15).
const DefaultPGBinDir = "/usr/lib/postgresql/15/bin"

// withDefaults fills defaults and checks what can be checked before
// anything starts.
func (o Options) withDefaults() (Options, error) {
	if o.AgentBin == "" {
		return o, fmt.Errorf("%w: AgentBin is required (see BuildAgent)", ErrInvalidOptions)
	}
	abs, err := filepath.Abs(o.AgentBin)
	if err != nil {
		return o, fmt.Errorf("%w: AgentBin: %v", ErrInvalidOptions, err)
	}
	o.AgentBin = abs
	if st, err := os.Stat(o.AgentBin); err != nil || st.IsDir() {
		return o, fmt.Errorf("%w: AgentBin %s is not a file", ErrInvalidOptions, o.AgentBin)
	}
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Nodes < 1 || o.Nodes > 9 {
		return o, fmt.Errorf("%w: Nodes must be 1..9, got %d", ErrInvalidOptions, o.Nodes)
	}
	if o.EtcdMembers == 0 {
		o.EtcdMembers = 1
	}
	if o.EtcdHeartbeat < 0 || o.EtcdElection < 0 {
		return o, fmt.Errorf("%w: EtcdHeartbeat and EtcdElection must not be negative", ErrInvalidOptions)
	}
	if o.Scope == "" {
		o.Scope = "pgha-local"
	}
	if o.SharedFrom != nil && o.SharedFrom.opts.Scope == o.Scope {
		return o, fmt.Errorf("%w: Scope %q is SharedFrom's: two clusters on one etcd need their own scopes", ErrInvalidOptions, o.Scope)
	}
	if o.PGBinDir == "" {
		o.PGBinDir = DefaultPGBinDir
	}
	if _, err := os.Stat(filepath.Join(o.PGBinDir, "postgres")); err != nil {
		return o, fmt.Errorf("%w: PostgreSQL not found in %s (install the Debian package postgresql-15): %v", ErrInvalidOptions, o.PGBinDir, err)
	}
	if !o.NoHAProxy {
		if o.HAProxyBin == "" {
			o.HAProxyBin = "haproxy"
		}
		bin, err := exec.LookPath(o.HAProxyBin)
		if err != nil && o.HAProxyBin == "haproxy" {
			bin, err = exec.LookPath("/usr/sbin/haproxy")
		}
		if err != nil {
			return o, fmt.Errorf("%w: haproxy not found (install the Debian package haproxy): %v", ErrInvalidOptions, err)
		}
		o.HAProxyBin = bin
	}
	if o.RunAsUser == "" {
		o.RunAsUser = "postgres"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}
