package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

func TestParseProcNetTCP(t *testing.T) {
	const text = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:8F1A 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41234 1 0000000000000000 100 0 0 10 0
   1: 0100007F:C350 0100007F:8F1A 01 00000000:00000000 02:000A7B2C 00000000     0        0 41240 2 0000000000000000 20 4 30 10 -1
`
	got, err := parseProcNetTCP(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := []tcpSocket{{LocalPort: 0x8F1A, RemotePort: 0, Inode: 41234}, {LocalPort: 0xC350, RemotePort: 0x8F1A, Inode: 41240}}
	if !slices.Equal(got, want) {
		t.Errorf("parseProcNetTCP = %+v, want %+v", got, want)
	}
	if _, err := parseProcNetTCP(strings.NewReader("header\n 0: 0100007F:ZZZZ 0100007F:0001 01 x x x 0 0 7\n")); err == nil {
		t.Error("malformed port: no error")
	}
}

// TestShutdownPort checks the first step of Etcd.Kill: a listener's
// accepted connection reads end-of-file and new connections are refused,
// as when the owning process dies.
func TestShutdownPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Close() })

	n, err := shutdownPort(port)
	if err != nil || n != 2 {
		t.Fatalf("shutdownPort = %d, %v; want the listener and the accepted connection", n, err)
	}
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := client.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("client read after shutdown: %v, want EOF", err)
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		_ = c.Close()
		t.Error("dial after shutdown: connected, want refused")
	}
}

func TestStreamsByMember(t *testing.T) {
	members := []int{2379, 2479, 2579}
	agent := []tcpSocket{
		{LocalPort: 50001, RemotePort: 2379},
		{LocalPort: 50002, RemotePort: 2479},
		{LocalPort: 50003, RemotePort: 2579},
		{LocalPort: 50004, RemotePort: 8008}, // not etcd
	}
	server := []serverSocket{
		{LocalPort: 2379, RemotePort: 50001, Active: 0},
		{LocalPort: 2479, RemotePort: 50002, Active: 2}, // the agent's watches
		{LocalPort: 2579, RemotePort: 50003, Active: 0},
		{LocalPort: 2379, RemotePort: 60000, Active: 5}, // another client
		{LocalPort: 2579, RemotePort: 50002, Active: 7}, // same port, other member: not the agent's
	}
	if got, want := streamsByMember(agent, server, members), []int64{0, 2, 0}; !slices.Equal(got, want) {
		t.Errorf("streamsByMember = %v, want %v", got, want)
	}
}

// TestEtcdStockTimingsMoveLeaderAndStreams starts three members with
// etcd's default raft timings, finds the member a watching client keeps
// its stream on (this process stands in for an agent), moves raft
// leadership to it and to another member, and kills and restarts the
// leader.
func TestEtcdStockTimingsMoveLeaderAndStreams(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	e, err := startEtcd(ctx, t.TempDir(), 3, etcdTimings{heartbeat: StockEtcdHeartbeat, election: StockEtcdElection})
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(e.Close)
	for i, m := range e.members {
		if tick, el := m.etcd.Server.Cfg.TickMs, m.etcd.Server.Cfg.ElectionTicks; tick != 100 || el != 10 {
			t.Errorf("member %d: tick %d ms, election %d ticks; want etcd's 100 ms and 10", i, tick, el)
		}
	}

	// A client of one member only, watching: its stream is on that member.
	const watched = 1
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{e.members[watched].clientURL}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	wctx, wcancel := context.WithCancel(ctx)
	t.Cleanup(wcancel)
	wch := cli.Watch(wctx, "/x", clientv3.WithCreatedNotify())
	if resp := <-wch; !resp.Created {
		t.Fatalf("watch not created: %v", resp.Err())
	}
	err = Poll(ctx, 20*time.Millisecond, func() error {
		streams, err := e.socketStreams(ctx, os.Getpid())
		if err != nil {
			return err
		}
		if streams[watched] < 1 {
			return fmt.Errorf("streams per member %v, want one on member %d", streams, watched)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	for _, to := range []int{watched, (watched + 1) % 3} {
		if err := e.MoveLeader(ctx, to); err != nil {
			t.Fatalf("MoveLeader(%d): %v", to, err)
		}
		if l, err := e.Leader(); err != nil || l != to {
			t.Fatalf("leader after MoveLeader(%d): %d, %v", to, l, err)
		}
	}
	if err := e.MoveLeader(ctx, 7); err == nil {
		t.Error("MoveLeader to an unknown member: no error")
	}

	// Kill the leader: the other two elect a new one and serve.
	victim, err := e.Leader()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Kill(victim); err != nil {
		t.Fatalf("Kill(%d): %v", victim, err)
	}
	if err := e.Kill(victim); !errors.Is(err, ErrNotRunning) {
		t.Errorf("second Kill(%d) = %v, want ErrNotRunning", victim, err)
	}
	if l, err := e.WaitLeader(ctx); err != nil || l == victim {
		t.Fatalf("leader after killing %d: %d, %v", victim, l, err)
	}
	if err := e.Restart(ctx, victim); err != nil {
		t.Fatalf("Restart(%d): %v", victim, err)
	}
}
