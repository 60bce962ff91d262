package localcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/dcs/etcd"
	"github.com/pgha/pgha/haproxycfg"
)

// Cluster is a running local cluster. Its methods are safe for concurrent
// use; Close ends everything.
type Cluster struct {
	opts Options
	log  *slog.Logger
	dir  string
	uid  int
	gid  int

	apiUser, apiPassword         string
	pgUser, pgPassword           string
	replPassword, rewindPassword string

	etcd *Etcd
	// sharedEtcd: etcd is Options.SharedFrom's, not closed here.
	sharedEtcd bool
	store      *etcd.Store
	nodes      []*Node
	haproxy    *haproxycfg.Process
	haproxyLog *os.File
	rwPort     int
	roPort     int

	// http talks to the agents' REST APIs (no proxy from the environment).
	http *http.Client

	closeOnce sync.Once
	closeErr  error
}

// Start starts etcd, writes every node's configuration, starts the agents
// and HAProxy, and returns without waiting for the cluster to be healthy
// (see [Cluster.WaitHealthy]). On error everything started is stopped.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Cluster{opts: o, log: o.Logger, uid: -1, gid: -1,
		apiUser: "admin", apiPassword: secret(), pgUser: "postgres", pgPassword: secret(),
		replPassword: secret(), rewindPassword: secret(),
		http: &http.Client{Transport: &http.Transport{Proxy: nil}}}
	defer func() {
		if err != nil {
			_ = c.Close()
		}
	}()
	if err := c.makeDir(); err != nil {
		return nil, err
	}
	// Marks the agents, and the fence keepers they start, as this
	// cluster's (FenceKeepers).
	c.opts.AgentEnv = append(slices.Clip(c.opts.AgentEnv), clusterEnv+"="+c.dir)
	if from := o.SharedFrom; from != nil {
		c.etcd, c.sharedEtcd = from.etcd, true
		c.pgPassword, c.replPassword, c.rewindPassword = from.pgPassword, from.replPassword, from.rewindPassword
	} else {
		c.log.Info("localcluster: starting etcd", "members", o.EtcdMembers, "dir", c.dir)
		if c.etcd, err = startEtcd(ctx, filepath.Join(c.dir, "etcd"), o.EtcdMembers,
			etcdTimings{heartbeat: o.EtcdHeartbeat, election: o.EtcdElection}); err != nil {
			return nil, err
		}
	}
	hb, el := c.etcd.RaftTimings()
	c.log.Info("localcluster: etcd started", "heartbeat", hb, "election_timeout", el)
	c.store, err = etcd.New(etcd.Config{Endpoints: c.etcd.Endpoints(), Namespace: "/service/", Scope: o.Scope,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, fmt.Errorf("localcluster: DCS client: %w", err)
	}
	ports, err := freePorts(2*o.Nodes + 2)
	if err != nil {
		return nil, err
	}
	c.rwPort, c.roPort = ports[2*o.Nodes], ports[2*o.Nodes+1]
	for i := range o.Nodes {
		name := "node" + strconv.Itoa(i+1)
		dir := filepath.Join(c.dir, name)
		n := &Node{c: c, name: name, index: i, apiPort: ports[2*i], pgPort: ports[2*i+1], dir: dir,
			dataDir: filepath.Join(dir, "data"), cfgPath: filepath.Join(dir, "pgha.yml"), logPath: filepath.Join(dir, "agent.log")}
		if err := c.mkdirOwned(dir); err != nil {
			return nil, err
		}
		if err := c.writeConfig(n); err != nil {
			return nil, err
		}
		c.nodes = append(c.nodes, n)
	}
	if !o.NoHAProxy {
		if err := c.startHAProxy(ctx); err != nil {
			return nil, err
		}
	}
	for _, n := range c.nodes {
		c.log.Info("localcluster: starting agent", "node", n.name, "api", n.APIURL(), "pg_port", n.pgPort, "log", n.logPath)
		if err := n.start(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// secret returns a random password.
func secret() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// makeDir creates (or adopts) the work directory. As root it is made
// traversable for PostgreSQL's OS user, whose data directories live in it.
func (c *Cluster) makeDir() error {
	if os.Geteuid() == 0 {
		u, err := user.Lookup(c.opts.RunAsUser)
		if err != nil {
			return fmt.Errorf("%w: RunAsUser: %v (PostgreSQL refuses to run as root)", ErrInvalidOptions, err)
		}
		c.uid, _ = strconv.Atoi(u.Uid)
		c.gid, _ = strconv.Atoi(u.Gid)
	}
	if c.opts.Dir != "" {
		c.dir = c.opts.Dir
		if err := os.MkdirAll(c.dir, 0o755); err != nil {
			return fmt.Errorf("localcluster: %w", err)
		}
	} else {
		d, err := os.MkdirTemp("/tmp", "pgha-local-")
		if err != nil {
			return fmt.Errorf("localcluster: %w", err)
		}
		c.dir = d
	}
	// Others may traverse (not list) it: PostgreSQL reaches its data
	// directory below.
	if err := os.Chmod(c.dir, 0o711); err != nil {
		return fmt.Errorf("localcluster: %w", err)
	}
	return nil
}

// mkdirOwned creates dir owned by PostgreSQL's OS user (data directory
// parent and socket directory).
func (c *Cluster) mkdirOwned(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("localcluster: %w", err)
	}
	if c.uid >= 0 {
		if err := os.Chown(dir, c.uid, c.gid); err != nil {
			return fmt.Errorf("localcluster: %w", err)
		}
	}
	return nil
}

// Dir is the work directory.
func (c *Cluster) Dir() string { return c.dir }

// AgentBin is the pgha-agent binary the nodes run.
func (c *Cluster) AgentBin() string { return c.opts.AgentBin }

// Scope is the cluster name.
func (c *Cluster) Scope() string { return c.opts.Scope }

// Etcd is the embedded etcd cluster.
func (c *Cluster) Etcd() *Etcd { return c.etcd }

// Store is a DCS client scoped to the cluster (owned by the Cluster).
func (c *Cluster) Store() dcs.Store { return c.store }

// Nodes returns the nodes in index order.
func (c *Cluster) Nodes() []*Node { return append([]*Node(nil), c.nodes...) }

// Node returns the node of that name, or nil.
func (c *Cluster) Node(name string) *Node {
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

func (c *Cluster) node(name string) (*Node, error) {
	if n := c.Node(name); n != nil {
		return n, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownNode, name)
}

// Credentials are PostgreSQL's superuser name and password.
func (c *Cluster) Credentials() (user, password string) { return c.pgUser, c.pgPassword }

// APIAuth are the REST API's basic-auth credentials.
func (c *Cluster) APIAuth() (user, password string) { return c.apiUser, c.apiPassword }

// ReadWriteAddr is HAProxy's read-write listener ("" without HAProxy).
func (c *Cluster) ReadWriteAddr() string {
	if c.opts.NoHAProxy {
		return ""
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.rwPort))
}

// ReadOnlyAddr is HAProxy's read-only listener ("" without HAProxy).
func (c *Cluster) ReadOnlyAddr() string {
	if c.opts.NoHAProxy {
		return ""
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.roPort))
}

// dsn is a superuser connection string to addr.
func (c *Cluster) dsn(addr string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(c.pgUser, c.pgPassword), Host: addr, Path: "/postgres",
		RawQuery: "sslmode=disable&connect_timeout=2&application_name=localcluster"}
	return u.String()
}

