package testutil

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/pgha/pgha/internal/etcdembed"
)

// Raft timings of the embedded cluster: fast, so that elections in tests
// take about a second, yet slow enough for a loaded 2-core CI machine.
const (
	EtcdHeartbeat = etcdembed.Heartbeat
	EtcdElection  = etcdembed.Election
)

// Timeouts of the harness's own waits.
const (
	etcdReadyTimeout  = 20 * time.Second
	etcdLeaderTimeout = 20 * time.Second
	etcdCloseTimeout  = 30 * time.Second
	maxEtcdMembers    = 7
)

// EtcdCluster is an embedded etcd cluster (go.etcd.io/etcd/server/v3/embed)
// on loopback. Every member sits behind two fault proxies: a TCP Proxy in
// front of its client port (Endpoint returns the proxy's URL, and the member
// advertises it) and an HTTP peer proxy in front of its peer port (the
// member advertises that proxy as its peer URL), which is how Kill, Stop and
// Isolate act on the network.
//
// Its methods are safe for concurrent use, but a test should not run two
// lifecycle operations (Stop, Kill, Restart, Isolate, Heal) on the same
// member at once.
type EtcdCluster struct {
	token   string
	members []*etcdMember

	mu sync.Mutex // guards the etcd and isolated fields of members
}

// etcdMember is one member and its proxies. Ports and directories stay the
// same for the member's whole life so that Restart reuses them.
type etcdMember struct {
	name        string
	dir         string
	clientURL   string // the member's real client listener
	peerURL     string // the member's real peer listener
	clientProxy *Proxy
	peerProxy   *peerProxy
	id          string // raft member ID in hex, as in X-Server-From

	etcd     *embed.Etcd // nil while stopped
	isolated bool
}

// StartEtcd starts an etcd cluster of members members (1 or 3 normally; up
// to 7 accepted) and waits until it has a leader. Data directories are under
// t.TempDir(); everything is stopped by t.Cleanup. Logs are discarded.
func StartEtcd(t testing.TB, members int) *EtcdCluster {
	t.Helper()
	if members < 1 || members > maxEtcdMembers {
		t.Fatalf("testutil.StartEtcd: members must be 1..%d (normally 1 or 3), got %d", maxEtcdMembers, members)
	}
	c := &EtcdCluster{token: randomToken()}
	base := t.TempDir()
	for i := range members {
		ports := FreePorts(t, 2)
		m := &etcdMember{
			name:      "m" + strconv.Itoa(i),
			dir:       filepath.Join(base, "m"+strconv.Itoa(i)),
			clientURL: etcdembed.LoopbackURL(ports[0]),
			peerURL:   etcdembed.LoopbackURL(ports[1]),
		}
		m.clientProxy = NewProxy(t, strings.TrimPrefix(m.clientURL, "http://"))
		m.peerProxy = newPeerProxy(t, strings.TrimPrefix(m.peerURL, "http://"))
		c.members = append(c.members, m)
	}
	// Registered after the proxies and temp dir, so it runs before them.
	t.Cleanup(c.closeAll)

	specs := make([]etcdembed.Member, 0, members)
	for _, m := range c.members {
		specs = append(specs, m.spec())
	}
	initial := etcdembed.InitialCluster(specs)
	for _, m := range c.members {
		e, err := etcdembed.Start(m.spec(), initial, c.token)
		if err != nil {
			t.Fatalf("testutil.StartEtcd: %v", err)
		}
		c.mu.Lock()
		m.etcd = e
		m.id = e.Server.MemberID().String()
		c.mu.Unlock()
	}
	for _, m := range c.members {
		if err := waitReady(m.etcd); err != nil {
			t.Fatalf("testutil.StartEtcd: member %s: %v", m.name, err)
		}
	}
	c.WaitLeader(t)
	return c
}

// spec describes m for etcdembed: it listens on its real ports and
// advertises its proxies.
func (m *etcdMember) spec() etcdembed.Member {
	return etcdembed.Member{
		Name:               m.name,
		Dir:                m.dir,
		ClientURL:          m.clientURL,
		PeerURL:            m.peerURL,
		AdvertiseClientURL: m.clientProxy.URL(),
		AdvertisePeerURL:   m.peerProxy.url(),
	}
}

