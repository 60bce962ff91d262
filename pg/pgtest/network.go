package pgtest

import (
	"fmt"
	"sync"

	"github.com/pgha/pgha/clock"
	"github.com/pgha/pgha/pg"
)

// Sizes of the WAL records the simulation writes on its own. Their exact
// values do not matter; that they are non-zero does: they are what makes a
// crashed former primary diverge and a promoted replica's WAL differ from
// its old primary's.
const (
	// initialLSN is where a bootstrapped cluster's WAL starts, as after
	// initdb.
	initialLSN pg.LSN = 0x3000000
	// checkpointRecord is the size of a checkpoint record (shutdown or end
	// of crash recovery).
	checkpointRecord pg.LSN = 0x78
	// endOfRecoveryRecord is the size of the record a promotion writes.
	endOfRecoveryRecord pg.LSN = 0x28
	// baseSystemID is the first system identifier a Network hands out.
	baseSystemID uint64 = 7000000000000000001
	// defaultServerVersion is what Status reports as ServerVersion.
	defaultServerVersion = 170000
	// defaultPort is the port of every server's address.
	defaultPort = 5432
)

// Network is an in-memory world of simulated PostgreSQL servers that
// replicate from each other by address. Its zero value is not usable; call
// NewNetwork.
type Network struct {
	mu      sync.Mutex
	clk     clock.Clock
	servers []*Server // creation order: Step visits them in it
	byAddr  map[pg.Upstream]*Server
	// nextBranch and nextSysID make every timeline segment and every
	// bootstrapped cluster distinguishable, whatever their numbers say.
	nextBranch uint64
	nextSysID  uint64
	commits    []*Commit
	// noKeepers makes ArmFence fail with pg.ErrFenceKeeperDisabled.
	noKeepers bool
	// bandwidth bounds the WAL each replica receives per Step (0: none).
	bandwidth pg.LSN
}

// NewNetwork returns an empty Network whose servers take their timestamps
// (PostmasterStart, WAL receiver message times) from clk; nil means the
// real clock.
func NewNetwork(clk clock.Clock) *Network {
	if clk == nil {
		clk = clock.Real()
	}
	return &Network{clk: clk, byAddr: map[pg.Upstream]*Server{}, nextSysID: baseSystemID}
}

// NewServer adds a stopped server with an empty data directory, reachable
// at host name:5432. Its member name, and its application name when it
// follows without one, is name. A second server with the same name is a
// programming error and panics.
func (n *Network) NewServer(name string) *Server {
	n.mu.Lock()
	defer n.mu.Unlock()
	addr := pg.Upstream{Host: name, Port: defaultPort}
	if _, dup := n.byAddr[addr]; dup || name == "" {
		panic(fmt.Sprintf("pgtest: server name %q empty or already used", name))
	}
	s := &Server{
		net:     n,
		name:    name,
		addr:    addr,
		state:   pg.StateStopped,
		version: defaultServerVersion,
		slots:   map[string]pg.LSN{},
		faults:  map[string]error{},
	}
	n.servers = append(n.servers, s)
	n.byAddr[addr] = s
	return s
}

// Server returns the server at addr, or nil.
func (n *Network) Server(addr pg.Upstream) *Server {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.byAddr[hostPort(addr)]
}

// Step moves WAL once along every replication link: each running replica
// whose upstream is reachable and running, whose slot (if it names one)
// exists there, and whose WAL is a prefix of the upstream's receives
// everything the upstream has. Then every primary releases the commits its
// synchronous standbys now cover. Servers are visited in creation order,
// so WAL crosses one cascading hop per step. Step reports whether any WAL
// moved; `for n.Step() {}` runs replication until it is quiescent.
func (n *Network) Step() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	moved := false
	for _, s := range n.servers {
		s.fenceDue()
	}
	for _, s := range n.servers {
		if s.stream() {
			moved = true
		}
	}
	for _, s := range n.servers {
		s.releaseCommits()
	}
	return moved
}

// SetBandwidth bounds how much WAL each replica receives in one Step
// (0, the default: all the upstream has). With a bound, a replica that
// reconnects after falling behind streams for several steps before it
// has caught up, as a real walreceiver does; the shutdown checkpoint of a
// clean stop still reaches connected replicas in full.
func (n *Network) SetBandwidth(perStep pg.LSN) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.bandwidth = max(perStep, 0)
}

// LostCommits returns the acknowledged commits whose WAL s does not hold,
// in commit order: after a failover to s, the writes a client was told
// were durable and that are gone.
func (n *Network) LostCommits(s *Server) []*Commit {
	n.mu.Lock()
	defer n.mu.Unlock()
	var lost []*Commit
	for _, c := range n.commits {
		if c.state == CommitAcknowledged && !s.has(c) {
			lost = append(lost, c)
		}
	}
	return lost
}

// newBranch returns a fresh timeline segment identity.
func (n *Network) newBranch() uint64 {
	n.nextBranch++
	return n.nextBranch
}

// UnreachableError is returned when an operation needs a server that is
// unknown, isolated, or (from an isolated server) out of reach.
type UnreachableError struct {
	Addr pg.Upstream
}

// Error implements error.
func (e *UnreachableError) Error() string {
	return fmt.Sprintf("pgtest: %s:%d is unreachable", e.Addr.Host, e.Addr.Port)
}

// reach returns the server at addr as seen from s: it must exist, both
// must be connected, and it must be running. Called with n.mu held.
func (n *Network) reach(from *Server, addr pg.Upstream) (*Server, error) {
	up := n.byAddr[hostPort(addr)]
	if up == nil || up.isolated || from.isolated {
		return nil, &UnreachableError{Addr: addr}
	}
	if up == from {
		return nil, fmt.Errorf("%w: %s names itself as upstream", pg.ErrInvalidConfig, from.name)
	}
	if up.state != pg.StateRunning {
		return nil, fmt.Errorf("pgtest: upstream %s: %w", up.name, pg.ErrNotRunning)
	}
	return up, nil
}

// hostPort is an upstream as an address: servers are found by host and
// port; the member name an Upstream may carry is only a label.
func hostPort(u pg.Upstream) pg.Upstream { return pg.Upstream{Host: u.Host, Port: u.Port} }
