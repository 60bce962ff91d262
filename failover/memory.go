package failover

import (
	"strconv"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/pg"
)

// memory is what a node remembers between cycles of its own past that
// Decide needs and no single observation shows: since when the leader key
// is gone, since when the server is down, whether its WAL was judged
// against the current leader, whom it follows. It changes in one place,
// here: next folds in what a cycle saw, and the outcome methods below what
// an action did. None of them does I/O or takes a lock, so every rule about
// what is remembered and when it is forgotten is table-tested
// (memory_test.go); the Controller keeps the value in its book under c.mu.
type memory struct {
	// leaderVanishedAt is when the cluster was first seen without a leader
	// key in the current leaderless period (Observation.LeaderVanishedAt).
	leaderVanishedAt time.Time
	// leaderRev is the leader key's revision the divergence judgement
	// belongs to: a judgement against an earlier leader says nothing.
	leaderRev int64

	// lastRecv is the received LSN last seen and lastRecvAdvance when it
	// last advanced while streaming: the fallback for a missing
	// last_msg_receipt_time (package doc, false-failover guard).
	lastRecv        int64
	lastRecvAdvance time.Time

	// crashedAt and downSince are when the server was first seen crashed,
	// and not running, in the current outage; it running again ends the
	// outage.
	crashedAt, downSince time.Time
	lastStartAttempt     time.Time
	// following is the upstream the server was last pointed at ("" none).
	following string

	// divergence is the verdict on the local WAL against divergenceLeader,
	// made while that member published timeline divergenceTL; a verdict
	// against an older timeline says nothing.
	divergence       Divergence
	divergenceLeader string
	divergenceTL     int64
	rewindFailed     bool

	// sysID is the system identifier of the data directory, last read from
	// the running server; lastRole the role it last ran in.
	sysID    string
	lastRole Role
	// cloneFromLeader: the next clone copies from the leader (POST
	// /reinitialize with from_leader), until a clone succeeds.
	cloneFromLeader bool
}

// sighting is what one cycle saw, for memory.next.
type sighting struct {
	// Cluster is the DCS snapshot, nil when it could not be read;
	// ClusterAt is when the read began.
	Cluster   *dcs.Cluster
	ClusterAt time.Time
	// Status is the local server's; StatusKnown is false when the status
	// query failed while the server runs, and nothing local is learnt.
	Status      pg.Status
	StatusKnown bool
	// DataEmpty and DataWasPrimary describe the data directory, inspected
	// when the server does not run.
	DataEmpty, DataWasPrimary bool
	// At is when Status was read.
	At time.Time
}

// next is m after the cycle that saw s.
func (m memory) next(s sighting) memory {
	if cl := s.Cluster; cl != nil {
		if cl.Leader == nil {
			if m.leaderVanishedAt.IsZero() {
				m.leaderVanishedAt = s.ClusterAt
			}
		} else {
			m.leaderVanishedAt = time.Time{}
			if cl.Leader.Revision != m.leaderRev {
				m.leaderRev = cl.Leader.Revision
				m.divergence, m.divergenceLeader, m.rewindFailed = DivergenceUnknown, "", false
			}
		}
		// A divergence check made while the new leader was still being
		// promoted (same timeline, "not diverged") is void once it runs on
		// its new timeline: the local WAL may go past the switch point, and
		// the replica would wait for a stream that never comes.
		if m.divergenceLeader != "" && m.divergence != DivergenceUnknown {
			if mb := cl.Member(m.divergenceLeader); mb != nil && mb.Timeline != nil && *mb.Timeline != m.divergenceTL {
				m.divergence, m.divergenceLeader = DivergenceUnknown, ""
			}
		}
	}
	if !s.StatusKnown {
		return m
	}
	st := s.Status
	switch st.State {
	case pg.StateRunning:
		m.crashedAt, m.downSince = time.Time{}, time.Time{}
		m.lastRole = Role(st.Role)
		if st.SystemID != 0 {
			m.sysID = strconv.FormatUint(st.SystemID, 10)
		}
		recv := st.ReceiveLSN.Int64()
		if st.Receiver == pg.ReceiverStreaming && recv > m.lastRecv {
			m.lastRecvAdvance = s.At
		}
		m.lastRecv = recv
	case pg.StateCrashed:
		if m.crashedAt.IsZero() {
			m.crashedAt = s.At
		}
		fallthrough
	default:
		if m.downSince.IsZero() {
			m.downSince = s.At
		}
		if s.DataEmpty {
			m.sysID = ""
		}
	}
	return m
}

