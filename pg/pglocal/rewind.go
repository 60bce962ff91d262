package pglocal

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgha/pgha/pg"
)

// CheckDivergence decides whether the local data has left the upstream's
// history, following Patroni's rule (reference §2.10). Local data is
// diverged when its timeline is ahead of the upstream's, or missing from
// the upstream's timeline history, or when it went past the point where
// the upstream's history branched off the local timeline: for a replica,
// its replay position is beyond that switch point; for a former primary,
// its last checkpoint is at or beyond it, or does not end exactly there.
//
// A running replica is judged by Status: its replay position and, while
// no WAL receiver runs, the timeline of the WAL it replayed (not its last
// restartpoint's, which would make a replica that already followed a
// promotion look diverged).
//
// The server must be stopped or a running replica. A stopped data
// directory that was not shut down cleanly first gets crash recovery in
// single-user mode, so its last checkpoint can be read.
func (l *Local) CheckDivergence(ctx context.Context, up pg.Upstream) (pg.Divergence, error) {
	l.lockOp()
	defer l.op.Unlock()
	var d pg.Divergence
	var localSysID uint64
	isReplica := false
	checkpointEnd := func() (pg.LSN, error) { return 0, nil }
	if l.runningPID() != 0 {
		st, err := l.Status(ctx)
		if err != nil {
			return d, err
		}
		if st.Role != pg.RoleReplica {
			return d, fmt.Errorf("pg: check divergence: a running primary must be demoted first: %w", pg.ErrNotReplica)
		}
		isReplica, localSysID = true, st.SystemID
		d.LocalTimeline, d.LocalLSN = st.Timeline, st.ReplayLSN
	} else {
		if !l.initialized() {
			return d, fmt.Errorf("pg: check divergence: %w", pg.ErrNoDataDir)
		}
		cd, err := l.cleanControlData(ctx)
		if err != nil {
			return d, err
		}
		localSysID = cd.systemID
		if cd.inRecovery() {
			isReplica = true
			d.LocalTimeline, d.LocalLSN = cd.minRecoveryTLI, cd.minRecovery
			if d.LocalTimeline == 0 || d.LocalLSN == 0 {
				d.LocalTimeline, d.LocalLSN = cd.checkpointTLI, cd.checkpoint
			}
		} else {
			d.LocalTimeline, d.LocalLSN = cd.checkpointTLI, cd.checkpoint
			checkpointEnd = func() (pg.LSN, error) { return l.checkpointEnd(ctx, cd.checkpointTLI, cd.checkpoint) }
		}
	}

	sysID, upTLI, history, err := l.upstreamHistory(ctx, up, d.LocalTimeline)
	if err != nil {
		return d, err
	}
	if sysID != localSysID {
		return d, fmt.Errorf("pg: local system identifier %d, upstream %d: %w", localSysID, sysID, pg.ErrSystemIDMismatch)
	}
	d.UpstreamTimeline = upTLI
	switch {
	case d.LocalTimeline > upTLI:
		d.Diverged, d.Reason = true, fmt.Sprintf("local timeline %d is ahead of upstream timeline %d", d.LocalTimeline, upTLI)
		return d, nil
	case d.LocalTimeline == upTLI:
		d.Reason = "same timeline as upstream"
		return d, nil
	}
	found := false
	for _, h := range history {
		if h.tli == d.LocalTimeline {
			d.SwitchPoint, found = h.switchPoint, true
		}
	}
	if !found {
		d.Diverged, d.Reason = true, fmt.Sprintf("local timeline %d is not in the history of upstream timeline %d", d.LocalTimeline, upTLI)
		return d, nil
	}
	if isReplica {
		d.Diverged = d.LocalLSN > d.SwitchPoint
		d.Reason = fmt.Sprintf("replayed up to %s, upstream left timeline %d at %s", d.LocalLSN, d.LocalTimeline, d.SwitchPoint)
		return d, nil
	}
	if d.LocalLSN >= d.SwitchPoint {
		d.Diverged = true
		d.Reason = fmt.Sprintf("last checkpoint %s is at or after the switch point %s", d.LocalLSN, d.SwitchPoint)
		return d, nil
	}
	end, err := checkpointEnd()
	if err != nil {
		// Unknown end of the shutdown checkpoint: assume the worst.
		d.Diverged, d.Reason = true, err.Error()
		return d, nil
	}
	d.Diverged = end != d.SwitchPoint
	d.Reason = fmt.Sprintf("last checkpoint %s ends at %s, upstream left timeline %d at %s", d.LocalLSN, end, d.LocalTimeline, d.SwitchPoint)
	return d, nil
}

// cleanControlData returns pg_controldata of a stopped data directory,
// running crash recovery in single-user mode first when it was not shut
// down cleanly.
func (l *Local) cleanControlData(ctx context.Context) (controlData, error) {
	cd, err := l.controlData(ctx)
	if err != nil || cd.cleanShutdown() {
		return cd, err
	}
	if err := l.ensureCleanShutdown(ctx, cd.state); err != nil {
		return cd, err
	}
	return l.controlData(ctx)
}

