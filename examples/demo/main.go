// Command demo shows pgha failing over on this machine: it starts an
// embedded etcd, three pgha-agent processes with real PostgreSQL 15,
// HAProxy (read-write and read-only ports on 127.0.0.1) and a writer that
// inserts through HAProxy; then it kills the primary (agent and
// postmaster, SIGKILL), prints the timeline of the failover, restarts the
// old node, shows it rejoin as a replica, and checks which acknowledged
// writes survived. Everything is removed at the end, also on Ctrl-C.
//
// Run it with `make demo` (installs PostgreSQL and HAProxy when missing),
// or: go build -o bin/pgha-agent ./examples/agent && go run ./examples/demo -agent bin/pgha-agent
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	fs := flag.NewFlagSet("demo", flag.ExitOnError)
	agent := fs.String("agent", "", "pgha-agent binary (default: build ./examples/agent)")
	keep := fs.Bool("keep", false, "keep the work directory (logs, configs) after the demo")
	_ = fs.Parse(os.Args[1:])

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Stdout, demoOptions{agentBin: *agent, keepDir: *keep}))
}

// demoOptions are the command-line settings.
type demoOptions struct {
	agentBin string
	keepDir  bool
}

// run runs the demo and returns the exit code.
func run(ctx context.Context, out io.Writer, o demoOptions) int {
	p := newPrinter(out)
	if err := demo(ctx, p, o); err != nil {
		if ctx.Err() != nil {
			p.say("interrupted: everything has been stopped and removed")
			return 130
		}
		p.say("demo failed: %v", err)
		return 1
	}
	return 0
}

// errorf wraps errors with the step that failed.
func errorf(step string, err error) error { return fmt.Errorf("%s: %w", step, err) }
