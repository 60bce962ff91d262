package pgtest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/pgha/pgha/pg"
)

// segment is the part of a server's WAL written on one timeline: from the
// previous segment's end (the switch point) up to end. branch tells apart
// segments that carry the same timeline number but were written by
// different servers.
type segment struct {
	tli    uint32
	branch uint64
	end    pg.LSN
}

// Server is a simulated PostgreSQL server in a [Network]. It implements
// pg.Instance, pg.Fencer and pg.ControlDataReader, and its Inspect method
// satisfies failover.DataDirInspector. It is safe for concurrent use.
type Server struct {
	net     *Network
	name    string
	addr    pg.Upstream
	version int

	// Process.
	state   pg.ProcessState
	started time.Time

	// Data directory.
	hasData bool
	sysID   uint64
	segs    []segment
	standby bool // standby.signal
	follow  pg.FollowConfig
	sync    pg.SyncStandbys
	slots   map[string]pg.LSN // name to restart LSN
	// ckpt is the start of the last checkpoint record this server wrote as
	// a primary; cleanStop says it is the shutdown checkpoint of a clean
	// stop; unclean says the primary stopped without one (crash,
	// immediate, fence) and needs crash recovery.
	ckpt      pg.LSN
	cleanStop bool
	unclean   bool

	// WAL receiver, while a replica.
	streaming  bool
	lastMsg    time.Time
	lastReplay time.Time
	latestEnd  pg.LSN

	// Clients waiting for synchronous standbys.
	pending []*Commit

	// fenceAt is the deadline of the armed out-of-agent fence (zero:
	// disarmed); keeperFences counts the stops it made.
	fenceAt      time.Time
	keeperFences int

	// Faults.
	faults    map[string]error
	statusErr error
	isolated  bool
	noRewind  bool
	// failBootstrap makes the next Bootstrap leave data and fail with it;
	// movedAside are the names MoveDataDirAside gave.
	failBootstrap error
	movedAside    []string

	// restores are the no_leader replica methods AddRestoreMethod
	// defined, by name; clones are the requests Clone received.
	restores map[string]*Server
	clones   []pg.CloneRequest
}

var (
	_ pg.Instance          = (*Server)(nil)
	_ pg.Fencer            = (*Server)(nil)
	_ pg.ControlDataReader = (*Server)(nil)
	_ pg.DeadlineFencer    = (*Server)(nil)
	_ pg.DataDirMover      = (*Server)(nil)
)

// Name returns the server's name, also its host name.
func (s *Server) Name() string { return s.name }

// Addr returns the address other servers use to reach s.
func (s *Server) Addr() pg.Upstream { return s.addr }

// WALEnd returns the end of s's WAL: the flush LSN of a primary, the
// receive (and replay) LSN of a replica, whether or not s is running; 0
// without a data directory.
func (s *Server) WALEnd() pg.LSN {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	return s.end()
}

// Timeline returns the timeline of the end of s's WAL, whether or not s is
// running; 0 without a data directory.
func (s *Server) Timeline() uint32 {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	return s.tli()
}

// Crash kills the postmaster: State becomes crashed, the WAL written so far
// survives, waiting commits' outcome becomes unknown, and a primary needs
// crash recovery at its next start. A server that is not running is left
// alone.
func (s *Server) Crash() {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	if s.state != pg.StateRunning {
		return
	}
	s.abandonCommits()
	s.state, s.streaming = pg.StateCrashed, false
	if !s.standby {
		s.unclean, s.cleanStop = true, false
	}
}

// FailNext makes the next call of the named pg.Instance method ("Start",
// "Promote", "Clone", "Rewind", "Follow", "Status", ...) fail with err
// before it changes anything. A failed Start leaves the server in state
// "start failed".
func (s *Server) FailNext(method string, err error) {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	s.faults[method] = err
}

// SetStatusError makes every Status call fail with err until it is called
// with nil: a server that is up but whose status query keeps failing.
func (s *Server) SetStatusError(err error) {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	s.statusErr = err
}

// Isolate cuts s off the network: it neither streams nor serves WAL, and
// operations that reach another server from it, or it from another, fail
// with an *UnreachableError. Its own process keeps running.
func (s *Server) Isolate() {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	s.isolated, s.streaming = true, false
}

// Rejoin undoes Isolate.
func (s *Server) Rejoin() {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	s.isolated = false
}

