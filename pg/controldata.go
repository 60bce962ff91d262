package pg

import (
	"bufio"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// controlData is the part of pg_controldata output that rewind needs.
type controlData struct {
	systemID       uint64
	state          string // "shut down", "shut down in recovery", "in production", ...
	checkpoint     LSN
	checkpointTLI  uint32
	minRecovery    LSN
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

// parseControlData parses pg_controldata output (run with LC_ALL=C).
func parseControlData(out string) (controlData, error) {
	kv := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok {
			kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	var cd controlData
	var err error
	get := func(key string) string {
		v, ok := kv[key]
		if !ok && err == nil {
			err = fmt.Errorf("pg_controldata output lacks %q", key)
		}
		return v
	}
	lsn := func(key string) LSN {
		v := get(key)
		if err != nil {
			return 0
		}
		l, e := ParseLSN(v)
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
	cd.systemID = num("Database system identifier")
	cd.state = get("Database cluster state")
	cd.checkpoint = lsn("Latest checkpoint location")
	cd.checkpointTLI = uint32(num("Latest checkpoint's TimeLineID"))
	cd.minRecovery = lsn("Minimum recovery ending location")
	cd.minRecoveryTLI = uint32(num("Min recovery ending loc's timeline"))
	cd.walLogHints = get("wal_log_hints setting") == "on"
	cd.checksums = num("Data page checksum version") != 0
	return cd, err
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

// historyEntry is one line of a timeline history file: timeline tli ended
// at switchPoint, where its child timeline began.
type historyEntry struct {
	tli         uint32
	switchPoint LSN
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
		sp, err := ParseLSN(f[1])
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
func parseCheckpointEnd(out string) (LSN, error) {
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
		return ParseLSN(lsns[1])
	}
	if len(lsns) == 1 && errLine != "" {
		all := waldumpAnyLSN.FindAllString(errLine, -1)
		if len(all) >= 2 {
			return ParseLSN(all[len(all)-1])
		}
	}
	return 0, fmt.Errorf("pg: cannot find the end of the checkpoint record in pg_waldump output: %s", tail(out, 500))
}
