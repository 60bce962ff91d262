package pglocal

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/pgha/pgha/pg"
)

// controlData is the part of pg_controldata output that rewind needs.
type controlData struct {
	systemID       uint64
	state          string // "shut down", "shut down in recovery", "in production", ...
	checkpoint     pg.LSN
	checkpointTLI  uint32
	minRecovery    pg.LSN
	minRecoveryTLI uint32
	walLogHints    bool
	checksums      bool
}

// cleanShutdown reports whether the cluster was shut down cleanly (the
// precondition of pg_rewind and of reading the checkpoint record).
func (cd controlData) cleanShutdown() bool {
	return cd.state == "shut down" || cd.state == "shut down in recovery"
}

// inRecovery reports whether the data directory belongs to a replica.
func (cd controlData) inRecovery() bool {
	return cd.state == "shut down in recovery" || cd.state == "in archive recovery"
}

// parseControlDataFields parses pg_controldata output into its fields,
// "Database cluster state" -> "shut down". The names are English only when
// pg_controldata runs with LC_ALL=C (Local.command sets it); a translated
// output parses, but lacks the names that callers look up. Output with no
// "name: value" line at all is an error.
func parseControlDataFields(out string) (map[string]string, error) {
	kv := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if k = strings.TrimSpace(k); ok && k != "" {
			kv[k] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("pg_controldata output: %w", err)
	}
	if len(kv) == 0 {
		return nil, fmt.Errorf("pg_controldata output has no fields: %q", tail(out, 200))
	}
	return kv, nil
}

// controlDataField returns a field that must be present.
func controlDataField(kv map[string]string, key string) (string, error) {
	v, ok := kv[key]
	if !ok {
		return "", fmt.Errorf("pg_controldata output lacks %q (not run with LC_ALL=C?)", key)
	}
	return v, nil
}

// parseControlData parses pg_controldata output (run with LC_ALL=C).
func parseControlData(out string) (controlData, error) {
	kv, err := parseControlDataFields(out)
	if err != nil {
		return controlData{}, err
	}
	get := func(key string) string {
		if err != nil {
			return ""
		}
		var v string
		v, err = controlDataField(kv, key)
		return v
	}
	lsn := func(key string) pg.LSN {
		v := get(key)
		if err != nil {
			return 0
		}
		l, e := pg.ParseLSN(v)
		if e != nil {
			err = fmt.Errorf("pg_controldata %q: %w", key, e)
		}
		return l
	}
	num := func(key string) uint64 {
		v := get(key)
		if err != nil {
			return 0
		}
		n, e := strconv.ParseUint(v, 10, 64)
		if e != nil {
			err = fmt.Errorf("pg_controldata %q: %w", key, e)
		}
		return n
	}
	var cd controlData
	cd.systemID = num("Database system identifier")
	cd.state = get("Database cluster state")
	cd.checkpoint = lsn("Latest checkpoint location")
	cd.checkpointTLI = uint32(num("Latest checkpoint's TimeLineID"))
	cd.minRecovery = lsn("Minimum recovery ending location")
	cd.minRecoveryTLI = uint32(num("Min recovery ending loc's timeline"))
	cd.walLogHints = get("wal_log_hints setting") == "on"
	cd.checksums = num("Data page checksum version") != 0
	if err != nil {
		return controlData{}, err
	}
	return cd, nil
}

func (l *Local) controlData(ctx context.Context) (controlData, error) {
	out, err := l.run(ctx, nil, "pg_controldata", "-D", l.cfg.DataDir)
	if err != nil {
		return controlData{}, fmt.Errorf("pg: %w", err)
	}
	cd, err := parseControlData(out)
	if err != nil {
		return controlData{}, fmt.Errorf("pg: %w", err)
	}
	return cd, nil
}

// stateShutDown is the cluster state of a primary that stopped cleanly
// (smart or fast): its last checkpoint is its shutdown checkpoint.
const stateShutDown = "shut down"

