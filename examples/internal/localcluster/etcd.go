package localcluster

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Raft timings: elections take about a second, yet a loaded 2-core
// machine does not see spurious ones.
const (
	etcdTick     = 50 * time.Millisecond
	etcdElection = 500 * time.Millisecond
	etcdReady    = 30 * time.Second
)

// Etcd is an embedded etcd cluster on loopback. Its methods are safe for
// concurrent use.
type Etcd struct {
	token   string
	members []*etcdMember
	mu      sync.Mutex
}

type etcdMember struct {
	name      string
	dir       string
	clientURL string
	peerURL   string
	id        string
	etcd      *embed.Etcd // nil while stopped
}

// startEtcd starts n members with data under dir and waits for a leader.
func startEtcd(ctx context.Context, dir string, n int) (*Etcd, error) {
	if n != 1 && n != 3 && n != 5 {
		return nil, fmt.Errorf("%w: EtcdMembers must be 1, 3 or 5, got %d", ErrInvalidOptions, n)
	}
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	e := &Etcd{token: "pgha-local-" + strconv.FormatInt(time.Now().UnixNano(), 36)}
	initial := make([]string, 0, n)
	for i := range n {
		m := &etcdMember{
			name:      "etcd" + strconv.Itoa(i),
			dir:       filepath.Join(dir, "etcd"+strconv.Itoa(i)),
			clientURL: "http://127.0.0.1:" + strconv.Itoa(ports[2*i]),
			peerURL:   "http://127.0.0.1:" + strconv.Itoa(ports[2*i+1]),
		}
		e.members = append(e.members, m)
		initial = append(initial, m.name+"="+m.peerURL)
	}
	cluster := strings.Join(initial, ",")
	for _, m := range e.members {
		srv, err := embed.StartEtcd(e.config(m, cluster))
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("localcluster: start etcd member %s: %w", m.name, err)
		}
		e.mu.Lock()
		m.etcd = srv
		m.id = srv.Server.MemberID().String()
		e.mu.Unlock()
	}
	for _, m := range e.members {
		if err := waitReady(ctx, m.etcd); err != nil {
			e.Close()
			return nil, fmt.Errorf("localcluster: etcd member %s: %w", m.name, err)
		}
	}
	if _, err := e.WaitLeader(ctx); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// config is rebuilt for every start: embed keeps state in it.
func (e *Etcd) config(m *etcdMember, initialCluster string) *embed.Config {
	cfg := embed.NewConfig()
	cfg.Name = m.name
	cfg.Dir = m.dir
	cfg.TickMs = uint(etcdTick / time.Millisecond)
	cfg.ElectionMs = uint(etcdElection / time.Millisecond)
	u := func(s string) []url.URL { p, _ := url.Parse(s); return []url.URL{*p} }
	cfg.ListenClientUrls = u(m.clientURL)
	cfg.AdvertiseClientUrls = u(m.clientURL)
	cfg.ListenPeerUrls = u(m.peerURL)
	cfg.AdvertisePeerUrls = u(m.peerURL)
	cfg.InitialCluster = initialCluster
	cfg.InitialClusterToken = e.token
	cfg.ClusterState = embed.ClusterStateFlagNew // ignored once the data dir exists
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	return cfg
}

