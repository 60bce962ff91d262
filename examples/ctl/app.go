package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/pgha/pgha/agentconfig"
	"github.com/pgha/pgha/dcs"
)

// ErrUsage marks a command line that could not be understood; main exits
// with status 2 for it.
var ErrUsage = errors.New("usage")

// ErrAborted is returned when the operator declines a confirmation.
var ErrAborted = errors.New("aborted")

// App runs the commands. Everything it touches is a field, so tests drive
// it with an in-memory store, an httptest server and buffers.
type App struct {
	// Store is the cluster's DCS, scoped to its prefix.
	Store dcs.Store
	// Scope is the cluster name, shown in headers.
	Scope string
	// HTTP calls members' REST APIs.
	HTTP *http.Client
	// Auth is sent as basic auth with management requests.
	Auth agentconfig.Credentials
	// Out receives results, Err warnings; In answers confirmations.
	Out, Err io.Writer
	In       io.Reader
	// JSON selects JSON output (also set per command with --json).
	JSON bool
	// Editor is the interactive editor for edit-config ($EDITOR).
	Editor string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// WaitInterval is the polling period of --wait (default 1 s).
	WaitInterval time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger

	in    *bufio.Reader
	inSrc io.Reader
}

// command is one subcommand.
type command struct {
	name, args, help string
	run              func(a *App, ctx context.Context, args []string) error
}

func commands() []command {
	return []command{
		{"list", "", "show the members, their roles, states and lag (reads the DCS only)", (*App).cmdList},
		{"history", "", "show the timeline history", (*App).cmdHistory},
		{"show-config", "", "show the dynamic configuration", (*App).cmdShowConfig},
		{"edit-config", "[--set k=v]... [--pg p=v]... [--apply FILE|-] [--replace FILE|-] [--force]", "change the dynamic configuration (compare-and-swap)", (*App).cmdEditConfig},
		{"pause", "[--wait]", "enter maintenance mode: the agents stop acting", (*App).cmdPause},
		{"resume", "[--wait]", "leave maintenance mode", (*App).cmdResume},
		{"switchover", "[--leader X] [--candidate Y] [--scheduled T] [--force]", "move the leadership, cleanly", (*App).cmdSwitchover},
		{"failover", "--candidate Y [--force]", "promote a member, whether or not there is a leader", (*App).cmdFailover},
		{"restart", "[MEMBER...] [--role R] [--pending] [--scheduled T] [--pg-version V] [--timeout S] [--force]", "restart PostgreSQL on members", (*App).cmdRestart},
		{"reload", "[MEMBER...] [--force]", "reload the configuration of members", (*App).cmdReload},
	}
}

// Usage writes the command summary.
func Usage(w io.Writer) {
	fmt.Fprintln(w, "usage: pgha-ctl [-c config.yml] [--json] COMMAND [flags]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.help)
		if c.args != "" {
			fmt.Fprintf(w, "  %-12s   %s\n", "", c.args)
		}
	}
}

// Run runs one command line (without the program name and global flags).
func (a *App) Run(ctx context.Context, args []string) error {
	if a.Now == nil {
		a.Now = time.Now
	}
	if a.Logger == nil {
		a.Logger = slog.Default()
	}
	if a.WaitInterval <= 0 {
		a.WaitInterval = time.Second
	}
	if a.Err == nil {
		a.Err = io.Discard
	}
	if len(args) == 0 {
		return fmt.Errorf("%w: no command given", ErrUsage)
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(a, ctx, args[1:])
		}
	}
	return fmt.Errorf("%w: unknown command %q", ErrUsage, args[0])
}

// flags returns a flag set for a command with --json bound.
func (a *App) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&a.JSON, "json", a.JSON, "JSON output")
	return fs
}

// parse parses flags; positional arguments may come before or after them.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrUsage, fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// cluster reads and decodes the cluster, reporting ignored keys on Err.
func (a *App) cluster(ctx context.Context) (*dcs.Cluster, dcs.Snapshot, error) {
	snap, err := a.Store.Get(ctx)
	if err != nil {
		return nil, snap, fmt.Errorf("reading the DCS: %w", err)
	}
	c := dcs.Parse(snap)
	for _, p := range c.Problems {
		fmt.Fprintf(a.Err, "warning: %v\n", p)
	}
	return c, snap, nil
}

// confirm asks a yes/no question on Out and reads the answer from In.
func (a *App) confirm(question string) error {
	fmt.Fprintf(a.Out, "%s [y/N]: ", question)
	if a.In == nil {
		fmt.Fprintln(a.Out)
		return fmt.Errorf("%w: no answer (use --force)", ErrAborted)
	}
	if a.in == nil || a.inSrc != a.In {
		a.in, a.inSrc = bufio.NewReader(a.In), a.In
	}
	line, err := a.in.ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(a.Out)
		return fmt.Errorf("%w: no answer (use --force)", ErrAborted)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return ErrAborted
}

// printJSON writes v as indented JSON.
func (a *App) printJSON(v any) error {
	enc := json.NewEncoder(a.Out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