// SetRewindPossible sets whether Rewind may run (as wal_log_hints or data
// checksums would); it may by default. When not, Rewind fails with
// pg.ErrRewindImpossible.
func (s *Server) SetRewindPossible(ok bool) {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	s.noRewind = !ok
}

// Inspect reports whether the data directory is empty and whether it last
// ran as a primary (no standby.signal), the signature of
// failover.DataDirInspector.
func (s *Server) Inspect() (empty, wasPrimary bool, err error) {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	return !s.hasData, s.hasData && !s.standby, nil
}

// State returns the process state.
func (s *Server) State() pg.ProcessState {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	s.fenceDue()
	return s.state
}

// Role returns pg.RolePrimary or pg.RoleReplica while the server runs,
// and "" while it does not: a cheaper question than Status for a test
// that watches which servers accept writes.
func (s *Server) Role() pg.Role {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	s.fenceDue()
	switch {
	case s.state != pg.StateRunning:
		return ""
	case s.standby:
		return pg.RoleReplica
	default:
		return pg.RolePrimary
	}
}

// Status returns a snapshot as pglocal.Local would; only State when not running.
func (s *Server) Status(ctx context.Context) (pg.Status, error) {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	if err := s.begin(ctx, "Status"); err != nil {
		return pg.Status{State: s.state}, err
	}
	if s.statusErr != nil {
		return pg.Status{State: s.state}, fmt.Errorf("pgtest: %s: status: %w", s.name, s.statusErr)
	}
	st := pg.Status{State: s.state}
	if s.state != pg.StateRunning {
		return st, nil
	}
	st.Timeline, st.SystemID, st.ServerVersion, st.PostmasterStart = s.tli(), s.sysID, s.version, s.started
	st.SynchronousStandbyNames = s.sync.String()
	if !s.standby {
		st.Role, st.FlushLSN = pg.RolePrimary, s.end()
	} else {
		st.Role, st.ReceiveLSN, st.ReplayLSN = pg.RoleReplica, s.end(), s.end()
		st.ReplayTimestamp, st.Receiver = s.lastReplay, pg.ReceiverArchive
		if s.streaming {
			st.Receiver = pg.ReceiverStreaming
			st.ReceiverUpstream, st.ReceiverPort = s.follow.Upstream.Host, s.follow.Upstream.Port
			st.LastMsgReceiptTime, st.LastMsgSendTime = s.lastMsg, s.lastMsg
			st.LatestEndLSN, st.LatestEndTime = s.latestEnd, s.lastMsg
		}
	}
	st.Replication = s.replicationRows()
	return st, nil
}

// Bootstrap creates a new cluster, with a system identifier no other
// bootstrap in the Network has, on timeline 1, and leaves it running as a
// primary.
func (s *Server) Bootstrap(ctx context.Context, _ pg.BootstrapOptions) error {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	if err := s.begin(ctx, "Bootstrap"); err != nil {
		return err
	}
	if s.state == pg.StateRunning {
		return fmt.Errorf("pgtest: bootstrap %s: %w", s.name, pg.ErrAlreadyRunning)
	}
	if s.hasData {
		return fmt.Errorf("pgtest: bootstrap %s: %w", s.name, pg.ErrDataDirNotEmpty)
	}
	s.wipe()
	s.hasData, s.sysID = true, s.net.nextSysID
	s.net.nextSysID++
	s.segs = []segment{{tli: 1, branch: s.net.newBranch(), end: initialLSN}}
	if err := s.failBootstrap; err != nil {
		s.failBootstrap = nil
		s.state = pg.StateStopped
		return fmt.Errorf("pgtest: bootstrap %s: injected after creating the data directory: %w", s.name, err)
	}
	s.run()
	return nil
}

// FailBootstrap makes the next Bootstrap fail with err after it created a
// data directory, as a custom bootstrap method (a restore) or a
// post_bootstrap command failing late would: the server is left stopped
// with the data in place, for MoveDataDirAside.
func (s *Server) FailBootstrap(err error) {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	s.failBootstrap = err
}

