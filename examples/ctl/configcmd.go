package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/examples/internal/listing"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/healthapi"
)

// maxConfigBytes bounds a configuration read from a file or stdin.
const maxConfigBytes = 1 << 20

// storedConfig is the config key as read, for a compare-and-swap write.
type storedConfig struct {
	data   map[string]any
	rev    int64 // 0 when the key is absent
	exists bool
}

func (a *App) readConfig(ctx context.Context) (storedConfig, error) {
	snap, err := a.Store.Get(ctx)
	if err != nil {
		return storedConfig{}, fmt.Errorf("reading the DCS: %w", err)
	}
	for _, kv := range snap.KVs {
		if kv.Key != dcs.KeyConfig {
			continue
		}
		m, err := decodeObject(kv.Value)
		if err != nil {
			return storedConfig{}, fmt.Errorf("the stored config is not a JSON object: %w", err)
		}
		return storedConfig{data: m, rev: kv.ModRevision, exists: true}, nil
	}
	return storedConfig{data: map[string]any{}}, nil
}

// writeConfig stores data if the key is still as read.
func (a *App) writeConfig(ctx context.Context, old storedConfig, data []byte) error {
	cond := dcs.Cond{Absent: true}
	if old.exists {
		cond = dcs.Cond{ModRevision: old.rev}
	}
	if _, err := a.Store.Put(ctx, dcs.KeyConfig, data, 0, cond); err != nil {
		if errors.Is(err, dcs.ErrConflict) {
			return fmt.Errorf("the config was changed by someone else since it was read; nothing was written, run the command again: %w", err)
		}
		return fmt.Errorf("writing the config: %w", err)
	}
	return nil
}

// decodeObject decodes a JSON object keeping numbers exact.
func decodeObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("null")
	}
	return m, nil
}

// toYAML renders a config for people: sorted keys, numbers as numbers.
func toYAML(m map[string]any) string {
	if len(m) == 0 {
		return "{}\n"
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(listing.Plain(m)); err != nil {
		return fmt.Sprintf("# cannot render: %v\n", err)
	}
	return buf.String()
}

func (a *App) cmdShowConfig(ctx context.Context) error {
	cur, err := a.readConfig(ctx)
	if err != nil {
		return err
	}
	if !cur.exists {
		return errors.New("the cluster has no config key yet")
	}
	if a.JSON {
		return a.printJSON(cur.data)
	}
	_, err = io.WriteString(a.Out, toYAML(cur.data))
	return err
}

// editOptions are edit-config's flags.
type editOptions struct {
	sets, pgs      []string
	apply, replace string
	quiet, force   bool
}

func (a *App) cmdEditConfig(ctx context.Context, o editOptions) error {
	sets, pgs, apply, replace, force := o.sets, o.pgs, &o.apply, &o.replace, &o.force
	if *apply != "" && *replace != "" {
		return fmt.Errorf("%w: --apply and --replace exclude each other", ErrUsage)
	}
	if (*apply == "-" || *replace == "-") && !*force {
		return fmt.Errorf("%w: reading the changes from stdin needs --force (stdin cannot also answer the confirmation)", ErrUsage)
	}
	cur, err := a.readConfig(ctx)
	if err != nil {
		return err
	}
	next := deepCopy(cur.data).(map[string]any)
	interactive := *apply == "" && *replace == "" && len(sets) == 0 && len(pgs) == 0
	switch {
	case *replace != "":
		if next, err = a.readChanges(*replace); err != nil {
			return err
		}
	case *apply != "":
		patch, err := a.readChanges(*apply)
		if err != nil {
			return err
		}
		if next, err = mergePatch(next, patch); err != nil {
			return err
		}
	case interactive:
		if a.Editor == "" {
			return fmt.Errorf("%w: give --set, --pg, --apply or --replace, or set $EDITOR to edit interactively", ErrUsage)
		}
		if next, err = a.editInteractively(ctx, next); err != nil {
			return err
		}
	}
	for _, s := range sets {
		if err := setPath(next, s, ""); err != nil {
			return err
		}
	}
	for _, s := range pgs {
		if err := setPath(next, s, "postgresql.parameters."); err != nil {
			return err
		}
	}
	oldJSON, _ := json.Marshal(cur.data)
	newJSON, err := json.Marshal(next)
	if err != nil {
		return fmt.Errorf("the new config cannot be stored as JSON: %w", err)
	}
	if bytes.Equal(oldJSON, newJSON) {
		if !o.quiet {
			fmt.Fprintln(a.Out, "Not changed")
		}
		return nil
	}
	newCfg, err := dcs.DecodeConfig(newJSON)
	if err != nil {
		return fmt.Errorf("the new config is not valid: %w", err)
	}
	// What the agents will not do as written is said before the operator
	// confirms, not only in the agents' logs.
	for _, w := range failover.ConfigWarnings(newCfg) {
		fmt.Fprintf(a.Err, "warning: %s\n", w)
	}
	if !o.quiet {
		if _, err := io.WriteString(a.Out, unifiedDiff("before", "after", toYAML(cur.data), toYAML(next))); err != nil {
			return err
		}
	}
	if !*force {
		if err := a.confirm("Apply these changes?"); err != nil {
			return err
		}
	}
	if err := a.writeConfig(ctx, cur, newJSON); err != nil {
		return err
	}
	fmt.Fprintln(a.Out, "Configuration changed")
	return nil
}

// readChanges reads a YAML (or JSON) mapping from a file or stdin.
func (a *App) readChanges(name string) (map[string]any, error) {
	var r io.Reader
	if name == "-" {
		if a.In == nil {
			return nil, errors.New("no stdin")
		}
		r = a.In
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxConfigBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxConfigBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, maxConfigBytes)
	}
	return parseYAMLObject(name, b)
}

