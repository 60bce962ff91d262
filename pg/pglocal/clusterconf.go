package pglocal

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgha/pgha/pg"
)

// guardedValues are values of parameters HA depends on that the cluster's
// configuration may not set: a replica must be readable and followable,
// and pg_rewind needs hint bits in the WAL.
var guardedValues = map[string][]string{
	"hot_standby":   {"off", "false", "no", "0"},
	"wal_level":     {"minimal"},
	"wal_log_hints": {"off", "false", "no", "0"},
}

var _ pg.ClusterConfigurer = (*Local)(nil)

// reloadWait bounds the wait for the server to re-read its configuration
// after a reload.
const reloadWait = 5 * time.Second

// ApplyClusterConfig implements [ClusterConfigurer]. Each parameter is
// first checked by the postgres binary itself (postgres -C), and one it
// refuses (an unknown name, an invalid value) is left out with a warning:
// one bad `edit-config` must not keep the server from starting next time.
func (l *Local) ApplyClusterConfig(ctx context.Context, cc pg.ClusterConfig) (pg.ConfigResult, error) {
	cc, res := l.screenClusterConfig(cc)
	refused, err := l.checkParams(ctx, cc.Parameters)
	if err != nil {
		return res, fmt.Errorf("pg: apply cluster config: %w", err)
	}
	for _, name := range slices.Sorted(maps.Keys(refused)) {
		delete(cc.Parameters, name)
		res.Warnings = append(res.Warnings, fmt.Sprintf("parameter %s: refused by PostgreSQL, not applied: %s", name, refused[name]))
	}
	l.lockOp()
	defer l.op.Unlock()
	l.mu.Lock()
	l.cluster = cc
	l.mu.Unlock()
	if l.runningPID() == 0 {
		// Written by the next start.
		return res, nil
	}
	err = l.reloadAndCheck(ctx, &res)
	return res, err
}

// ApplyLocalParameters replaces the member's own parameters
// (Config.Parameters), as a reloaded patroni.yml gives them, and
// reloads a running server the same way ApplyClusterConfig does. Unlike
// the cluster's, they are the operator's own file: a parameter that is
// managed or that the postgres binary refuses fails the whole call with
// ErrInvalidConfig, and nothing changes.
func (l *Local) ApplyLocalParameters(ctx context.Context, params map[string]string) (pg.ConfigResult, error) {
	var res pg.ConfigResult
	for _, name := range slices.Sorted(maps.Keys(params)) {
		if err := validParamName(name); err != nil {
			return res, fieldErr("Parameters["+name+"]", "%v", err)
		}
		if owner, ok := managedParams[name]; ok {
			return res, fieldErr("Parameters["+name+"]", "managed by pgha (use %s)", owner)
		}
		if err := validParamValue(params[name]); err != nil {
			return res, fieldErr("Parameters["+name+"]", "%v", err)
		}
	}
	refused, err := l.checkParams(ctx, params)
	if err != nil {
		return res, fmt.Errorf("pg: apply local parameters: %w", err)
	}
	if len(refused) > 0 {
		name := slices.Sorted(maps.Keys(refused))[0]
		return res, fieldErr("Parameters["+name+"]", "refused by PostgreSQL: %s", refused[name])
	}
	l.lockOp()
	defer l.op.Unlock()
	l.mu.Lock()
	l.local = maps.Clone(params)
	l.mu.Unlock()
	if l.runningPID() == 0 {
		return res, nil
	}
	err = l.reloadAndCheck(ctx, &res)
	return res, err
}

// checkParams asks the postgres binary which of params it refuses, with
// its message. All of them are tried in one run first; only when that
// fails is each tried alone. A failure that names no parameter (the binary
// cannot run) is an error, so that nothing is dropped for it.
func (l *Local) checkParams(ctx context.Context, params map[string]string) (map[string]string, error) {
	if len(params) == 0 {
		return nil, nil
	}
	if _, ok, err := l.postgresAccepts(ctx, params); ok || err != nil {
		return nil, err
	}
	refused := map[string]string{}
	for name, v := range params {
		msg, ok, err := l.postgresAccepts(ctx, map[string]string{name: v})
		if err != nil {
			return nil, err
		}
		if !ok {
			refused[name] = msg
		}
	}
	return refused, nil
}