// MoveDataDirAside sets the stopped server's data directory aside: the
// server has no data afterwards, and the name given (<name>_aside<n>) is
// added to MovedAside. Without data it does nothing and returns "". It
// implements pg.DataDirMover.
func (s *Server) MoveDataDirAside(ctx context.Context) (string, error) {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	if err := s.begin(ctx, "MoveDataDirAside"); err != nil {
		return "", err
	}
	if s.state == pg.StateRunning {
		return "", fmt.Errorf("pgtest: move data of %s aside: %w", s.name, pg.ErrAlreadyRunning)
	}
	if !s.hasData {
		return "", nil
	}
	s.wipe()
	s.state = pg.StateStopped
	to := fmt.Sprintf("%s_aside%d", s.name, len(s.movedAside)+1)
	s.movedAside = append(s.movedAside, to)
	return to, nil
}

// MovedAside returns the names of the data directories MoveDataDirAside
// set aside, oldest first.
func (s *Server) MovedAside() []string {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	return slices.Clone(s.movedAside)
}

// AddRestoreMethod defines a replica-creation method named name that a
// pg.CloneRequest.Methods may name: a no_leader restore of backup's data
// directory as it is when Clone runs (a backup repository, read whether
// or not backup runs or is reachable). It stands in for a method such as
// a pgbackrest restore in a standby cluster's create_replica_methods.
// "basebackup" is built in (the upstream's data, which must be reachable
// and running) and cannot be redefined.
func (s *Server) AddRestoreMethod(name string, backup *Server) {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	if name == "" || name == "basebackup" || backup == nil {
		panic(fmt.Sprintf("pgtest: AddRestoreMethod(%q, %v): want a name other than basebackup and a backup server", name, backup))
	}
	if s.restores == nil {
		s.restores = map[string]*Server{}
	}
	s.restores[name] = backup
}

// CloneRequests returns the requests Clone received (also the refused
// ones), oldest first.
func (s *Server) CloneRequests() []pg.CloneRequest {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	out := slices.Clone(s.clones)
	for i := range out {
		out[i].Methods = slices.Clone(out[i].Methods)
	}
	return out
}

// Clone creates the data directory with the methods req.Methods names, in
// order (default: basebackup only): basebackup copies the upstream's WAL,
// timeline history and system identifier (the upstream must be reachable
// and running); a method of AddRestoreMethod copies its backup's, with or
// without an upstream. The server is left stopped as a replica. As
// pglocal, an undefined method name, or no upstream and no restore method
// to try, is an ErrInvalidConfig error before anything is changed.
func (s *Server) Clone(ctx context.Context, req pg.CloneRequest) error {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	req.Methods = slices.Clone(req.Methods)
	s.clones = append(s.clones, req)
	if err := s.begin(ctx, "Clone"); err != nil {
		return err
	}
	if s.state == pg.StateRunning {
		return fmt.Errorf("pgtest: clone %s: %w", s.name, pg.ErrAlreadyRunning)
	}
	if s.hasData && !req.Replace {
		return fmt.Errorf("pgtest: clone %s: %w", s.name, pg.ErrDataDirNotEmpty)
	}
	methods := req.Methods
	if len(methods) == 0 {
		methods = []string{"basebackup"}
	}
	noLeader := false
	for _, m := range methods {
		_, restore := s.restores[m]
		if !restore && m != "basebackup" {
			return fmt.Errorf("%w: pgtest: clone %s: replica method %q is not defined", pg.ErrInvalidConfig, s.name, m)
		}
		noLeader = noLeader || restore
	}
	if req.Upstream.IsZero() && !noLeader {
		return fmt.Errorf("%w: pgtest: clone %s: no upstream, and none of the methods %v runs without a leader", pg.ErrInvalidConfig, s.name, methods)
	}
	var errs []error
	for _, m := range methods {
		src := s.restores[m]
		if src == nil {
			if req.Upstream.IsZero() {
				errs = append(errs, fmt.Errorf("method %s: needs an upstream", m))
				continue
			}
			up, err := s.net.reach(s, req.Upstream)
			if err != nil {
				errs = append(errs, fmt.Errorf("method %s: %w", m, err))
				continue
			}
			src = up
		} else if !src.hasData {
			errs = append(errs, fmt.Errorf("method %s: the backup of %s is empty", m, src.name))
			continue
		}
		s.wipe()
		s.hasData, s.sysID, s.segs, s.standby = true, src.sysID, slices.Clone(src.segs), true
		s.state = pg.StateStopped
		return nil
	}
	return fmt.Errorf("pgtest: clone %s: every replica method failed: %w", s.name, errors.Join(errs...))
}