func waitReady(ctx context.Context, srv *embed.Etcd) error {
	t := time.NewTimer(etcdReady)
	defer t.Stop()
	select {
	case <-srv.Server.ReadyNotify():
		return nil
	case <-srv.Server.StopNotify():
		return fmt.Errorf("server stopped before becoming ready")
	case <-t.C:
		return fmt.Errorf("not ready after %v", etcdReady)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Size is the number of members, running or not.
func (e *Etcd) Size() int { return len(e.members) }

// Endpoints returns the client URLs of every member, running or not (the
// agents are configured with all of them).
func (e *Etcd) Endpoints() []string {
	out := make([]string, 0, len(e.members))
	for _, m := range e.members {
		out = append(out, m.clientURL)
	}
	return out
}

// hosts returns host:port of every member, for etcd3.hosts.
func (e *Etcd) hosts() []string {
	out := make([]string, 0, len(e.members))
	for _, m := range e.members {
		out = append(out, strings.TrimPrefix(m.clientURL, "http://"))
	}
	return out
}

func (e *Etcd) member(i int) (*etcdMember, error) {
	if i < 0 || i >= len(e.members) {
		return nil, fmt.Errorf("%w: etcd member %d (have %d)", ErrUnknownNode, i, len(e.members))
	}
	return e.members[i], nil
}

// Running reports whether member i runs.
func (e *Etcd) Running(i int) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return i >= 0 && i < len(e.members) && e.members[i].etcd != nil
}

// Kill stops member i abruptly (raft HardStop: no leadership transfer),
// keeping its data directory.
func (e *Etcd) Kill(i int) error {
	m, err := e.member(i)
	if err != nil {
		return err
	}
	e.mu.Lock()
	srv := m.etcd
	m.etcd = nil
	e.mu.Unlock()
	if srv == nil {
		return fmt.Errorf("%w: etcd member %d", ErrNotRunning, i)
	}
	srv.Server.HardStop()
	srv.Close()
	return nil
}

// Restart starts stopped member i again with the same data and ports, and
// waits until it serves (when a quorum runs).
func (e *Etcd) Restart(ctx context.Context, i int) error {
	m, err := e.member(i)
	if err != nil {
		return err
	}
	e.mu.Lock()
	if m.etcd != nil {
		e.mu.Unlock()
		return fmt.Errorf("localcluster: etcd member %d is running", i)
	}
	running := 1
	for _, o := range e.members {
		if o != m && o.etcd != nil {
			running++
		}
	}
	e.mu.Unlock()
	srv, err := embed.StartEtcd(e.config(m, m.name+"="+m.peerURL))
	if err != nil {
		return fmt.Errorf("localcluster: restart etcd member %d: %w", i, err)
	}
	e.mu.Lock()
	m.etcd = srv
	e.mu.Unlock()
	if running > len(e.members)/2 {
		return waitReady(ctx, srv)
	}
	return nil
}

// Leader returns the index of the raft leader the running members agree
// on, or an error when they do not (yet).
func (e *Etcd) Leader() (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	byID := map[string]int{}
	var seen []string
	for i, m := range e.members {
		if m.etcd == nil {
			continue
		}
		byID[m.id] = i
		seen = append(seen, m.etcd.Server.Leader().String())
	}
	if len(seen) == 0 {
		return -1, fmt.Errorf("localcluster: no etcd member runs")
	}
	for _, l := range seen[1:] {
		if l != seen[0] {
			return -1, fmt.Errorf("localcluster: etcd members disagree on the leader: %v", seen)
		}
	}
	i, ok := byID[seen[0]]
	if !ok {
		return -1, fmt.Errorf("localcluster: etcd leader %s is not a running member", seen[0])
	}
	return i, nil
}

// WaitLeader waits until the running members agree on a leader.
func (e *Etcd) WaitLeader(ctx context.Context) (int, error) {
	var i int
	err := poll(ctx, 30*time.Second, 50*time.Millisecond, func() error {
		var err error
		i, err = e.Leader()
		return err
	})
	return i, err
}

// Close hard-stops every running member.
func (e *Etcd) Close() {
	e.mu.Lock()
	var running []*embed.Etcd
	for _, m := range e.members {
		if m.etcd != nil {
			running = append(running, m.etcd)
			m.etcd = nil
		}
	}
	e.mu.Unlock()
	var wg sync.WaitGroup
	for _, srv := range running {
		wg.Go(func() {
			srv.Server.HardStop()
			srv.Close()
		})
	}
	wg.Wait()
}
