// Command pgha-ctl is the operator CLI of a pgha (or Patroni) cluster,
// with patronictl's commands, flags and output: list, topology, history,
// show-config, edit-config, pause, resume, switchover, failover, restart,
// reload, reinit, flush, query, dsn, remove and version. Build it with
//
//	go build -o pgha-ctl ./examples/ctl
//
// It reads the same YAML configuration as the agent (-c FILE before the
// command, --config-file FILE anywhere, or
// $PGHA_CTL_CONFIG / $PATRONICTL_CONFIG_FILE) and uses only its scope,
// namespace, DCS section and REST API credentials; -d DCS://HOST:PORT/NS
// (--dcs-url, $DCS_URL) replaces the DCS section. list, topology,
// history, show-config and dsn read the DCS only; edit-config, pause and
// resume write the config key with compare-and-swap; remove deletes the
// cluster's keys; switchover and failover ask the leader's REST API and
// fall back to writing the failover key when the API cannot be reached;
// restart, reload, reinit, flush and version call the members' REST API
// through package healthapi/client; query connects to a member's
// PostgreSQL at its conn_url.
//
// Exit status: 0 when the command did what it was asked, 1 when it
// failed (or the operator declined a confirmation), 2 for a command line
// or configuration that could not be understood. `pgha-ctl COMMAND
// --help` describes each command.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pgha/pgha/agentconfig"
	"github.com/pgha/pgha/examples/internal/buildinfo"
)

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ())
	stop()
	os.Exit(code)
}

// versionText is the --version line (see buildinfo.Version).
func versionText() string { return buildinfo.Version() }

// run runs one command line and returns the exit status. The
// configuration is loaded only by commands that need the cluster, so
// --help, completion and version work without one.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env []string) int {
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	app := &App{Out: stdout, Err: stderr, In: stdin, Editor: lookup(env, "EDITOR"), Logger: logger}
	var cfgPath, dcsURL string
	var insecure bool
	app.setup = func(ctx context.Context) error {
		path := cfgPath
		if path == "" {
			path = lookup(env, "PGHA_CTL_CONFIG", "PATRONICTL_CONFIG_FILE")
		}
		cfg, _, err := agentconfig.Load(path, env)
		// The load warnings are about the agent's settings: not the CLI's
		// business.
		if u := dcsURL; err == nil && (u != "" || lookup(env, "DCS_URL") != "") {
			if u == "" {
				u = lookup(env, "DCS_URL")
			}
			if err := applyDCSURL(cfg, u); err != nil {
				return err
			}
		}
		if err == nil {
			err = cfg.ValidateClient()
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrUsage, err)
		}
		cfg.Ctl.Insecure = cfg.Ctl.Insecure || insecure
		tlsCfg, err := cfg.APIClientTLS()
		if err != nil {
			return fmt.Errorf("%w: %w", ErrUsage, err)
		}
		store, err := cfg.NewStore(logger)
		if err != nil {
			return err
		}
		app.Store, app.Scope, app.Auth = store, cfg.Scope, cfg.APIAuth()
		app.HTTP = &http.Client{Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			TLSClientConfig:     tlsCfg,
			TLSHandshakeTimeout: 5 * time.Second,
		}}
		return nil
	}
	defer func() {
		if app.Store != nil {
			app.Store.Close()
		}
	}()
	root := app.rootCommand()
	root.PersistentFlags().StringVar(&cfgPath, "config-file", "", "configuration file: the agent's YAML (default $PGHA_CTL_CONFIG, $PATRONICTL_CONFIG_FILE); -c before the command")
	root.PersistentFlags().BoolVarP(&insecure, "insecure", "k", false, "do not verify the REST API's TLS certificate (ctl.insecure)")
	root.PersistentFlags().StringVar(&dcsURL, "dcs-url", "", "the DCS, DCS://HOST:PORT/NAMESPACE (etcd3, etcd or consul), instead of the configuration's (default $DCS_URL); -d before the command")
	root.PersistentFlags().StringVar(&dcsURL, "dcs", "", "alias of --dcs-url")
	args, err := globalFlags(args, &cfgPath, &dcsURL)
	if err != nil {
		return exitCode(app, err)
	}
	return exitCode(app, app.execute(ctx, root, args))
}

// globalFlags takes -c FILE and -d URL (also -cFILE, -c=FILE) off the
// options that come before the command, as patronictl reads its group
// options: a command's own -c and -d (query -c SQL -d DB) are other flags.
func globalFlags(args []string, path, dcsURL *string) ([]string, error) {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		var dst *string
		switch {
		case strings.HasPrefix(a, "-c") && !strings.HasPrefix(a, "--"):
			dst = path
		case strings.HasPrefix(a, "-d") && !strings.HasPrefix(a, "--"):
			dst = dcsURL
		}
		switch {
		case a == "--":
			return append(out, args[i:]...), nil
		case dst != nil && len(a) == 2:
			if i+1 >= len(args) {
				return nil, fmt.Errorf("%w: flag needs an argument: %s", ErrUsage, a)
			}
			*dst = args[i+1]
			i++
		case dst != nil:
			*dst = strings.TrimPrefix(a[2:], "=")
		case strings.HasPrefix(a, "-"):
			out = append(out, a)
		default:
			// The command: the rest is its own.
			return append(out, args[i:]...), nil
		}
	}
	return out, nil
}

// exitCode reports err on Err and maps it to the exit status.
func exitCode(a *App, err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, ErrUsage):
		fmt.Fprintln(a.Err, "pgha-ctl:", err)
		fmt.Fprintln(a.Err, "Run 'pgha-ctl --help' for usage.")
		return exitUsage
	}
	fmt.Fprintln(a.Err, "pgha-ctl:", err)
	return exitFailed
}

func lookup(env []string, names ...string) string {
	for _, n := range names {
		for _, kv := range env {
			if len(kv) > len(n) && kv[:len(n)] == n && kv[len(n)] == '=' {
				return kv[len(n)+1:]
			}
		}
	}
	return ""
}