// RemoveData empties the stopped server's data directory.
func (s *Server) RemoveData(ctx context.Context) error {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	if err := s.begin(ctx, "RemoveData"); err != nil {
		return err
	}
	if s.state == pg.StateRunning {
		return fmt.Errorf("pgtest: remove data of %s: %w", s.name, pg.ErrAlreadyRunning)
	}
	s.wipe()
	s.state = pg.StateStopped
	return nil
}

// Start starts the server as its data directory says: a replica when it
// has standby.signal, else a primary (after crash recovery, which writes a
// checkpoint, when it last stopped uncleanly).
func (s *Server) Start(ctx context.Context) error {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	if err := s.begin(ctx, "Start"); err != nil {
		if s.state != pg.StateRunning {
			s.state = pg.StateStartFailed
		}
		return err
	}
	return s.start()
}

// Stop stops the server. A smart or fast stop of a primary writes a
// shutdown checkpoint and sends it to the connected replicas first; an
// immediate stop writes nothing.
func (s *Server) Stop(ctx context.Context, mode pg.StopMode) error {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	if err := s.begin(ctx, "Stop"); err != nil {
		return err
	}
	s.stop(mode)
	return nil
}

// Restart stops in mode and starts again.
func (s *Server) Restart(ctx context.Context, mode pg.StopMode) error {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	if err := s.begin(ctx, "Restart"); err != nil {
		return err
	}
	s.stop(mode)
	return s.start()
}

// Reload does nothing but needs a running server: the simulation has no
// configuration files to re-read.
func (s *Server) Reload(ctx context.Context) error {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	if err := s.begin(ctx, "Reload"); err != nil {
		return err
	}
	return s.needRunning("reload")
}

// Promote turns the running replica into a primary on a new timeline, one
// above its latest, switching at its replay position, and writes an
// end-of-recovery record there.
func (s *Server) Promote(ctx context.Context) (uint32, error) {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	if err := s.begin(ctx, "Promote"); err != nil {
		return 0, err
	}
	if s.state != pg.StateRunning || !s.standby {
		return 0, fmt.Errorf("pgtest: promote %s: %w", s.name, pg.ErrNotReplica)
	}
	tli := s.tli() + 1
	s.segs = append(s.segs, segment{tli: tli, branch: s.net.newBranch(), end: s.end()})
	s.appendWAL(endOfRecoveryRecord)
	s.standby, s.streaming, s.follow = false, false, pg.FollowConfig{}
	s.cleanStop, s.unclean = false, false
	return tli, nil
}

// Follow makes the server a replica of cfg.Upstream: a running primary is
// stopped in cfg.DemoteMode (default fast) first, a stopped server is
// started, a running replica is re-pointed. It streams from the next Step
// on, if its WAL allows.
func (s *Server) Follow(ctx context.Context, cfg pg.FollowConfig) error {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	if err := s.begin(ctx, "Follow"); err != nil {
		return err
	}
	mode := cfg.DemoteMode
	if mode == "" {
		mode = pg.StopFast
	}
	return s.becomeReplica(mode, cfg, cfg.Restart)
}

// Demote stops the server in mode and starts it as a replica configured
// by cfg.
func (s *Server) Demote(ctx context.Context, mode pg.StopMode, cfg pg.FollowConfig) error {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	if err := s.begin(ctx, "Demote"); err != nil {
		return err
	}
	return s.becomeReplica(mode, cfg, true)
}

