// Command pgha-agent is the reference node agent: one process per
// PostgreSQL node, assembled from pgha's public packages. It reads a
// Patroni-style YAML configuration (see agentconfig/testdata/pgha.yml), runs the
// HA loop (failover.Controller) over a local PostgreSQL (pglocal.Local) and the
// configured DCS (etcd v3 or Consul), and serves the Patroni-compatible
// REST API (healthapi) that HAProxy, pgha-ctl and peers use.
//
// Usage:
//
//	pgha-agent -c /etc/pgha/pgha.yml
//	pgha-agent --help | --version
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
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/pgha/pgha/examples/internal/cmdline"
)

// Exit codes.
const (
	exitOK      = cmdline.ExitOK
	exitFailure = cmdline.ExitFailure
	exitUsage   = cmdline.ExitUsage
)

// usage is the synopsis printed with a usage error.
const usage = `usage: pgha-agent [-c FILE] [-check] [FILE]
       pgha-agent --help | --version`

// manual is the --help text.
const manual = `NAME
    pgha-agent - PostgreSQL high-availability node agent

SYNOPSIS
    pgha-agent [-c FILE] [-check] [FILE]
    pgha-agent --help | --version

DESCRIPTION
    pgha-agent runs one PostgreSQL node of a pgha (Patroni-compatible)
    cluster: it bootstraps or clones the node's PostgreSQL, takes part in
    the leader election in the DCS (etcd v3 or Consul), promotes, demotes,
    follows and rewinds as the cluster needs, and serves Patroni's REST
    API (health checks for HAProxy, status, switchover and the other
    management calls of pgha-ctl and patronictl).

OPTIONS
    -c FILE     The configuration file: YAML with the keys of Patroni's
                patroni.yml. It may also be given as the only argument.
    -check      Load and validate the configuration, print the warnings,
                and exit without starting anything.
    --help      Print this text and exit.
    --version   Print the version and exit.

ENVIRONMENT
    PATRONI_*   Patroni's variables override the file: PATRONI_SCOPE,
                PATRONI_NAME, PATRONI_RESTAPI_LISTEN, PATRONI_ETCD3_HOSTS,
                PATRONI_POSTGRESQL_DATA_DIR, PATRONI_SUPERUSER_PASSWORD...
    PGHA_*      The same names with the PGHA_ prefix override those. With
                such variables the agent runs without a file.
    An unknown variable with either prefix is named in a warning.

SIGNALS
    SIGTERM, SIGINT
                Stop cleanly: a leader stops PostgreSQL, lets a replica
                receive its last WAL and resigns, so a replica takes over
                at once.
    SIGHUP      Re-read the configuration and apply what can change at
                runtime (log level, PostgreSQL parameters); every change
                that needs a restart is logged.

EXIT STATUS
    0   clean stop, -check of a valid file, --help, --version
    1   the agent failed while running
    2   usage or configuration error

FILES
    agentconfig/testdata/pgha.yml in the pgha sources is a complete,
    annotated configuration.

SEE ALSO
    pgha-ctl --help; Patroni's documentation of patroni.yml, whose keys
    and variables pgha reads.
`

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// command is pgha-agent's command line (shared with pgha-proxy).
var command = cmdline.Command{Name: "pgha-agent", Usage: usage, Manual: manual}

// run is main without the process globals: it parses args, loads the
// configuration and runs the agent until SIGTERM or SIGINT. --help and
// --version write to stdout; everything else, the log included, goes to
// stderr.
func run(args, env []string, stdout, stderr io.Writer) int {
	cl, code, done := command.Parse(args, stdout, stderr)
	if done {
		return code
	}
	if cl.Path == "" && !hasConfigEnv(env) {
		fmt.Fprintln(stderr, "pgha-agent: no configuration: pass -c config.yml (or set PGHA_* variables)")
		return exitUsage
	}

	ld, err := loadConfig(cl.Path, env)
	if err != nil {
		fmt.Fprintf(stderr, "pgha-agent: %v\n", err)
		return exitUsage
	}
	logs := newLogging(ld.cfg, stderr)
	for _, w := range ld.warnings {
		logs.logger.Warn("config: setting not used", "warning", w.String())
	}
	if cl.Check {
		logs.logger.Info("config: valid", "file", cl.Path)
		return exitOK
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	a, err := newAgent(ld.cfg, cl.Path, env, logs)
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
