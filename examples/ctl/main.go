// Command pgha-ctl is the operator CLI of a pgha (or Patroni) cluster, in
// the manner of patronictl: list, history, show-config, edit-config,
// pause, resume, switchover, failover, restart and reload, each with
// --json. Build it with
//
//	go build -o pgha-ctl ./examples/ctl
//
// It reads the same YAML configuration as the agent (-c, or
// $PGHA_CTL_CONFIG / $PATRONICTL_CONFIG_FILE) and uses only its scope,
// namespace, DCS section and REST API credentials. list, history and
// show-config read the DCS only; edit-config, pause and resume write the
// config key with compare-and-swap; switchover and failover ask the
// leader's REST API and fall back to writing the failover key when the API
// cannot be reached; restart and reload call each member's REST API. The
// REST calls go through package healthapi/client.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pgha/pgha/agentconfig"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ()))
}

// run parses the global flags, builds the App from the configuration and
// runs one command. It returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, env []string) int {
	fs := flag.NewFlagSet("pgha-ctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfgPath := fs.String("c", "", "configuration file (the agent's YAML)")
	fs.StringVar(cfgPath, "config-file", "", "alias of -c")
	asJSON := fs.Bool("json", false, "JSON output")
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 {
		if err != nil && !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "pgha-ctl:", err)
		}
		Usage(stderr)
		return 2
	}
	if *cfgPath == "" {
		*cfgPath = lookup(env, "PGHA_CTL_CONFIG", "PATRONICTL_CONFIG_FILE")
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg, warnings, err := agentconfig.Load(*cfgPath, env)
	if err == nil {
		err = cfg.ValidateClient()
	}
	if err != nil {
		fmt.Fprintln(stderr, "pgha-ctl:", err)
		return 2
	}
	_ = warnings // the agent's settings are not the CLI's business
	tlsCfg, err := cfg.APIClientTLS()
	if err != nil {
		fmt.Fprintln(stderr, "pgha-ctl:", err)
		return 2
	}
	store, err := cfg.NewStore(logger)
	if err != nil {
		fmt.Fprintln(stderr, "pgha-ctl:", err)
		return 1
	}
	defer store.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app := &App{
		Store: store,
		Scope: cfg.Scope,
		HTTP: &http.Client{Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			TLSClientConfig:     tlsCfg,
			TLSHandshakeTimeout: 5 * time.Second,
		}},
		Auth:   cfg.APIAuth(),
		Out:    stdout,
		Err:    stderr,
		In:     stdin,
		JSON:   *asJSON,
		Editor: lookup(env, "EDITOR"),
		Logger: logger,
	}
	if err := app.Run(ctx, fs.Args()); err != nil {
		fmt.Fprintln(stderr, "pgha-ctl:", err)
		if errors.Is(err, ErrUsage) {
			Usage(stderr)
			return 2
		}
		return 1
	}
	return 0
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