// CheckDivergence decides, as pglocal.Local does, from timeline numbers and
// positions only, whether the local WAL left the upstream's history: a
// replica diverged when it replayed past the upstream's switch point off
// its timeline, a former primary when its last checkpoint does not end
// exactly there. A former primary that stopped uncleanly goes through crash
// recovery first, which writes a checkpoint and so always diverges from a
// timeline that left before it.
func (s *Server) CheckDivergence(ctx context.Context, upstream pg.Upstream) (pg.Divergence, error) {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	var d pg.Divergence
	if err := s.begin(ctx, "CheckDivergence"); err != nil {
		return d, err
	}
	if !s.hasData {
		return d, fmt.Errorf("pgtest: check divergence of %s: %w", s.name, pg.ErrNoDataDir)
	}
	if s.state == pg.StateRunning && !s.standby {
		return d, fmt.Errorf("pgtest: check divergence: a running primary must be demoted first: %w", pg.ErrNotReplica)
	}
	up, err := s.net.reach(s, upstream)
	if err != nil {
		return d, fmt.Errorf("pgtest: check divergence of %s: %w", s.name, err)
	}
	if up.sysID != s.sysID {
		return d, fmt.Errorf("pgtest: local system identifier %d, upstream %d: %w", s.sysID, up.sysID, pg.ErrSystemIDMismatch)
	}
	isReplica := s.standby
	if !isReplica {
		s.crashRecovery()
	}
	d.LocalTimeline, d.LocalLSN = s.tli(), s.end()
	if !isReplica {
		d.LocalLSN = s.ckpt
	}
	d.UpstreamTimeline = up.tli()
	switch {
	case d.LocalTimeline > d.UpstreamTimeline:
		d.Diverged, d.Reason = true, fmt.Sprintf("local timeline %d is ahead of upstream timeline %d", d.LocalTimeline, d.UpstreamTimeline)
		return d, nil
	case d.LocalTimeline == d.UpstreamTimeline:
		d.Reason = "same timeline as upstream"
		return d, nil
	}
	found := false
	for _, g := range up.segs[:len(up.segs)-1] {
		if g.tli == d.LocalTimeline {
			d.SwitchPoint, found = g.end, true
		}
	}
	switch {
	case !found:
		d.Diverged, d.Reason = true, fmt.Sprintf("local timeline %d is not in the history of upstream timeline %d", d.LocalTimeline, d.UpstreamTimeline)
	case isReplica:
		d.Diverged = d.LocalLSN > d.SwitchPoint
		d.Reason = fmt.Sprintf("replayed up to %s, upstream left timeline %d at %s", d.LocalLSN, d.LocalTimeline, d.SwitchPoint)
	case d.LocalLSN >= d.SwitchPoint:
		d.Diverged = true
		d.Reason = fmt.Sprintf("last checkpoint %s is at or after the switch point %s", d.LocalLSN, d.SwitchPoint)
	default:
		d.Diverged = s.end() != d.SwitchPoint
		d.Reason = fmt.Sprintf("last checkpoint %s ends at %s, upstream left timeline %d at %s", d.LocalLSN, s.end(), d.LocalTimeline, d.SwitchPoint)
	}
	return d, nil
}

// Rewind stops the server (fast) if it runs and replaces its WAL and
// timeline history with the upstream's, as pg_rewind followed by the
// replay it forces would; the server is left stopped as a replica with no
// slots. Without SetRewindPossible it fails with pg.ErrRewindImpossible.
func (s *Server) Rewind(ctx context.Context, upstream pg.Upstream) error {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	if err := s.begin(ctx, "Rewind"); err != nil {
		return err
	}
	if upstream.IsZero() {
		return fmt.Errorf("%w: Rewind needs an upstream", pg.ErrInvalidConfig)
	}
	if !s.hasData {
		return fmt.Errorf("pgtest: rewind %s: %w", s.name, pg.ErrNoDataDir)
	}
	if s.noRewind {
		return fmt.Errorf("%w: %s has neither wal_log_hints nor data checksums; re-clone instead", pg.ErrRewindImpossible, s.name)
	}
	s.stop(pg.StopFast)
	if !s.standby {
		s.crashRecovery()
	}
	up, err := s.net.reach(s, upstream)
	if err != nil {
		return fmt.Errorf("pgtest: rewind %s: %w", s.name, err)
	}
	if up.sysID != s.sysID {
		return fmt.Errorf("%w: %w", pg.ErrRewindFailed, pg.ErrSystemIDMismatch)
	}
	s.segs, s.standby, s.slots = slices.Clone(up.segs), true, map[string]pg.LSN{}
	s.cleanStop, s.unclean, s.ckpt = false, false, 0
	return nil
}