func parseYAMLObject(name string, b []byte) (map[string]any, error) {
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if m == nil {
		m = map[string]any{}
	}
	// Round-trip through JSON: it rejects what the DCS cannot hold
	// (non-string keys) and gives one representation for comparisons.
	j, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return decodeObject(j)
}

// setPath applies "a.b.c=value"; the value is YAML (so 30 is a number and
// true a boolean), and null deletes the key.
func setPath(m map[string]any, assignment, prefix string) error {
	key, raw, ok := strings.Cut(assignment, "=")
	if !ok || strings.TrimSpace(key) == "" {
		return fmt.Errorf("%w: %q: want key=value", ErrUsage, assignment)
	}
	var v any
	if err := yaml.Unmarshal([]byte(raw), &v); err != nil {
		return fmt.Errorf("%w: %q: value: %v", ErrUsage, assignment, err)
	}
	if v != nil {
		j, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("%w: %q: value: %v", ErrUsage, assignment, err)
		}
		dec := json.NewDecoder(bytes.NewReader(j))
		dec.UseNumber()
		_ = dec.Decode(&v)
	}
	parts := strings.Split(prefix+strings.TrimSpace(key), ".")
	// PostgreSQL parameter names may hold dots (pg_stat_statements.max):
	// under postgresql.parameters the rest of the path is one name, as
	// patronictl reads it.
	if len(parts) > 3 && parts[0] == "postgresql" && parts[1] == "parameters" {
		parts = []string{parts[0], parts[1], strings.Join(parts[2:], ".")}
	}
	cur := m
	for i, p := range parts {
		if p == "" {
			return fmt.Errorf("%w: %q: empty key segment", ErrUsage, assignment)
		}
		if i == len(parts)-1 {
			if v == nil {
				delete(cur, p)
			} else {
				cur[p] = v
			}
			return nil
		}
		next, ok := cur[p].(map[string]any)
		if !ok {
			if v == nil {
				return nil
			}
			next = map[string]any{}
			cur[p] = next
		}
		cur = next
	}
	return nil
}

// mergePatch applies an RFC 7396 merge patch (healthapi.MergePatch, the
// one the agents' PATCH /config applies): objects merge, null deletes.
func mergePatch(target, patch map[string]any) (map[string]any, error) {
	t, err := json.Marshal(target)
	if err != nil {
		return nil, err
	}
	p, err := json.Marshal(patch)
	if err != nil {
		return nil, err
	}
	merged, err := healthapi.MergePatch(t, p)
	if err != nil {
		return nil, fmt.Errorf("applying the changes: %w", err)
	}
	return decodeObject(merged)
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

// editInteractively opens the config as YAML in $EDITOR.
func (a *App) editInteractively(ctx context.Context, cur map[string]any) (map[string]any, error) {
	dir, err := os.MkdirTemp("", "pgha-ctl-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(file, []byte(toYAML(cur)), 0o600); err != nil {
		return nil, err
	}
	argv := strings.Fields(a.Editor)
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], file)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("editor %s: %w", a.Editor, err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return parseYAMLObject("edited config", b)
}

// setPause sets or clears the pause flag with a compare-and-swap write,
// re-reading on a lost race: the change is small and does not depend on
// what else changed.
func (a *App) setPause(ctx context.Context, pause, wait bool, timeout time.Duration) error {
	for attempt := 0; ; attempt++ {
		cur, err := a.readConfig(ctx)
		if err != nil {
			return err
		}
		paused, _ := cur.data["pause"].(bool)
		if paused == pause {
			if pause {
				return errors.New("cluster is already paused")
			}
			return errors.New("cluster is not paused")
		}
		next := deepCopy(cur.data).(map[string]any)
		if pause {
			next["pause"] = true
		} else {
			delete(next, "pause")
		}
		b, _ := json.Marshal(next)
		err = a.writeConfig(ctx, cur, b)
		if errors.Is(err, dcs.ErrConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return err
		}
		break
	}
	state := "paused"
	if !pause {
		state = "resumed"
	}
	if !wait {
		return a.report(map[string]any{"result": "success", "pause": pause}, "Success: cluster management is "+state)
	}
	fmt.Fprintf(a.Err, "Waiting for the cluster to become %s\n", state)
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var lastLate []string
	for {
		c, _, err := a.cluster(wctx)
		if err == nil {
			done := true
			var late []string
			for _, m := range c.Members {
				if !a.reportsPause(wctx, m, pause) {
					late = append(late, m.Name)
				}
			}
			done = len(late) == 0
			lastLate = late
			if done {
				return a.report(map[string]any{"result": "success", "pause": pause}, "Success: cluster management is "+state)
			}
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("members %s did not report %s within %v: %w", strings.Join(lastLate, ", "), state, timeout, wctx.Err())
		case <-time.After(a.WaitInterval):
		}
	}
}

// reportsPause tells whether member m reports maintenance mode as pause:
// in its member key (Patroni's agents write "pause" there) or, for an
// agent that does not, in its GET /patroni.
func (a *App) reportsPause(ctx context.Context, m *dcs.Member, pause bool) bool {
	if m.Pause != nil && *m.Pause == pause {
		return true
	}
	if m.APIURL != "" {
		if st, err := a.status(ctx, m); err == nil {
			return st.Pause == pause
		}
	}
	// Unreachable, and nothing in the key: not paused, as patronictl
	// reads a key without "pause".
	return m.Pause == nil && !pause
}

// report writes a result as JSON or as a line of text.
func (a *App) report(v any, text string) error {
	if a.JSON {
		return a.printJSON(v)
	}
	_, err := fmt.Fprintln(a.Out, text)
	return err
}
