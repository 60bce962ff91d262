// Command pgha-agent is the reference node agent: one process per
// PostgreSQL node, assembled from pgha's public packages. It reads a
// Patroni-style YAML configuration (see agentconfig/testdata/pgha.yml), runs the
// HA loop (failover.Controller) over a local PostgreSQL (pg.Local) and the
// configured DCS (etcd v3 or Consul), and serves the Patroni-compatible
// REST API (healthapi) that HAProxy, pgha-ctl and peers use.
//
// Usage:
//
//	pgha-agent -c /etc/pgha/pgha.yml
//
// Signals: SIGTERM and SIGINT stop the agent cleanly (a leader stops
// PostgreSQL, lets a replica receive its last WAL and resigns, so a replica
// takes over at once); SIGHUP re-reads the configuration and applies what
// can change at runtime (log level, PostgreSQL parameters), logging every
// change that needs a restart.
//
// Exit codes: 0 after a clean stop, 1 when the agent failed while
// running, 2 for usage or configuration errors.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stderr))
}

// run is main without the process globals: it parses args, loads the
// configuration and runs the agent until SIGTERM or SIGINT.
func run(args, env []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("pgha-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "", "configuration file (YAML, patroni.yml keys); PGHA_*/PATRONI_* variables override it")
	check := fs.Bool("check", false, "validate the configuration and exit")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: pgha-agent -c config.yml [-check]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() == 1 && *path == "" {
		*path = fs.Arg(0) // Patroni takes the file as an argument
	} else if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pgha-agent: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	if *path == "" && !hasConfigEnv(env) {
		fmt.Fprintln(stderr, "pgha-agent: no configuration: pass -c config.yml (or set PGHA_* variables)")
		return exitUsage
	}

	ld, err := loadConfig(*path, env)
	if err != nil {
		fmt.Fprintf(stderr, "pgha-agent: %v\n", err)
		return exitUsage
	}
	logs := newLogging(ld.cfg, stderr)
	for _, w := range ld.warnings {
		logs.logger.Warn("config: setting not used", "warning", w.String())
	}
	if *check {
		logs.logger.Info("config: valid", "file", *path)
		return exitOK
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	a, err := newAgent(ld.cfg, *path, env, logs)
	if err != nil {
		logs.logger.Error("agent: cannot start", "err", err)
		return exitUsage
	}
	if err := a.run(ctx, hup); err != nil {
		logs.logger.Error("agent: stopped with an error", "err", err)
		return exitFailure
	}
	return exitOK
}