// postgresAccepts runs `postgres -C` with params on the command line and
// an empty configuration file: the server's own parser checks names,
// types, units and ranges without touching any data directory (-D names
// the socket directory only because postgres wants an existing one). It
// reports false with the server's message when that message names one of
// params.
func (l *Local) postgresAccepts(ctx context.Context, params map[string]string) (string, bool, error) {
	args := []string{"--config-file=/dev/null", "-D", l.cfg.SocketDir, "-C", "port"}
	for _, name := range slices.Sorted(maps.Keys(params)) {
		args = append(args, "-c", name+"="+params[name])
	}
	out, err := l.run(ctx, nil, "postgres", args...)
	if err == nil {
		return "", true, nil
	}
	for _, line := range strings.Split(out, "\n") {
		_, msg, ok := strings.Cut(line, "FATAL:")
		if !ok {
			continue
		}
		msg = strings.TrimSpace(msg)
		for name := range params {
			if strings.Contains(msg, `"`+name+`"`) {
				return msg, false, nil
			}
		}
	}
	return "", false, fmt.Errorf("check parameters with postgres -C: %w", err)
}

// screenClusterConfig returns cc without what may not reach the server,
// with a warning for each item left out.
func (l *Local) screenClusterConfig(cc pg.ClusterConfig) (pg.ClusterConfig, pg.ConfigResult) {
	var res pg.ConfigResult
	l.mu.Lock()
	local := l.local
	l.mu.Unlock()
	out := pg.ClusterConfig{Parameters: map[string]string{}}
	for _, name := range slices.Sorted(maps.Keys(cc.Parameters)) {
		v := cc.Parameters[name]
		warn := func(format string, args ...any) {
			res.Warnings = append(res.Warnings, fmt.Sprintf("parameter %s: ", name)+fmt.Sprintf(format, args...))
		}
		if err := validParamName(name); err != nil {
			warn("%v", err)
			continue
		}
		if owner, ok := managedParams[name]; ok {
			warn("managed by pgha (%s), not applied", owner)
			continue
		}
		if err := validParamValue(v); err != nil {
			warn("%v", err)
			continue
		}
		if slices.Contains(guardedValues[name], strings.ToLower(strings.TrimSpace(v))) {
			warn("value %q would break replication or rewind, not applied", v)
			continue
		}
		if lv, ok := local[name]; ok && !slices.Contains(pg.SharedParameters, name) && lv != v {
			warn("the local configuration's value %q wins over the cluster's %q", lv, v)
		}
		out.Parameters[name] = v
	}
	for name, lv := range local {
		if cv, ok := out.Parameters[name]; ok && slices.Contains(pg.SharedParameters, name) && lv != cv {
			res.Warnings = append(res.Warnings, fmt.Sprintf(
				"parameter %s: every member must share it; the cluster's value %q wins over the local %q", name, cv, lv))
		}
	}
	out.HBA = screenLines("pg_hba", cc.HBA, &res)
	if len(l.cfg.HBA) > 0 && len(out.HBA) > 0 && !slices.Equal(l.cfg.HBA, out.HBA) {
		res.Warnings = append(res.Warnings, "pg_hba: the local configuration's lines win over the cluster's")
	}
	out.Ident = screenLines("pg_ident", cc.Ident, &res)
	slices.Sort(res.Warnings)
	return out, res
}

// screenLines keeps the lines that can be written to a configuration file
// as one line each.
func screenLines(what string, lines []string, res *pg.ConfigResult) []string {
	var out []string
	for i, line := range lines {
		if err := printable(line); err != nil || strings.TrimSpace(line) == "" {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s[%d]: must be one non-empty line of printable characters, not applied", what, i))
			continue
		}
		out = append(out, line)
	}
	return out
}

