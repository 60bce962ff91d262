package localcluster

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/pgha/pgha/internal/etcdembed"
)

// etcdReady bounds the wait for a started member to serve.
const etcdReady = 30 * time.Second

// etcd's own default raft timings (--heartbeat-interval 100,
// --election-timeout 1000), which stock etcd members run with. The fault
// tests of a member or leader loss use them: etcdembed's shorter timings
// (50 ms / 500 ms) make elections twice as fast and hide what a
// deployment sees.
const (
	StockEtcdHeartbeat = 100 * time.Millisecond
	StockEtcdElection  = 1000 * time.Millisecond
)

// Etcd is an embedded etcd cluster on loopback. Its methods are safe for
// concurrent use.
type Etcd struct {
	token   string
	members []*etcdMember
	// heartbeat and election are the members' raft timings.
	heartbeat, election time.Duration
	mu                  sync.Mutex
}

type etcdMember struct {
	name      string
	dir       string
	clientURL string
	peerURL   string
	etcd      *embed.Etcd // nil while stopped
}

// etcdTimings are the raft timings of the embedded members; zero fields
// take etcdembed's.
type etcdTimings struct {
	heartbeat, election time.Duration
}

// startEtcd starts n members with data under dir and waits for a leader.
func startEtcd(ctx context.Context, dir string, n int, tm etcdTimings) (*Etcd, error) {
	if n != 1 && n != 3 && n != 5 {
		return nil, fmt.Errorf("%w: EtcdMembers must be 1, 3 or 5, got %d", ErrInvalidOptions, n)
	}
	if tm.heartbeat == 0 {
		tm.heartbeat = etcdembed.Heartbeat
	}
	if tm.election == 0 {
		tm.election = etcdembed.Election
	}
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	e := &Etcd{token: "pgha-local-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		heartbeat: tm.heartbeat, election: tm.election}
	specs := make([]etcdembed.Member, 0, n)
	for i := range n {
		m := &etcdMember{
			name:      "etcd" + strconv.Itoa(i),
			dir:       filepath.Join(dir, "etcd"+strconv.Itoa(i)),
			clientURL: etcdembed.LoopbackURL(ports[2*i]),
			peerURL:   etcdembed.LoopbackURL(ports[2*i+1]),
		}
		e.members = append(e.members, m)
		specs = append(specs, m.spec())
	}
	cluster := etcdembed.InitialCluster(specs)
	for _, m := range e.members {
		srv, err := e.start(m, cluster)
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("localcluster: %w", err)
		}
		e.mu.Lock()
		m.etcd = srv
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

// start starts member m (joining or, with its data directory, rejoining
// cluster) with etcdembed's configuration and e's raft timings.
func (e *Etcd) start(m *etcdMember, cluster string) (*embed.Etcd, error) {
	cfg, err := etcdembed.Config(m.spec(), cluster, e.token)
	if err != nil {
		return nil, err
	}
	cfg.TickMs = uint(e.heartbeat / time.Millisecond)
	cfg.ElectionMs = uint(e.election / time.Millisecond)
	if e.heartbeat == StockEtcdHeartbeat && e.election == StockEtcdElection {
		// etcd 3.4, which production clusters and issue 13's measurements
		// run, has pre-vote off by default; the embedded 3.5+ server has it
		// on. Off, a rejoining member may disrupt the leader with a higher
		// term: the harsher case.
		cfg.PreVote = false
	}
	srv, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcd member %s: %w", m.name, err)
	}
	return srv, nil
}

// RaftTimings returns the members' heartbeat interval and election
// timeout.
func (e *Etcd) RaftTimings() (heartbeat, election time.Duration) { return e.heartbeat, e.election }

// spec describes m for etcdembed.
func (m *etcdMember) spec() etcdembed.Member {
	return etcdembed.Member{Name: m.name, Dir: m.dir, ClientURL: m.clientURL, PeerURL: m.peerURL}
}

func waitReady(ctx context.Context, srv *embed.Etcd) error {
	return etcdembed.WaitReady(ctx, srv, etcdReady)
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

// Kill stops member i abruptly, as a SIGKILL of its process would, keeping
// its data directory: the sockets of its client and peer ports (the
// listeners and every connection they accepted) are shut down first, so
// clients and peers read end-of-file at once and new connections are
// refused, then raft stops
// without a leadership transfer (HardStop) and the rest of the server
// closes. Without the first step an embedded member's gRPC server would
// drain gracefully, keeping its clients' watch streams open for up to
// etcd's request timeout (5 s + 2 election timeouts) on a member whose
// raft has stopped, which no crashed process does.
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
	var errs []error
	for _, u := range []string{m.clientURL, m.peerURL} {
		port, err := urlPort(u)
		if err == nil {
			_, err = shutdownPort(port)
		}
		errs = append(errs, err)
	}
	etcdembed.HardStop(srv)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("localcluster: kill etcd member %d: cut its connections: %w", i, err)
	}
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
	srv, err := e.start(m, etcdembed.InitialCluster([]etcdembed.Member{m.spec()}))
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
	var idx []int
	var running []*embed.Etcd
	for i, m := range e.members {
		if m.etcd != nil {
			idx = append(idx, i)
			running = append(running, m.etcd)
		}
	}
	l, err := etcdembed.Leader(running)
	if err != nil {
		return -1, fmt.Errorf("localcluster: etcd: %w", err)
	}
	return idx[l], nil
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

// MoveLeader makes member i etcd's raft leader with etcd's MoveLeader API
// (clientv3's Maintenance, sent to the current leader: only the leader
// can transfer its leadership) and waits until every running member
// agrees on i. It does nothing when i already leads.
func (e *Etcd) MoveLeader(ctx context.Context, i int) error {
	m, err := e.member(i)
	if err != nil {
		return err
	}
	e.mu.Lock()
	target := m.etcd
	e.mu.Unlock()
	if target == nil {
		return fmt.Errorf("%w: etcd member %d", ErrNotRunning, i)
	}
	lead, err := e.WaitLeader(ctx)
	if err != nil {
		return err
	}
	if lead == i {
		return nil
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: []string{e.members[lead].clientURL}, DialTimeout: 2 * time.Second, Logger: zap.NewNop(),
	})
	if err != nil {
		return fmt.Errorf("localcluster: etcd client of member %d: %w", lead, err)
	}
	defer cli.Close()
	mctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.MoveLeader(mctx, uint64(target.Server.MemberID())); err != nil {
		return fmt.Errorf("localcluster: move etcd leadership from member %d to %d: %w", lead, i, err)
	}
	return poll(ctx, etcdReady, 10*time.Millisecond, func() error {
		l, err := e.Leader()
		if err != nil {
			return err
		}
		if l != i {
			return fmt.Errorf("etcd leader is member %d, want %d", l, i)
		}
		return nil
	})
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
	etcdembed.HardStopAll(running)
}