// ensureCleanShutdown runs crash recovery in single-user mode, which ends
// with a checkpoint. Recovery signal files are set aside meanwhile
// (single-user mode cannot run as a standby) and put back afterwards.
func (l *Local) ensureCleanShutdown(ctx context.Context, state string) error {
	l.log.Info("pg: running crash recovery in single-user mode", "cluster_state", state)
	var restore []string
	for _, name := range []string{"standby.signal", "recovery.signal"} {
		p := filepath.Join(l.cfg.DataDir, name)
		if err := os.Rename(p, p+".pgha"); err == nil {
			restore = append(restore, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("pg: set aside %s: %w", name, err)
		}
	}
	defer func() {
		for _, p := range restore {
			if err := os.Rename(p+".pgha", p); err != nil {
				l.log.Error("pg: restoring recovery signal file", "file", p, "err", err)
			}
		}
	}()
	if err := l.writeConfig(); err != nil {
		return err
	}
	if _, err := l.run(ctx, nil, "postgres", "--single", "-D", l.cfg.DataDir,
		"-c", "archive_mode=off", "-c", "hot_standby=off", "template1"); err != nil {
		return fmt.Errorf("pg: single-user crash recovery: %w", err)
	}
	return nil
}

// checkpointEnd reads where the checkpoint record at lsn on timeline tli
// ends, with pg_waldump.
func (l *Local) checkpointEnd(ctx context.Context, tli uint32, lsn pg.LSN) (pg.LSN, error) {
	out, _ := l.run(ctx, nil, "pg_waldump", "-p", filepath.Join(l.cfg.DataDir, "pg_wal"),
		"-t", strconv.FormatUint(uint64(tli), 10), "-s", lsn.String(), "-n", "2")
	return parseCheckpointEnd(out)
}

// upstreamHistory asks the upstream over a replication connection for its
// system identifier and timeline and, when that is newer than localTLI,
// its timeline history.
func (l *Local) upstreamHistory(ctx context.Context, up pg.Upstream, localTLI uint32) (uint64, uint32, []historyEntry, error) {
	cc, err := dialConfig(up.Host, up.Port, l.cfg.Replication, "postgres", 5)
	if err != nil {
		return 0, 0, nil, err
	}
	pc := cc.Config.Copy()
	pc.RuntimeParams["replication"] = "true"
	conn, err := pgconn.ConnectConfig(ctx, pc)
	if err != nil {
		return 0, 0, nil, classify(fmt.Errorf("pg: replication connection to %s:%d: %w", up.Host, up.Port, err))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	sysID, tli, err := identifySystem(ctx, conn)
	if err != nil {
		return 0, 0, nil, err
	}
	if tli <= localTLI || tli <= 1 {
		return sysID, tli, nil, nil
	}
	res, err := conn.Exec(ctx, "TIMELINE_HISTORY "+strconv.FormatUint(uint64(tli), 10)).ReadAll()
	if err != nil {
		return 0, 0, nil, fmt.Errorf("pg: TIMELINE_HISTORY: %w", err)
	}
	if len(res) != 1 || len(res[0].Rows) != 1 || len(res[0].Rows[0]) < 2 {
		return 0, 0, nil, fmt.Errorf("pg: TIMELINE_HISTORY: unexpected result")
	}
	h, err := parseHistory(string(res[0].Rows[0][1]))
	return sysID, tli, h, err
}

// Rewind resynchronizes a former primary (or a replica that went past the
// upstream's switch point) with upstream using pg_rewind, connecting as
// the Rewind role (or the superuser when it has no password). It stops the
// server (fast) if it is running, runs crash recovery first if needed, and
// runs CHECKPOINT on the upstream so pg_rewind sees its new timeline. The
// server is left stopped with standby.signal: call Follow next.
func (l *Local) Rewind(ctx context.Context, up pg.Upstream) error {
	l.lockOp()
	defer l.op.Unlock()
	if up.IsZero() {
		return fmt.Errorf("%w: Rewind needs an upstream", pg.ErrInvalidConfig)
	}
	if !l.initialized() {
		return fmt.Errorf("pg: rewind: %w", pg.ErrNoDataDir)
	}
	cd, err := l.controlData(ctx)
	if err != nil {
		return err
	}
	if !cd.walLogHints && !cd.checksums {
		return fmt.Errorf("%w: %s has neither wal_log_hints nor data checksums; re-clone instead", pg.ErrRewindImpossible, l.cfg.DataDir)
	}
	if err := l.stop(ctx, pg.StopFast); err != nil {
		return err
	}
	if _, err := l.cleanControlData(ctx); err != nil {
		return err
	}
	cred := l.cfg.Rewind
	if cred.Password == "" {
		cred = l.cfg.Superuser
	}
	if err := checkpointUpstream(ctx, up, cred); err != nil {
		return err
	}
	dsn := conninfo("host", up.Host, "port", strconv.Itoa(up.Port), "user", cred.Username,
		"dbname", "postgres", "connect_timeout", "5")
	major := l.dataMajorVersion()
	args := rewindArgs(l.cfg.DataDir, dsn, l.cfg.RecoveryConf["restore_command"], major)
	if slices.Contains(args, "--restore-target-wal") {
		// pg_rewind reads restore_command from the target's configuration
		// (postgres -C), so it must be in pgha.conf now, before pg_rewind
		// replaces the configuration files with the source's.
		if err := l.writeConfigAs(true); err != nil {
			return err
		}
	} else if l.cfg.RecoveryConf["restore_command"] != "" {
		l.log.Warn("pg: restore_command is set but pg_rewind of this version has no --restore-target-wal (PostgreSQL 13 or later); WAL the target removed cannot come from the archive", "major_version", major)
	}
	l.log.Info("pg: running pg_rewind", "upstream", fmt.Sprintf("%s:%d", up.Host, up.Port), "restore_target_wal", slices.Contains(args, "--restore-target-wal"))
	if out, err := l.run(ctx, []string{"PGPASSWORD=" + cred.Password}, "pg_rewind", args...); err != nil {
		if cause := rewindWALMissing(out); cause != "" {
			return fmt.Errorf("%w: %s: %w", pg.ErrRewindFailed, cause, err)
		}
		return fmt.Errorf("%w: %w", pg.ErrRewindFailed, err)
	}
	// Slots copied from the source describe its replicas, not ours.
	slots := filepath.Join(l.cfg.DataDir, "pg_replslot")
	if entries, err := os.ReadDir(slots); err == nil {
		for _, e := range entries {
			os.RemoveAll(filepath.Join(slots, e.Name()))
		}
	}
	l.mu.Lock()
	l.conf = confState{}
	l.mu.Unlock()
	if err := l.setStandbySignal(true); err != nil {
		return err
	}
	l.log.Info("pg: rewind finished")
	return nil
}

// rewindArgs is pg_rewind's argument list. With a restore_command on
// PostgreSQL 13 or later (major, from PG_VERSION; 0 when unknown counts as
// recent) it adds --restore-target-wal, so WAL segments the target has
// already removed from pg_wal are fetched from the archive, as Patroni
// does. pgha.conf lives inside the data directory, which is what
// PostgreSQL 13 and 14 need for it.
func rewindArgs(dataDir, dsn, restoreCommand string, major int) []string {
	args := []string{"-D", dataDir, "--source-server=" + dsn}
	if strings.TrimSpace(restoreCommand) != "" && (major == 0 || major >= 13) {
		args = append(args, "--restore-target-wal")
	}
	return args
}

// dataMajorVersion is the major version in the data directory's
// PG_VERSION, or 0 when it cannot be read.
func (l *Local) dataMajorVersion() int {
	b, err := os.ReadFile(filepath.Join(l.cfg.DataDir, "PG_VERSION"))
	if err != nil {
		return 0
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return v
}

// checkpointUpstream runs CHECKPOINT on the rewind source: right after a
// promotion its control file still names the old timeline, and pg_rewind
// would wrongly conclude that no rewind is needed.
func checkpointUpstream(ctx context.Context, up pg.Upstream, cred Credentials) error {
	cc, err := dialConfig(up.Host, up.Port, cred, "postgres", 5)
	if err != nil {
		return err
	}
	c, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return classify(fmt.Errorf("pg: rewind: connect to source: %w", err))
	}
	defer c.Close(context.WithoutCancel(ctx))
	if _, err := c.Exec(ctx, "CHECKPOINT"); err != nil {
		return classify(fmt.Errorf("pg: rewind: CHECKPOINT on source: %w", err))
	}
	return nil
}

// rewindWALMissing explains pg_rewind output that says the target's own
// WAL is incomplete, or returns "". pg_rewind reads the target's WAL
// backwards from the point where the source's history left the target's
// timeline to the last checkpoint before it, then forwards to the target's
// end of WAL; a segment in that range that is gone from pg_wal (removed or
// recycled by a checkpoint or restartpoint once it was older than
// wal_keep_size and no slot held it) fails the rewind while it is still
// reading, before it has changed any file.
func rewindWALMissing(out string) string {
	for _, msg := range []string{"could not find previous WAL record", "could not read WAL record", "could not find WAL record"} {
		if strings.Contains(out, msg) {
			return "the target lacks WAL between the last common checkpoint and its end of WAL in pg_wal " +
				"(removed or recycled; raise wal_keep_size, or set RecoveryConf restore_command so pg_rewind can fetch it " +
				"with --restore-target-wal); re-clone instead (RemoveData, then Clone)"
		}
	}
	if strings.Contains(out, "could not open file") && strings.Contains(out, "pg_wal") {
		return "a WAL segment of the target is missing from pg_wal; re-clone instead (RemoveData, then Clone)"
	}
	return ""
}