// ReadWriteDSN connects through HAProxy's read-write listener.
func (c *Cluster) ReadWriteDSN() string { return c.dsn(c.ReadWriteAddr()) }

// ReadOnlyDSN connects through HAProxy's read-only listener.
func (c *Cluster) ReadOnlyDSN() string { return c.dsn(c.ReadOnlyAddr()) }

// NodeDSN connects to that node's PostgreSQL directly ("" for an unknown
// node).
func (c *Cluster) NodeDSN(name string) string {
	n := c.Node(name)
	if n == nil {
		return ""
	}
	return c.dsn(n.pgAddr())
}

// Close stops everything: the agents (SIGKILL, so that none restarts
// PostgreSQL; a frozen one too), the postmasters (immediate shutdown, then
// SIGKILL of their process groups), the agents' fence keepers (SIGKILL:
// nothing is left to fence), any program still working in the directory
// (initdb, pg_basebackup), HAProxy and etcd; then it removes the work
// directory unless KeepDir. It is idempotent.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.close() })
	return c.closeErr
}

func (c *Cluster) close() error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for _, n := range c.nodes {
		wg.Go(func() {
			if done, err := n.signal(syscall.SIGKILL); err == nil {
				<-done
			}
			if err := n.stopPostmaster(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := c.stopFenceKeepers(); err != nil {
		errs = append(errs, err)
	}
	if c.dir != "" {
		if err := killStragglers(c.dir); err != nil {
			errs = append(errs, err)
		}
	}
	if c.haproxy != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := c.haproxy.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
		cancel()
	}
	if c.haproxyLog != nil {
		_ = c.haproxyLog.Close()
	}
	c.http.CloseIdleConnections()
	if c.store != nil {
		_ = c.store.Close()
	}
	if c.etcd != nil && !c.sharedEtcd {
		c.etcd.Close()
	}
	if c.dir != "" && !c.opts.KeepDir {
		if err := os.RemoveAll(c.dir); err != nil {
			errs = append(errs, fmt.Errorf("localcluster: remove %s: %w", c.dir, err))
		}
	}
	c.log.Info("localcluster: stopped everything", "dir", c.dir, "kept", c.opts.KeepDir)
	return errors.Join(errs...)
}
