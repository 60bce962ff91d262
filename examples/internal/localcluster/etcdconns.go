package localcluster

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	channelzpb "google.golang.org/grpc/channelz/grpc_channelz_v1"
	channelzsvc "google.golang.org/grpc/channelz/service"
)

// Which etcd member does an agent talk to? Every agent is configured
// with all members (etcd3.hosts), and clientv3 balances them round-robin:
// each unary call and each short stream (pgha renews its lease with one
// LeaseKeepAlive stream per renewal) goes to the next member, so an agent
// talks to every member. Only its long-lived streams, its watches, stay on
// one member, which is therefore "the member it talks to": killing it
// cuts the agent's watch as well as whatever calls were in flight there.
//
// The embedded members run in this process, so their gRPC servers'
// channelz records say which client connection has how many streams open;
// the agent's connections are found from its sockets in /proc. Importing
// the channelz service turns channelz collection on (at init, before any
// member starts) for every gRPC server and client of the process.

// serverSocket is one accepted connection of an embedded member's gRPC
// server.
type serverSocket struct {
	LocalPort, RemotePort int
	// Active is the number of streams open now.
	Active int64
}

// czRegistrar captures the channelz service implementation, so that it
// can be called in-process without serving it.
type czRegistrar struct{ srv channelzpb.ChannelzServer }

func (r *czRegistrar) RegisterService(_ *grpc.ServiceDesc, impl any) {
	r.srv, _ = impl.(channelzpb.ChannelzServer)
}

// grpcServerSockets lists the sockets of every gRPC server of this
// process, with their open streams.
func grpcServerSockets(ctx context.Context) ([]serverSocket, error) {
	var reg czRegistrar
	channelzsvc.RegisterChannelzServiceToServer(&reg)
	if reg.srv == nil {
		return nil, fmt.Errorf("localcluster: channelz service not available")
	}
	var out []serverSocket
	for start := int64(0); ; {
		resp, err := reg.srv.GetServers(ctx, &channelzpb.GetServersRequest{StartServerId: start})
		if err != nil {
			return nil, fmt.Errorf("localcluster: channelz servers: %w", err)
		}
		for _, s := range resp.GetServer() {
			id := s.GetRef().GetServerId()
			socks, err := serverSocketsOf(ctx, reg.srv, id)
			if err != nil {
				return nil, err
			}
			out = append(out, socks...)
			start = id + 1
		}
		if resp.GetEnd() || len(resp.GetServer()) == 0 {
			return out, nil
		}
	}
}

// serverSocketsOf lists the sockets of one gRPC server.
func serverSocketsOf(ctx context.Context, cz channelzpb.ChannelzServer, server int64) ([]serverSocket, error) {
	var out []serverSocket
	for start := int64(0); ; {
		resp, err := cz.GetServerSockets(ctx, &channelzpb.GetServerSocketsRequest{ServerId: server, StartSocketId: start})
		if err != nil {
			return nil, fmt.Errorf("localcluster: channelz sockets of server %d: %w", server, err)
		}
		for _, ref := range resp.GetSocketRef() {
			start = ref.GetSocketId() + 1
			sr, err := cz.GetSocket(ctx, &channelzpb.GetSocketRequest{SocketId: ref.GetSocketId()})
			if err != nil {
				continue // closed in the meantime
			}
			sk := sr.GetSocket()
			d := sk.GetData()
			out = append(out, serverSocket{
				LocalPort:  int(sk.GetLocal().GetTcpipAddress().GetPort()),
				RemotePort: int(sk.GetRemote().GetTcpipAddress().GetPort()),
				Active:     d.GetStreamsStarted() - d.GetStreamsSucceeded() - d.GetStreamsFailed(),
			})
		}
		if resp.GetEnd() || len(resp.GetSocketRef()) == 0 {
			return out, nil
		}
	}
}

// tcpSocket is one line of /proc/net/tcp: local and remote port (the
// addresses are loopback here) and the socket's inode.
type tcpSocket struct {
	LocalPort, RemotePort int
	Inode                 uint64
}

// parseProcNetTCP parses /proc/<pid>/net/tcp or tcp6.
func parseProcNetTCP(r io.Reader) ([]tcpSocket, error) {
	var out []tcpSocket
	sc := bufio.NewScanner(r)
	header := true
	for sc.Scan() {
		if header {
			header = false
			continue
		}
		f := strings.Fields(sc.Text())
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
		if len(f) < 10 {
			continue
		}
		lp, err1 := hexPort(f[1])
		rp, err2 := hexPort(f[2])
		inode, err3 := strconv.ParseUint(f[9], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("localcluster: malformed /proc/net/tcp line %q", sc.Text())
		}
		out = append(out, tcpSocket{LocalPort: lp, RemotePort: rp, Inode: inode})
	}
	return out, sc.Err()
}

// hexPort returns the port of a /proc/net/tcp address ("0100007F:1F90").
func hexPort(addr string) (int, error) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return 0, fmt.Errorf("no port in %q", addr)
	}
	p, err := strconv.ParseUint(addr[i+1:], 16, 16)
	return int(p), err
}