// local is what Decide sees of the local server: s's status with m, the
// memory after s, filled in.
func (m memory) local(s sighting) LocalStatus {
	st := s.Status
	l := LocalStatus{
		State:            PGState(st.State),
		Following:        m.following,
		LastStartAttempt: m.lastStartAttempt,
		Divergence:       m.divergence,
		DivergenceLeader: m.divergenceLeader,
		RewindFailed:     m.rewindFailed,
		CrashedAt:        m.crashedAt,
		DownSince:        m.downSince,
		SystemID:         m.sysID,
		CloneFromLeader:  m.cloneFromLeader,
	}
	if st.State != pg.StateRunning {
		l.DataEmpty, l.WasPrimary = s.DataEmpty, s.DataWasPrimary
		return l
	}
	l.Role = Role(st.Role)
	l.Timeline = int64(st.Timeline)
	l.FlushLSN = st.FlushLSN.Int64()
	l.ReceiveLSN = st.ReceiveLSN.Int64()
	l.ReplayLSN = st.ReplayLSN.Int64()
	l.ReplicationState = string(st.Receiver)
	l.WasPrimary = l.Role == RolePrimary
	// The receiver's last_msg_receipt_time counts keepalives too, so it
	// stays fresh on an idle cluster. Should it be missing while
	// streaming, fall back to when the received LSN last advanced (see
	// the package doc).
	if st.Receiver == pg.ReceiverStreaming {
		l.LastWALReceiptAt = st.LastMsgReceiptTime
		if l.LastWALReceiptAt.IsZero() {
			l.LastWALReceiptAt = m.lastRecvAdvance
		}
	}
	return l
}

// What actions did. Each returns the memory after the action.

// started: a start of the server was attempted at.
func (m memory) started(at time.Time) memory {
	m.lastStartAttempt = at
	return m
}

// followed: the server was pointed at upstream ("" none).
func (m memory) followed(upstream string) memory {
	m.following = upstream
	return m
}

// judged: the local WAL was checked against leader, which published
// timeline tl; a successful rewind is the verdict "not diverged".
func (m memory) judged(leader string, tl int64, diverged bool) memory {
	m.divergence, m.divergenceLeader, m.divergenceTL = DivergenceNone, leader, tl
	if diverged {
		m.divergence = DivergenceDiverged
	}
	return m
}

// rewindFailedNow: pg_rewind failed; the node clones instead.
func (m memory) rewindFailedNow() memory {
	m.rewindFailed = true
	return m
}

// cloned: the data directory was cloned while leader led on timeline tl:
// a new data directory, not diverged from it, not yet started.
func (m memory) cloned(leader string, tl int64) memory {
	m.divergence, m.divergenceLeader, m.rewindFailed = DivergenceNone, leader, false
	m.divergenceTL = tl
	m.sysID, m.crashedAt, m.following = "", time.Time{}, ""
	m.cloneFromLeader = false
	return m
}

// wiped: the data directory was removed (reinitialize); the loop clones,
// from the leader when fromLeader is set (else from its usual source).
func (m memory) wiped(fromLeader bool) memory {
	m.divergence, m.divergenceLeader, m.rewindFailed = DivergenceUnknown, "", false
	m.sysID, m.crashedAt, m.following = "", time.Time{}, ""
	m.cloneFromLeader = fromLeader
	return m
}
