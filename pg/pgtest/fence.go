package pgtest

import (
	"time"

	"github.com/pgha/pgha/pg"
)

// ArmFence arms the server's out-of-agent fence, as pglocal.Local's fence
// keeper does: once the Network's clock reaches deadline the server stops
// immediately, as if the keeper had sent SIGQUIT, unless ArmFence is
// called again with a later deadline or DisarmFence first. The keeper is
// modelled as a separate process: it acts whatever the caller does
// meanwhile (a frozen or dead agent included). The stop happens at the
// first look at the server at or after deadline (any method, Commit or
// Network.Step), so no commit is accepted after deadline. The fence is
// armed for the data directory, as pglocal.Local's: it survives a restart, and
// arming a server that is not running stops one started before the
// deadline. With keepers switched off
// (Network.SetFenceKeepers) it fails with pg.ErrFenceKeeperDisabled.
func (s *Server) ArmFence(deadline time.Time) error {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	if s.net.noKeepers {
		return pg.ErrFenceKeeperDisabled
	}
	s.fenceDue()
	s.fenceAt = deadline
	s.fenceDue()
	return nil
}

// DisarmFence cancels the armed fence.
func (s *Server) DisarmFence() error {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	s.fenceAt = time.Time{}
	return nil
}

// KeeperFences returns how many times the out-of-agent fence stopped the
// server.
func (s *Server) KeeperFences() int {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	return s.keeperFences
}

// SetFenceKeepers switches the servers' out-of-agent fences on (the
// default) or off, as pglocal.Config.DisableFenceKeeper does: off,
// ArmFence fails with pg.ErrFenceKeeperDisabled and armed fences never
// fire.
func (n *Network) SetFenceKeepers(on bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.noKeepers = !on
	if !on {
		for _, s := range n.servers {
			s.fenceAt = time.Time{}
		}
	}
}

// fenceDue stops the server if its armed fence's deadline has come;
// net.mu held.
func (s *Server) fenceDue() {
	if s.fenceAt.IsZero() || s.net.clk.Now().Before(s.fenceAt) {
		return
	}
	s.fenceAt = time.Time{}
	if s.state == pg.StateRunning {
		s.keeperFences++
		s.stop(pg.StopImmediate)
	}
}