// shutdownCheckpointOf returns the latest checkpoint location from parsed
// pg_controldata output when the cluster state is "shut down", else an
// error wrapping ErrNotCleanlyStopped. "shut down in recovery" (a replica)
// does not count: its checkpoint is a restartpoint, not a record it wrote.
func shutdownCheckpointOf(kv map[string]string) (pg.LSN, error) {
	state, err := controlDataField(kv, "Database cluster state")
	if err != nil {
		return 0, err
	}
	if state != stateShutDown {
		return 0, fmt.Errorf("pg: database cluster state is %q, not %q: %w", state, stateShutDown, pg.ErrNotCleanlyStopped)
	}
	v, err := controlDataField(kv, "Latest checkpoint location")
	if err != nil {
		return 0, err
	}
	lsn, err := pg.ParseLSN(v)
	if err != nil {
		return 0, fmt.Errorf("pg_controldata %q: %w", "Latest checkpoint location", err)
	}
	if lsn == 0 {
		return 0, fmt.Errorf("pg_controldata: latest checkpoint location 0/0 in a cluster that was shut down")
	}
	return lsn, nil
}

var _ pg.ControlDataReader = (*Local)(nil)

// ShutdownCheckpoint runs pg_controldata on the data directory and returns
// the location of the shutdown checkpoint of a cleanly stopped primary;
// see [ControlDataReader]. It neither needs nor takes the lock that
// operations changing the server hold, so it can run right after Stop
// returns whatever else is queued. The control file of a running server
// says "in production" (or "in archive recovery"): ErrNotCleanlyStopped.
func (l *Local) ShutdownCheckpoint(ctx context.Context) (pg.LSN, error) {
	if !l.initialized() {
		return 0, fmt.Errorf("pg: shutdown checkpoint: %w", pg.ErrNoDataDir)
	}
	out, err := l.run(ctx, nil, "pg_controldata", "-D", l.cfg.DataDir)
	if err != nil {
		return 0, fmt.Errorf("pg: %w", err)
	}
	kv, err := parseControlDataFields(out)
	if err != nil {
		return 0, fmt.Errorf("pg: %w", err)
	}
	lsn, err := shutdownCheckpointOf(kv)
	if err != nil && !errors.Is(err, pg.ErrNotCleanlyStopped) {
		return 0, fmt.Errorf("pg: %w", err)
	}
	return lsn, err
}

// historyEntry is one line of a timeline history file: timeline tli ended
// at switchPoint, where its child timeline began.
type historyEntry struct {
	tli         uint32
	switchPoint pg.LSN
}

// parseHistory parses a timeline history file ("1\t0/3000060\treason").
func parseHistory(content string) ([]historyEntry, error) {
	var out []historyEntry
	for _, line := range strings.Split(content, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			return nil, fmt.Errorf("pg: malformed timeline history line %q", line)
		}
		tli, err := strconv.ParseUint(f[0], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("pg: malformed timeline history line %q: %w", line, err)
		}
		sp, err := pg.ParseLSN(f[1])
		if err != nil {
			return nil, fmt.Errorf("pg: malformed timeline history line %q: %w", line, err)
		}
		out = append(out, historyEntry{uint32(tli), sp})
	}
	return out, nil
}

var (
	waldumpRecordLSN = regexp.MustCompile(`lsn: ([0-9A-Fa-f]+/[0-9A-Fa-f]+)`)
	waldumpAnyLSN    = regexp.MustCompile(`([0-9A-Fa-f]+/[0-9A-Fa-f]+)`)
)

// parseCheckpointEnd finds where the record starting at the checkpoint ends
// in `pg_waldump -s <checkpoint> -n 2` output: the start of the second
// record, or, when there is none (a clean shutdown checkpoint is the last
// record), the position of the read error ("invalid record length at X").
func parseCheckpointEnd(out string) (pg.LSN, error) {
	var lsns []string
	var errLine string
	for _, line := range strings.Split(out, "\n") {
		if m := waldumpRecordLSN.FindStringSubmatch(line); m != nil {
			lsns = append(lsns, m[1])
		} else if strings.Contains(line, "error in WAL record at") {
			errLine = line
		}
	}
	if len(lsns) >= 2 {
		return pg.ParseLSN(lsns[1])
	}
	if len(lsns) == 1 && errLine != "" {
		all := waldumpAnyLSN.FindAllString(errLine, -1)
		if len(all) >= 2 {
			return pg.ParseLSN(all[len(all)-1])
		}
	}
	return 0, fmt.Errorf("pg: cannot find the end of the checkpoint record in pg_waldump output: %s", tail(out, 500))
}