// mergedParams returns the settings pgha.conf holds, lowest precedence
// first: pgha's defaults, the cluster's parameters, the local ones (except
// for shared parameters the cluster sets); what Local manages is added by
// renderConf.
func mergedParams(local map[string]string, cc pg.ClusterConfig) map[string]string {
	params := maps.Clone(defaultParams)
	maps.Copy(params, cc.Parameters)
	for k, v := range local {
		if _, set := cc.Parameters[k]; set && slices.Contains(pg.SharedParameters, k) {
			continue
		}
		params[k] = v
	}
	return params
}

// reloadAndCheck rewrites the configuration files, reloads, waits until
// the server has re-read them, and fills res with the settings pending a
// restart, and with a warning for each pg_hba line the server refused.
func (l *Local) reloadAndCheck(ctx context.Context, res *pg.ConfigResult) error {
	ctx, cancel := context.WithTimeout(ctx, reloadWait)
	defer cancel()
	var before time.Time
	if err := l.withConn(ctx, func(ctx context.Context, c *pgx.Conn) error {
		return c.QueryRow(ctx, "SELECT pg_conf_load_time()").Scan(&before)
	}); err != nil {
		return fmt.Errorf("pg: apply cluster config: %w", err)
	}
	if err := l.reload(); err != nil {
		return err
	}
	res.Reloaded = true
	// The postmaster re-reads the files, then signals every backend; a
	// backend takes the signal between commands, so ours shows the new
	// load time once it has.
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		var now time.Time
		if err := l.withConn(ctx, func(ctx context.Context, c *pgx.Conn) error {
			return c.QueryRow(ctx, "SELECT pg_conf_load_time()").Scan(&now)
		}); err != nil {
			return fmt.Errorf("pg: apply cluster config: %w", err)
		}
		if now.After(before) {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pg: apply cluster config: the server did not re-read its configuration: %w", ctx.Err())
		case <-t.C:
		}
	}
	err := l.withConn(ctx, func(ctx context.Context, c *pgx.Conn) error {
		pending, err := queryPending(ctx, c)
		if err != nil {
			return err
		}
		res.PendingRestart = pending
		rows, err := c.Query(ctx, "SELECT line_number, error FROM pg_catalog.pg_hba_file_rules WHERE error IS NOT NULL ORDER BY line_number")
		if err != nil {
			return err
		}
		for rows.Next() {
			var line int
			var msg string
			if err := rows.Scan(&line, &msg); err != nil {
				return err
			}
			res.Warnings = append(res.Warnings, fmt.Sprintf("pg_hba line %d: %s; the server keeps its previous rules", line, msg))
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("pg: apply cluster config: %w", err)
	}
	return nil
}

// pendingQuery returns each setting waiting for a restart with its running
// value and the value the files give it (the last one wins; the boot value
// when the files no longer set it).
const pendingQuery = `SELECT s.name, pg_catalog.current_setting(s.name),
  COALESCE((SELECT f.setting FROM pg_catalog.pg_file_settings f
            WHERE f.name = s.name ORDER BY f.seqno DESC LIMIT 1), s.boot_val)
FROM pg_catalog.pg_settings s WHERE s.pending_restart ORDER BY 1`

// queryPending returns the settings waiting for a restart, nil for none.
func queryPending(ctx context.Context, c *pgx.Conn) (map[string]pg.PendingChange, error) {
	rows, err := c.Query(ctx, pendingQuery)
	if err != nil {
		return nil, err
	}
	var out map[string]pg.PendingChange
	for rows.Next() {
		var name string
		var pc pg.PendingChange
		if err := rows.Scan(&name, &pc.OldValue, &pc.NewValue); err != nil {
			return nil, err
		}
		if out == nil {
			out = map[string]pg.PendingChange{}
		}
		out[name] = pc
	}
	return out, rows.Err()
}
