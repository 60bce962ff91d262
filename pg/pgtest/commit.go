package pgtest

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/pgha/pgha/pg"
)

// CommitState is what the client of a [Commit] knows about it.
type CommitState string

// Commit states.
const (
	// CommitWaiting means the commit record is flushed locally and the
	// client waits for synchronous standbys.
	CommitWaiting CommitState = "waiting"
	// CommitAcknowledged means the client was told the commit is durable.
	CommitAcknowledged CommitState = "acknowledged"
	// CommitUnknown means the primary stopped, crashed or was demoted while
	// the client waited: the client got an error and cannot know whether
	// the commit survives, so losing it breaks no promise.
	CommitUnknown CommitState = "unknown"
)

// Commit is one transaction commit on a simulated primary. Its WAL is
// identified by the timeline segment it was written on, not just by its
// LSN, so [Server.Has] is true only on servers that hold this very record.
type Commit struct {
	net    *Network
	server string
	tli    uint32
	branch uint64
	lsn    pg.LSN
	state  CommitState
}

// LSN returns the end of the commit record: a standby that flushed up to
// here on the same timeline has it.
func (c *Commit) LSN() pg.LSN { return c.lsn }

// Timeline returns the timeline the commit was written on.
func (c *Commit) Timeline() uint32 { return c.tli }

// Server returns the name of the primary that wrote the commit.
func (c *Commit) Server() string { return c.server }

// State returns what the client knows now.
func (c *Commit) State() CommitState {
	c.net.mu.Lock()
	defer c.net.mu.Unlock()
	return c.state
}

// Acknowledged reports whether the client was told the commit is durable.
func (c *Commit) Acknowledged() bool { return c.State() == CommitAcknowledged }

// String describes the commit for test failure messages.
func (c *Commit) String() string {
	return fmt.Sprintf("commit %s on %s timeline %d", c.lsn, c.server, c.tli)
}

// Commit writes a transaction of size bytes of WAL (at least 1) on the
// running primary and returns its commit. Without synchronous standbys
// the commit is acknowledged at once; otherwise it waits until
// synchronous_standby_names is satisfied, which only Step,
// SetSynchronousStandbyNames and a later Commit re-evaluate.
func (s *Server) Commit(size int) (*Commit, error) {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	s.fenceDue()
	if size < 1 {
		return nil, fmt.Errorf("%w: commit size %d, want at least 1", pg.ErrInvalidConfig, size)
	}
	if s.state != pg.StateRunning {
		return nil, fmt.Errorf("pgtest: commit on %s: %w", s.name, pg.ErrNotRunning)
	}
	if s.standby {
		// No sentinel fits: PostgreSQL says "cannot execute ... in a
		// read-only transaction".
		return nil, fmt.Errorf("pgtest: commit on %s: server is a replica (read-only)", s.name)
	}
	s.appendWAL(pg.LSN(size))
	last := s.segs[len(s.segs)-1]
	c := &Commit{net: s.net, server: s.name, tli: last.tli, branch: last.branch, lsn: last.end, state: CommitWaiting}
	s.pending = append(s.pending, c)
	s.net.commits = append(s.net.commits, c)
	s.releaseCommits()
	return c, nil
}

// Has reports whether s's WAL holds c's commit record: the same timeline
// segment, reaching at least c's LSN. Data directories that were removed
// hold nothing.
func (s *Server) Has(c *Commit) bool {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	return s.has(c)
}

func (s *Server) has(c *Commit) bool {
	for _, g := range s.segs {
		if g.branch == c.branch && g.end >= c.lsn {
			return true
		}
	}
	return false
}

// abandonCommits makes every waiting commit's outcome unknown: the
// primary went away under its clients.
func (s *Server) abandonCommits() {
	for _, c := range s.pending {
		c.state = CommitUnknown
	}
	s.pending = nil
}

// releaseCommits acknowledges the waiting commits that the synchronous
// standbys now cover, with PostgreSQL's rule (SyncRepGetSyncRecPtr): FIRST
// k waits for the k highest-priority connected standbys and takes the
// oldest of their flush positions; ANY k takes the k-th newest among the
// listed connected standbys. Fewer than k connected releases nothing; an
// empty setting releases everything.
func (s *Server) releaseCommits() {
	if s.state != pg.StateRunning || s.standby || len(s.pending) == 0 {
		return
	}
	var ptr pg.LSN
	if len(s.sync.Names) == 0 {
		ptr = s.end()
	} else {
		var flushed []pg.LSN
		for _, r := range s.syncSet() {
			flushed = append(flushed, r.end())
		}
		if len(flushed) < s.sync.Num {
			return
		}
		if s.sync.Method == pg.SyncAny {
			// The k-th newest flush position.
			slices.SortFunc(flushed, func(a, b pg.LSN) int { return cmp.Compare(b, a) })
			ptr = flushed[s.sync.Num-1]
		} else {
			ptr = flushed[0]
			for _, f := range flushed {
				ptr = min(ptr, f)
			}
		}
	}
	kept := s.pending[:0]
	for _, c := range s.pending {
		if c.lsn <= ptr {
			c.state = CommitAcknowledged
			continue
		}
		kept = append(kept, c)
	}
	s.pending = kept
}