// waitReady waits until e serves clients (it has joined a cluster with a
// leader).
func waitReady(e *embed.Etcd) error {
	return etcdembed.WaitReady(context.Background(), e, etcdReadyTimeout)
}

// Size is the number of members, running or not.
func (c *EtcdCluster) Size() int { return len(c.members) }

// Endpoints returns the client URLs ("http://127.0.0.1:port") of the running
// members.
func (c *EtcdCluster) Endpoints() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var eps []string
	for _, m := range c.members {
		if m.etcd != nil {
			eps = append(eps, m.clientProxy.URL())
		}
	}
	return eps
}

// AllEndpoints returns the client URLs of every member, running or not.
func (c *EtcdCluster) AllEndpoints() []string {
	eps := make([]string, 0, len(c.members))
	for _, m := range c.members {
		eps = append(eps, m.clientProxy.URL())
	}
	return eps
}

// Endpoint returns the client URL of member i (through its client proxy).
func (c *EtcdCluster) Endpoint(i int) string {
	return c.members[c.index(i)].clientProxy.URL()
}

// ClientProxy returns the fault proxy in front of member i's client port, for
// tests that want to fault client traffic only.
func (c *EtcdCluster) ClientProxy(i int) *Proxy {
	return c.members[c.index(i)].clientProxy
}

// Client returns a client over the endpoints of all members (so it survives
// restarts); it is closed by t.Cleanup.
func (c *EtcdCluster) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	return c.ClientFor(t, c.AllEndpoints()...)
}

