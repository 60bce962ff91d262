package sim

import "time"

// commit is one client commit.
type commit struct {
	id   int
	node string
	pos  walPos // the WAL position that holds it (end of its record)
	at   time.Time
	gen  int // the primary's start generation: a restart fails the commit
	lost bool
}

// ackRule decides when a commit is acknowledged to the client. Asynchronous
// replication acknowledges at primary flush; synchronous replication
// (syncAck) holds commits until the standbys the primary's
// synchronous_standby_names requires have flushed them.
type ackRule interface {
	// flushed is called when the primary has flushed c; it reports whether
	// c is acknowledged now.
	flushed(s *Sim, c *commit) bool
	// received is called when replica r received WAL; it returns the
	// commits acknowledged thanks to it.
	received(s *Sim, r *node) []*commit
}

// asyncAck is asynchronous replication: every commit is acknowledged when
// the primary has flushed it.
type asyncAck struct{}

func (asyncAck) flushed(*Sim, *commit) bool     { return true }
func (asyncAck) received(*Sim, *node) []*commit { return nil }

// clientWrite is one client commit attempt, routed to the node that acts as
// writable primary (if any), and schedules the next.
func (s *Sim) clientWrite() {
	defer s.after(between(s.rng, s.cfg.WriteGap[0], s.cfg.WriteGap[1]), s.clientWrite)
	var p *node
	for _, n := range s.nodes {
		if s.writable(n) {
			p = n
			break
		}
	}
	if p == nil {
		s.stats.WritesRefused++
		return
	}
	size := s.cfg.WriteSize[0] + s.rng.Int64N(s.cfg.WriteSize[1]-s.cfg.WriteSize[0]+1)
	p.pg.wal.lsn += size
	s.commitSeq++
	c := &commit{id: s.commitSeq, node: p.name, pos: p.pg.wal, at: s.now, gen: p.pg.startGen}
	if s.acks.flushed(s, c) {
		s.acked = append(s.acked, c)
		s.stats.WritesAcked++
	}
	for _, r := range s.nodes {
		if r.pg.following == p.name && s.streamOK(r) {
			s.deliverLater(r, p, p.pg.wal)
		}
	}
}
