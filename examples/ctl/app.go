package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/pgha/pgha/agentconfig"
	"github.com/pgha/pgha/dcs"
)

// ErrUsage marks a command line (or configuration) that could not be
// understood; pgha-ctl exits with status 2 for it.
var ErrUsage = errors.New("usage")

// ErrAborted is returned when the operator declines a confirmation.
var ErrAborted = errors.New("aborted")

// App runs the commands. Everything it touches is a field, so tests drive
// it with an in-memory store, an httptest server and buffers.
type App struct {
	// Store is the cluster's DCS, scoped to its prefix. When nil, the
	// command line's configuration is loaded on first use (see setup).
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
	// JSON selects JSON output (--json, a pgha extension: -f json for the
	// tables, JSON results for the actions).
	JSON bool
	// Editor is the interactive editor for edit-config ($EDITOR).
	Editor string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// WaitInterval is the polling period of --wait (default 1 s).
	WaitInterval time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger

	// setup loads the configuration and opens the Store when Store is
	// nil (set by run from the global flags).
	setup func(ctx context.Context) error

	in    *bufio.Reader
	inSrc io.Reader
}

func (a *App) defaults() {
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
	if a.Out == nil {
		a.Out = io.Discard
	}
}

// ready makes sure the Store is open.
func (a *App) ready(ctx context.Context) error {
	if a.Store != nil {
		return nil
	}
	if a.setup == nil {
		return fmt.Errorf("%w: no configuration", ErrUsage)
	}
	return a.setup(ctx)
}

// checkCluster checks a cluster name given on the command line against
// the configured scope: pgha-ctl works on the cluster its configuration
// names (patronictl opens the named cluster in the same DCS; pgha-ctl
// refuses a name it was not configured for rather than act on another
// cluster by a typo).
func (a *App) checkCluster(name string) error {
	if name == "" || name == a.Scope {
		return nil
	}
	return fmt.Errorf("cluster %q is not the configured one (scope %q): run with the configuration of %q (-c)", name, a.Scope, name)
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

// readLine reads one answer from In.
func (a *App) readLine() (string, bool) {
	if a.In == nil {
		return "", false
	}
	if a.in == nil || a.inSrc != a.In {
		a.in, a.inSrc = bufio.NewReader(a.In), a.In
	}
	line, err := a.in.ReadString('\n')
	if err != nil && line == "" {
		return "", false
	}
	return strings.TrimRight(line, "\r\n"), true
}

// confirm asks a yes/no question on Out and reads the answer from In.
func (a *App) confirm(question string) error {
	fmt.Fprintf(a.Out, "%s [y/N]: ", question)
	line, ok := a.readLine()
	if !ok {
		fmt.Fprintln(a.Out)
		return fmt.Errorf("%w: no answer (use --force)", ErrAborted)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return ErrAborted
}

// prompt asks for a line of text.
func (a *App) prompt(question string) (string, error) {
	fmt.Fprintf(a.Out, "%s: ", question)
	line, ok := a.readLine()
	if !ok {
		fmt.Fprintln(a.Out)
		return "", fmt.Errorf("%w: no answer", ErrAborted)
	}
	return line, nil
}

// promptDefault asks for a line of text, click's way: "question
// [default]: "; an empty answer takes def.
func (a *App) promptDefault(question, def string) (string, error) {
	fmt.Fprintf(a.Out, "%s [%s]: ", question, def)
	line, ok := a.readLine()
	if !ok {
		fmt.Fprintln(a.Out)
		return "", fmt.Errorf("%w: no answer (use --force)", ErrAborted)
	}
	if line = strings.TrimSpace(line); line == "" {
		return def, nil
	}
	return line, nil
}

// password asks for a password, without echo when In is a terminal.
func (a *App) password() (string, error) {
	if f, ok := a.In.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(a.Err, "Password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.Err)
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		return string(b), nil
	}
	fmt.Fprint(a.Err, "Password: ")
	line, ok := a.readLine()
	if !ok {
		return "", fmt.Errorf("%w: no password given", ErrAborted)
	}
	return line, nil
}

// terminal reports whether Out is a terminal.
func (a *App) terminal() bool {
	f, ok := a.Out.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// printJSON writes v as indented JSON.
func (a *App) printJSON(v any) error {
	enc := json.NewEncoder(a.Out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// timestamp is patronictl's timestamp(): local time with five decimals.
func (a *App) timestamp() string {
	return a.Now().Format("2006-01-02 15:04:05.00000")
}