// processSockets returns the TCP sockets that process pid holds open,
// and the file descriptor of each (by inode).
func processSockets(pid int) ([]tcpSocket, map[uint64]int, error) {
	fdDir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	entries, err := os.ReadDir(fdDir)
	if err != nil {
		return nil, nil, fmt.Errorf("localcluster: sockets of pid %d: %w", pid, err)
	}
	fds := map[uint64]int{}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		link, err := os.Readlink(filepath.Join(fdDir, e.Name()))
		if err != nil || !strings.HasPrefix(link, "socket:[") {
			continue
		}
		if ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]"), 10, 64); err == nil {
			fds[ino] = fd
		}
	}
	var out []tcpSocket
	for _, name := range []string{"tcp", "tcp6"} {
		f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "net", name))
		if err != nil {
			continue
		}
		socks, err := parseProcNetTCP(f)
		f.Close()
		if err != nil {
			return nil, nil, err
		}
		for _, s := range socks {
			if _, ok := fds[s.Inode]; ok {
				out = append(out, s)
			}
		}
	}
	return out, fds, nil
}

// shutdownPort shuts down, in both directions, every socket of this
// process bound to local port on loopback (a listener and the connections
// it accepted), as the death of the process owning them would: the peers
// read end-of-file at once and new connections are refused. The sockets
// stay open until their owners close them. It returns how many it shut
// down.
func shutdownPort(port int) (int, error) {
	socks, fds, err := processSockets(os.Getpid())
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range socks {
		if s.LocalPort != port {
			continue
		}
		fd := fds[s.Inode]
		// The descriptor may have been closed and reused since /proc was
		// read: check that it is still bound to the port.
		sa, err := syscall.Getsockname(fd)
		if err != nil || sockaddrPort(sa) != port {
			continue
		}
		if err := syscall.Shutdown(fd, syscall.SHUT_RDWR); err == nil {
			n++
		}
	}
	return n, nil
}

func sockaddrPort(sa syscall.Sockaddr) int {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return a.Port
	case *syscall.SockaddrInet6:
		return a.Port
	}
	return -1
}

// streamsByMember counts, for each member (by client port, in
// memberPorts order), the open streams on the server sockets whose
// client end is one of the client's sockets.
func streamsByMember(client []tcpSocket, server []serverSocket, memberPorts []int) []int64 {
	clientEnds := map[[2]int]bool{} // {member port, client's local port}
	for _, s := range client {
		clientEnds[[2]int{s.RemotePort, s.LocalPort}] = true
	}
	out := make([]int64, len(memberPorts))
	for i, mp := range memberPorts {
		for _, s := range server {
			if s.LocalPort == mp && clientEnds[[2]int{mp, s.RemotePort}] {
				out[i] += s.Active
			}
		}
	}
	return out
}

// memberPorts returns the client ports of the members, in member order.
func (e *Etcd) memberPorts() ([]int, error) {
	out := make([]int, 0, len(e.members))
	for _, m := range e.members {
		p, err := m.clientPort()
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// clientPort is the port of m's client URL.
func (m *etcdMember) clientPort() (int, error) { return urlPort(m.clientURL) }

// urlPort is the port of an "http://127.0.0.1:port" URL.
func urlPort(s string) (int, error) {
	u, err := url.Parse(s)
	if err != nil {
		return 0, fmt.Errorf("localcluster: URL %s: %w", s, err)
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil {
		return 0, fmt.Errorf("localcluster: URL %s: %w", s, err)
	}
	return p, nil
}

// socketStreams is the open streams per member of the process with these
// sockets, now.
func (e *Etcd) socketStreams(ctx context.Context, pid int) ([]int64, error) {
	ports, err := e.memberPorts()
	if err != nil {
		return nil, err
	}
	client, _, err := processSockets(pid)
	if err != nil {
		return nil, err
	}
	server, err := grpcServerSockets(ctx)
	if err != nil {
		return nil, err
	}
	return streamsByMember(client, server, ports), nil
}

// AgentEtcdStreams returns, for each etcd member in order, how many
// long-lived gRPC streams (watches) node name's agent keeps open on it: the
// fewest seen over five samples 50 ms apart, so that a lease renewal or
// another short stream in flight is not counted. See the comment at the
// top of this file for why that identifies the member an agent talks to.
func (c *Cluster) AgentEtcdStreams(ctx context.Context, name string) ([]int64, error) {
	n, err := c.node(name)
	if err != nil {
		return nil, err
	}
	pid := n.AgentPID()
	if pid == 0 {
		return nil, fmt.Errorf("%w: agent %s", ErrNotRunning, name)
	}
	var least []int64
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for i := range 5 {
		if i > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-tick.C:
			}
		}
		now, err := c.etcd.socketStreams(ctx, pid)
		if err != nil {
			return nil, err
		}
		if least == nil {
			least = now
			continue
		}
		for j := range least {
			least[j] = min(least[j], now[j])
		}
	}
	return least, nil
}

// AgentEtcdMember returns the running etcd member on which node name's
// agent keeps the most long-lived streams (the lowest index on a tie),
// with the counts per member; an error when it keeps none.
func (c *Cluster) AgentEtcdMember(ctx context.Context, name string) (int, []int64, error) {
	streams, err := c.AgentEtcdStreams(ctx, name)
	if err != nil {
		return -1, nil, err
	}
	best := -1
	for i, s := range streams {
		if s > 0 && c.etcd.Running(i) && (best < 0 || s > streams[best]) {
			best = i
		}
	}
	if best < 0 {
		return -1, streams, fmt.Errorf("localcluster: agent %s keeps no stream open on a running etcd member (streams per member %v)", name, streams)
	}
	return best, streams, nil
}