// ClientFor returns a client over the given endpoints; it is closed by
// t.Cleanup.
func (c *EtcdCluster) ClientFor(t testing.TB, endpoints ...string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("testutil: etcd client for %v: %v", endpoints, err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// WaitLeader waits until the running members that are not isolated agree on
// a leader that is one of them, and returns its index.
func (c *EtcdCluster) WaitLeader(t testing.TB) int {
	t.Helper()
	leader := -1
	Eventually(t, etcdLeaderTimeout, func() error {
		i, err := c.leader()
		leader = i
		return err
	}, "testutil: etcd leader")
	return leader
}

// leader returns the index of the leader the reachable running members agree
// on.
func (c *EtcdCluster) leader() (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var idx []int
	var running []*embed.Etcd
	for i, m := range c.members {
		if m.etcd == nil || m.isolated {
			continue
		}
		idx = append(idx, i)
		running = append(running, m.etcd)
	}
	l, err := etcdembed.Leader(running)
	if err != nil {
		return -1, err
	}
	return idx[l], nil
}

// Stop stops member i gracefully: its client connections are cut (clients
// fail over to other members, as on a server's GOAWAY), an etcd leader hands
// leadership to a peer, and the server shuts down. Its data dir is kept.
func (c *EtcdCluster) Stop(t testing.TB, i int) {
	t.Helper()
	m := c.takeRunning(t, "Stop", i)
	m.clientProxy.Refuse()
	m.clientProxy.CutConnections()
	if err := closeWithin(m.etcd.Close, etcdCloseTimeout); err != nil {
		t.Fatalf("testutil: Stop member %d: %v", i, err)
	}
	m.peerProxy.setDown(true)
	c.setStopped(m)
}

// Kill stops member i abruptly, as close to a crash as an in-process server
// gets: its client and peer connections are reset, then raft is stopped with
// EtcdServer.HardStop (no leadership transfer, nothing sent to peers) before
// the rest of the server is closed. Its data dir is kept.
func (c *EtcdCluster) Kill(t testing.TB, i int) {
	t.Helper()
	m := c.takeRunning(t, "Kill", i)
	m.clientProxy.Refuse()
	m.clientProxy.CutConnections()
	m.peerProxy.setDown(true)
	if err := closeWithin(func() { etcdembed.HardStop(m.etcd) }, etcdCloseTimeout); err != nil {
		t.Fatalf("testutil: Kill member %d: %v", i, err)
	}
	c.setStopped(m)
}

// Restart starts stopped member i again with the same data dir, ports and
// member ID. It waits for the member to serve when a quorum of members is
// running and reachable (otherwise it cannot, and Restart returns once the
// server is started).
func (c *EtcdCluster) Restart(t testing.TB, i int) {
	t.Helper()
	i = c.check(t, i)
	m := c.members[i]
	c.mu.Lock()
	if m.etcd != nil {
		c.mu.Unlock()
		t.Fatalf("testutil: Restart member %d: it is running", i)
	}
	reachable := 1
	for _, o := range c.members {
		if o != m && o.etcd != nil && !o.isolated {
			reachable++
		}
	}
	wait := !m.isolated && reachable > len(c.members)/2
	c.mu.Unlock()

	m.peerProxy.setDown(false)
	m.clientProxy.Pass()
	// The initial cluster is ignored by a member restarting from its data dir.
	e, err := etcdembed.Start(m.spec(), etcdembed.InitialCluster([]etcdembed.Member{m.spec()}), c.token)
	if err != nil {
		t.Fatalf("testutil: Restart member %d: %v", i, err)
	}
	c.mu.Lock()
	m.etcd = e
	c.mu.Unlock()
	if wait {
		if err := waitReady(e); err != nil {
			t.Fatalf("testutil: Restart member %d: %v", i, err)
		}
	}
}

// Isolate cuts member i from its peers in both directions: every peer
// request to it, and every raft request from it (identified by etcd's
// X-Server-From header) to the others, is held without an answer, and such
// requests in flight are aborted. Client traffic to the member is untouched:
// it keeps accepting client connections, but cannot serve linearizable
// requests once it notices it has no leader. Peer requests that carry no
// sender (health probes, lease renewals forwarded by a follower) still leave
// the isolated member.
//
// With etcd's CheckQuorum an isolated leader steps down after an election
// timeout and the others elect a new leader; with PreVote (on by default) an
// isolated follower does not raise its term, so Heal lets it rejoin without
// disrupting the current leader.
func (c *EtcdCluster) Isolate(t testing.TB, i int) { c.setIsolated(t, i, true) }

// Heal undoes Isolate for member i; held requests are then forwarded.
func (c *EtcdCluster) Heal(t testing.TB, i int) { c.setIsolated(t, i, false) }

func (c *EtcdCluster) setIsolated(t testing.TB, i int, isolated bool) {
	t.Helper()
	i = c.check(t, i)
	m := c.members[i]
	c.mu.Lock()
	m.isolated = isolated
	id := m.id
	c.mu.Unlock()
	m.peerProxy.setIsolated(isolated)
	for _, o := range c.members {
		if o != m {
			o.peerProxy.setBlockedFrom(id, isolated)
		}
	}
}

// takeRunning returns member i, failing the test if it is not running.
func (c *EtcdCluster) takeRunning(t testing.TB, op string, i int) *etcdMember {
	t.Helper()
	i = c.check(t, i)
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.members[i]
	if m.etcd == nil {
		t.Fatalf("testutil: %s member %d: it is not running", op, i)
	}
	return m
}

func (c *EtcdCluster) setStopped(m *etcdMember) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m.etcd = nil
}

// check fails the test when i is not a member index.
func (c *EtcdCluster) check(t testing.TB, i int) int {
	t.Helper()
	if i < 0 || i >= len(c.members) {
		t.Fatalf("testutil: etcd member index %d out of range [0,%d)", i, len(c.members))
	}
	return i
}

// index checks a member index for the accessors that have no testing.TB; a
// bad index is a bug in the test, reported by a panic naming it.
func (c *EtcdCluster) index(i int) int {
	if i < 0 || i >= len(c.members) {
		panic(fmt.Sprintf("testutil: etcd member index %d out of range [0,%d)", i, len(c.members)))
	}
	return i
}

// closeAll hard-stops every running member concurrently; it runs in cleanup.
func (c *EtcdCluster) closeAll() {
	c.mu.Lock()
	var running []*embed.Etcd
	for _, m := range c.members {
		if m.etcd != nil {
			running = append(running, m.etcd)
			m.etcd = nil
		}
		m.clientProxy.Refuse()
		m.clientProxy.CutConnections()
		m.peerProxy.setDown(true)
	}
	c.mu.Unlock()
	etcdembed.HardStopAll(running)
}

// closeWithin runs stop and reports an error if it has not returned within
// d (it is left running).
func closeWithin(stop func(), d time.Duration) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		stop()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("server did not stop within %v", d)
	}
}

// randomToken makes the cluster token unique, so members of two clusters
// can never join each other.
func randomToken() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "pgha-test-" + hex.EncodeToString(b)
}
