// Command pgha-proxy runs on each HAProxy host of the Patroni guides'
// two-proxy layout. It reads the agent's YAML (scope, namespace, etcd3 or
// consul) plus a haproxy: section, renders haproxy.cfg from the cluster in
// the DCS, starts HAProxy (or adopts one that systemd runs), keeps its
// membership in step (haproxycfg.Syncer) and pushes every leader change
// into the read-write listener through HAProxy's runtime API the moment
// the leader key changes (haproxycfg.Router). Optionally it renders
// keepalived.conf with a check that HAProxy actually serves, and runs
// Keepalived. Build it with
//
//	go build -o pgha-proxy ./examples/proxy
//
// It is assembled from pgha's public packages only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pgha/pgha/examples/internal/cmdline"
	"github.com/pgha/pgha/haproxycfg"
)

// Exit codes.
const (
	exitOK      = cmdline.ExitOK
	exitFailure = cmdline.ExitFailure
	exitUsage   = cmdline.ExitUsage
)

const usage = `usage: pgha-proxy [-c FILE] [-check] [FILE]
       pgha-proxy check-haproxy [-socket PATH] [-backend NAME] [-connect HOST:PORT] [-timeout D]
       pgha-proxy --help | --version`

const manual = `NAME
    pgha-proxy - HAProxy (and Keepalived) for a pgha or Patroni cluster

SYNOPSIS
    pgha-proxy [-c FILE] [-check] [FILE]
    pgha-proxy check-haproxy [-socket PATH] [-backend NAME] [-connect HOST:PORT] [-timeout D]
    pgha-proxy --help | --version

DESCRIPTION
    pgha-proxy runs on each HAProxy host in front of the database nodes.
    It renders haproxy.cfg (read-write, read-only, optional sync-only and
    stats listeners) from the members in the DCS, starts HAProxy or adopts
    one that runs already, and reloads it when the membership changes.

    With runtime_routing (the default) it also follows the DCS leader key:
    the moment it changes, the old primary is put into maintenance in the
    read-write listener and its sessions are shut down, and the new leader
    is enabled as soon as its /primary answers 200. HAProxy's checks stay
    on as a second opinion. A proxy cut off from the DCS keeps the last
    leader it knew and never enables another member.

    With a haproxy.keepalived section it writes keepalived.conf: a VRRP
    instance whose check is "pgha-proxy check-haproxy" (HAProxy's runtime
    API reports a read-write server up and the read-write port accepts),
    with optional unicast peers, authentication and notify hooks; with
    manage: true it runs Keepalived too.

OPTIONS
    -c FILE     The agent's YAML configuration with a haproxy: section (see
                the README). It may also be given as the only argument.
    -check      Load and validate the configuration and exit.
    --help      Print this text and exit.
    --version   Print the version and exit.

CHECK-HAPROXY
    The Keepalived check: exit 0 when HAProxy serves, 1 otherwise.
    -socket PATH      runtime API socket; its read-write backend must be UP
    -backend NAME     backend to ask about (default primary)
    -connect H:P      address that must accept a TCP connection
    -timeout D        bound of the whole check (default 2s)

SIGNALS
    SIGTERM, SIGINT   Stop: a managed HAProxy and Keepalived are stopped
                      too (the virtual IP moves to the other host).

EXIT STATUS
    0   clean stop, -check of a valid file, a passing check-haproxy,
        --help, --version
    1   failure while running, a failing check-haproxy
    2   usage or configuration error
`

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// command is pgha-proxy's command line (shared with pgha-agent).
var command = cmdline.Command{Name: "pgha-proxy", Usage: usage, Manual: manual}

// run is main without the process globals.
func run(args, env []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "check-haproxy" {
		return runCheck(args[1:], stdout, stderr)
	}
	cl, code, done := command.Parse(args, stdout, stderr)
	if done {
		return code
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "pgha-proxy: %v\n", err)
		return exitFailure
	}
	cfg, err := loadConfig(cl.Path, env, self)
	if err != nil {
		fmt.Fprintf(stderr, "pgha-proxy: %v\n", err)
		return exitUsage
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.agent.LogLevel()}))
	for _, w := range cfg.warnings {
		logger.Warn("config: setting not used", "warning", w.String())
	}
	if cl.Check {
		logger.Info("config: valid", "file", cl.Path)
		return exitOK
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := runProxy(ctx, cfg, logger); err != nil {
		logger.Error("pgha-proxy stopped with an error", "err", err)
		if errors.Is(err, errConfig) {
			return exitUsage
		}
		return exitFailure
	}
	return exitOK
}

// runCheck is "pgha-proxy check-haproxy".
func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pgha-proxy check-haproxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", "", "runtime API socket")
	backend := fs.String("backend", haproxycfg.ProxyPrimary, "backend that must be UP")
	connect := fs.String("connect", "", "host:port that must accept a connection")
	timeout := fs.Duration("timeout", 2*time.Second, "bound of the whole check")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, manual)
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 || (*socket == "" && *connect == "") {
		fmt.Fprintf(stderr, "%s\n", usage)
		return exitUsage
	}
	err := haproxycfg.CheckServing(context.Background(), haproxycfg.ServingCheck{
		StatsSocket: *socket, Backend: *backend, Connect: *connect, Timeout: *timeout})
	if err != nil {
		fmt.Fprintf(stderr, "pgha-proxy check-haproxy: %v\n", err)
		return exitFailure
	}
	return exitOK
}