// Slots lists the replication slots, sorted by name. A slot is active
// while a replica streams through it.
func (s *Server) Slots(ctx context.Context) ([]pg.Slot, error) {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	if err := s.begin(ctx, "Slots"); err != nil {
		return nil, err
	}
	if err := s.needRunning("list slots"); err != nil {
		return nil, err
	}
	active := map[string]bool{}
	for _, r := range s.downstream() {
		active[r.follow.SlotName] = true
	}
	out := make([]pg.Slot, 0, len(s.slots))
	for name, lsn := range s.slots {
		out = append(out, pg.Slot{Name: name, Type: "physical", Active: active[name], RestartLSN: lsn})
	}
	slices.SortFunc(out, func(a, b pg.Slot) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// CreateSlot creates a physical slot reserving WAL from the current end;
// an existing slot is kept.
func (s *Server) CreateSlot(ctx context.Context, name string) error {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	if err := s.begin(ctx, "CreateSlot"); err != nil {
		return err
	}
	if err := s.needRunning("create slot"); err != nil {
		return err
	}
	if name == "" {
		return fmt.Errorf("%w: empty slot name", pg.ErrInvalidConfig)
	}
	if _, ok := s.slots[name]; !ok {
		s.slots[name] = s.end()
	}
	return nil
}

// DropSlot drops a slot, active or not; a missing slot is not an error.
func (s *Server) DropSlot(ctx context.Context, name string) error {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	if err := s.begin(ctx, "DropSlot"); err != nil {
		return err
	}
	if err := s.needRunning("drop slot"); err != nil {
		return err
	}
	delete(s.slots, name)
	return nil
}

// SetSynchronousStandbyNames sets the synchronous standbys and releases the
// waiting commits the new setting covers (all of them when it is empty).
func (s *Server) SetSynchronousStandbyNames(ctx context.Context, v pg.SyncStandbys) error {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	if err := s.begin(ctx, "SetSynchronousStandbyNames"); err != nil {
		return err
	}
	if err := s.needRunning("set synchronous_standby_names"); err != nil {
		return err
	}
	if len(v.Names) > 0 {
		if v.Method == "" {
			v.Method = pg.SyncFirst
		}
		if v.Method != pg.SyncFirst && v.Method != pg.SyncAny {
			return fmt.Errorf("%w: SyncStandbys.Method must be FIRST or ANY, got %q", pg.ErrInvalidConfig, v.Method)
		}
		if v.Num < 1 || v.Num > len(v.Names) {
			return fmt.Errorf("%w: SyncStandbys.Num must be 1..%d, got %d", pg.ErrInvalidConfig, len(v.Names), v.Num)
		}
	}
	v.Names = slices.Clone(v.Names)
	s.sync = v
	s.releaseCommits()
	return nil
}

// Checkpoint needs a running server and otherwise does nothing: positions
// in the simulation never depend on checkpoints taken while running.
func (s *Server) Checkpoint(ctx context.Context) error {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	if err := s.begin(ctx, "Checkpoint"); err != nil {
		return err
	}
	return s.needRunning("checkpoint")
}

// Fence stops a running server immediately (no shutdown checkpoint);
// operations never run concurrently in the simulation, so there is
// nothing to cut short.
func (s *Server) Fence(ctx context.Context) error {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	if err := s.begin(ctx, "Fence"); err != nil {
		return err
	}
	s.stop(pg.StopImmediate)
	return nil
}

// ShutdownCheckpoint returns where the shutdown checkpoint of a cleanly
// stopped primary starts; otherwise an error wrapping
// pg.ErrNotCleanlyStopped.
func (s *Server) ShutdownCheckpoint(ctx context.Context) (pg.LSN, error) {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	if err := s.begin(ctx, "ShutdownCheckpoint"); err != nil {
		return 0, err
	}
	if s.state != pg.StateStopped || !s.cleanStop {
		return 0, fmt.Errorf("pgtest: %s (state %s, replica %t): %w", s.name, s.state, s.standby, pg.ErrNotCleanlyStopped)
	}
	return s.ckpt, nil
}

// The methods below are called with net.mu held.

// begin checks ctx and consumes an injected fault for method.
func (s *Server) begin(ctx context.Context, method string) error {
	s.fenceDue()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pgtest: %s %s: %w", s.name, method, err)
	}
	if err, ok := s.faults[method]; ok {
		delete(s.faults, method)
		return fmt.Errorf("pgtest: %s %s: injected: %w", s.name, method, err)
	}
	return nil
}

func (s *Server) needRunning(what string) error {
	if s.state != pg.StateRunning {
		return fmt.Errorf("pgtest: %s on %s: %w", what, s.name, pg.ErrNotRunning)
	}
	return nil
}

func (s *Server) end() pg.LSN {
	if len(s.segs) == 0 {
		return 0
	}
	return s.segs[len(s.segs)-1].end
}

func (s *Server) tli() uint32 {
	if len(s.segs) == 0 {
		return 0
	}
	return s.segs[len(s.segs)-1].tli
}

func (s *Server) appendWAL(n pg.LSN) {
	s.segs[len(s.segs)-1].end += n
}

// wipe forgets the data directory.
func (s *Server) wipe() {
	s.hasData, s.sysID, s.segs, s.standby = false, 0, nil, false
	s.follow, s.sync, s.slots = pg.FollowConfig{}, pg.SyncStandbys{}, map[string]pg.LSN{}
	s.ckpt, s.cleanStop, s.unclean = 0, false, false
}

// run marks the server running.
func (s *Server) run() {
	s.state, s.started, s.streaming = pg.StateRunning, s.net.clk.Now(), false
	// The fence stays armed: pglocal.Local's keeper stops, at a deadline whose
	// postmaster has exited, the one running in the data directory then.
}

func (s *Server) start() error {
	if s.state == pg.StateRunning {
		return fmt.Errorf("pgtest: start %s: %w", s.name, pg.ErrAlreadyRunning)
	}
	if !s.hasData {
		return fmt.Errorf("pgtest: start %s: %w", s.name, pg.ErrNoDataDir)
	}
	if !s.standby {
		s.crashRecovery()
	}
	s.cleanStop = false
	s.run()
	return nil
}

// crashRecovery writes the end-of-recovery checkpoint of a primary that
// stopped uncleanly. It writes on the old timeline: if another server was
// promoted off it meanwhile, this server has now diverged.
func (s *Server) crashRecovery() {
	if !s.unclean {
		return
	}
	s.ckpt = s.end()
	s.appendWAL(checkpointRecord)
	s.unclean = false
}

// stop stops a running server, or turns a crashed one into a stopped one.
func (s *Server) stop(mode pg.StopMode) {
	if s.state != pg.StateRunning {
		if s.state != pg.StateStopped {
			s.state = pg.StateStopped
		}
		return
	}
	s.abandonCommits()
	switch {
	case s.standby:
	case mode == pg.StopImmediate:
		s.unclean, s.cleanStop = true, false
	default:
		s.ckpt = s.end()
		s.appendWAL(checkpointRecord)
		s.cleanStop, s.unclean = true, false
		// Walsenders send everything, the shutdown checkpoint included,
		// before the postmaster exits: the basis of a switchover without
		// loss.
		for _, r := range s.net.servers {
			if hostPort(r.follow.Upstream) == s.addr {
				r.streamUpTo(0)
			}
		}
	}
	s.state, s.streaming = pg.StateStopped, false
}

func (s *Server) becomeReplica(mode pg.StopMode, cfg pg.FollowConfig, restart bool) error {
	if !s.hasData {
		return fmt.Errorf("pgtest: follow %s: %w", s.name, pg.ErrNoDataDir)
	}
	if hostPort(cfg.Upstream) == s.addr {
		return fmt.Errorf("%w: %s cannot follow itself", pg.ErrInvalidConfig, s.name)
	}
	if s.state == pg.StateRunning && (!s.standby || restart) {
		s.stop(mode)
	}
	s.standby, s.follow, s.streaming = true, cfg, false
	if s.state == pg.StateRunning {
		return nil
	}
	return s.start()
}

// FollowConfig returns what the server was last told to follow (zero for
// a primary or a server that never followed), so that a test can check
// what the HA loop asked for, such as a standby leader's recovery
// settings.
func (s *Server) FollowConfig() pg.FollowConfig {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	cfg := s.follow
	cfg.Recovery = maps.Clone(cfg.Recovery)
	return cfg
}

// appName is the name s has in its upstream's synchronous_standby_names.
func (s *Server) appName() string {
	if s.follow.ApplicationName != "" {
		return s.follow.ApplicationName
	}
	return s.name
}

// stream moves WAL from s's upstream to s, when s is a running replica
// whose upstream is reachable, running, of the same system, has the slot s
// names, and holds WAL of which s's is a prefix. It reports whether WAL
// moved.
func (s *Server) stream() bool { return s.streamUpTo(s.net.bandwidth) }

// streamUpTo is stream moving at most limit bytes (0: no limit).
func (s *Server) streamUpTo(limit pg.LSN) bool {
	s.streaming = false
	if s.state != pg.StateRunning || !s.standby || s.follow.Upstream.IsZero() || s.isolated {
		return false
	}
	up := s.net.byAddr[hostPort(s.follow.Upstream)]
	if up == nil || up == s || up.isolated || up.state != pg.StateRunning || up.sysID != s.sysID {
		return false
	}
	if slot := s.follow.SlotName; slot != "" {
		if _, ok := up.slots[slot]; !ok {
			return false
		}
	}
	if !isPrefix(s.segs, up.segs) {
		return false
	}
	moved := s.end() != up.end() || len(s.segs) != len(up.segs)
	s.segs = receive(s.segs, up.segs, limit)
	now := s.net.clk.Now()
	s.streaming, s.lastMsg, s.latestEnd = true, now, up.end()
	if moved {
		s.lastReplay = now
	}
	if slot := s.follow.SlotName; slot != "" {
		up.slots[slot] = s.end()
	}
	return moved
}

// receive returns the WAL a replica holding have has after receiving at
// most limit bytes (0: all) of up, of which have is a prefix.
func receive(have, up []segment, limit pg.LSN) []segment {
	out := slices.Clone(up)
	if limit <= 0 || len(have) == 0 {
		return out
	}
	pos := have[len(have)-1].end
	for i := len(have) - 1; i < len(out); i++ {
		if out[i].end-pos > limit {
			out[i].end = pos + limit
			return out[:i+1]
		}
		limit -= out[i].end - pos
		pos = out[i].end
	}
	return out
}

// isPrefix reports whether WAL a is a prefix of WAL b: the same segments,
// with a's last one possibly shorter.
func isPrefix(a, b []segment) bool {
	if len(a) > len(b) {
		return false
	}
	for i, g := range a {
		h := b[i]
		if g.branch != h.branch || g.tli != h.tli {
			return false
		}
		if (i < len(a)-1 && g.end != h.end) || g.end > h.end {
			return false
		}
	}
	return true
}

// downstream returns the running replicas streaming from s, in creation
// order.
func (s *Server) downstream() []*Server {
	var out []*Server
	for _, r := range s.net.servers {
		if r.streaming && r.state == pg.StateRunning && hostPort(r.follow.Upstream) == s.addr {
			out = append(out, r)
		}
	}
	return out
}

// syncPriority is r's 1-based position in s's synchronous_standby_names, 0
// when not listed. Matching is case-insensitive and "*" matches anyone, as
// in PostgreSQL.
func (s *Server) syncPriority(r *Server) int {
	for i, n := range s.sync.Names {
		if n == "*" || strings.EqualFold(n, r.appName()) {
			return i + 1
		}
	}
	return 0
}

// syncSet returns the standbys whose flush positions decide commit release:
// for FIRST k the (at most) k highest-priority connected listed standbys,
// for ANY k all connected listed standbys.
func (s *Server) syncSet() []*Server {
	var listed []*Server
	for _, r := range s.downstream() {
		if s.syncPriority(r) > 0 {
			listed = append(listed, r)
		}
	}
	if s.sync.Method == pg.SyncAny {
		return listed
	}
	slices.SortStableFunc(listed, func(a, b *Server) int { return s.syncPriority(a) - s.syncPriority(b) })
	return listed[:min(len(listed), s.sync.Num)]
}

// replicationRows is pg_stat_replication.
func (s *Server) replicationRows() []pg.Replication {
	down := s.downstream()
	if len(down) == 0 {
		return nil
	}
	chosen := map[*Server]bool{}
	for _, r := range s.syncSet() {
		chosen[r] = true
	}
	rows := make([]pg.Replication, 0, len(down))
	for i, r := range down {
		row := pg.Replication{
			PID: 1000 + i, User: "replicator", ApplicationName: r.appName(), ClientAddr: r.name,
			State: "streaming", SyncState: "async",
			SentLSN: r.end(), WriteLSN: r.end(), FlushLSN: r.end(), ReplayLSN: r.end(),
		}
		if p := s.syncPriority(r); p > 0 && len(s.sync.Names) > 0 {
			switch {
			case s.sync.Method == pg.SyncAny:
				row.SyncState, row.SyncPriority = "quorum", 1
			case chosen[r]:
				row.SyncState, row.SyncPriority = "sync", p
			default:
				row.SyncState, row.SyncPriority = "potential", p
			}
		}
		rows = append(rows, row)
	}
	slices.SortFunc(rows, func(a, b pg.Replication) int { return strings.Compare(a.ApplicationName, b.ApplicationName) })
	return rows
}
