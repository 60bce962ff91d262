package localcluster

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/server/v3/embed"

	"github.com/pgha/pgha/internal/etcdembed"
)

// etcdReady bounds the wait for a started member to serve.
const etcdReady = 30 * time.Second

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
		srv, err := etcdembed.Start(m.spec(), cluster, e.token)
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
	etcdembed.HardStop(srv)
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
	srv, err := etcdembed.Start(m.spec(), etcdembed.InitialCluster([]etcdembed.Member{m.spec()}), e.token)
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
