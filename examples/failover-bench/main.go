// Command failover-bench measures pgha's failover on a local three-node
// cluster (examples/internal/localcluster: the example agent as separate
// processes, real PostgreSQL, an embedded three-member etcd and HAProxy,
// all on loopback) with a writer that records every write acknowledged
// through HAProxy's read-write port.
//
// It runs each scenario -n times on the same cluster, restoring health
// between repetitions:
//
//	node-crash         SIGKILL the primary's agent and postmaster; restart the node
//	pg-crash           SIGKILL the primary's postmaster (default primary_start_timeout: restart in place)
//	pg-crash-failover  the same with primary_start_timeout 0 (failover)
//	switchover         POST /switchover to a replica
//	etcd-leader-kill   hard-stop etcd's raft leader; restart it afterwards
//	etcd-raft-leader   kill etcd's raft leader while the primary's agent watches through another member
//	etcd-primary-member  make the member the primary's agent talks to raft leader, then kill it
//	agent-stop         SIGSTOP the primary's agent for 3 ttl (PostgreSQL keeps running), then SIGCONT
//	agent-kill         SIGKILL the primary's agent only; start it again 3 ttl later
//	agent-stop-quorum  agent-stop with synchronous_mode quorum
//	agent-kill-quorum  agent-kill with synchronous_mode quorum
//	etcd-quorum-loss   kill etcd's raft leader and one other member (no quorum) for 2 ttl, then restart them; failsafe_mode off
//	etcd-quorum-loss-failsafe      the same with failsafe_mode on
//	etcd-quorum-loss-30s           the same for 30 s, failsafe_mode off
//	etcd-quorum-loss-30s-failsafe  the same for 30 s, failsafe_mode on
//	node-crash-guides-checks  node-crash through a second HAProxy with the guides' checks (inter 3s fall 3 rise 2)
//	node-crash-guides-routed  the same with runtime-API routing (haproxycfg Syncer + Router on the cluster's etcd, as pgha-proxy)
//	switchover-guides-checks  switchover through the guides' HAProxy, checks only
//	switchover-guides-routed  the same with runtime-API routing
//
// The *-guides-* scenarios write through that second HAProxy and add the
// time from the new leader key to the first write and the writes
// acknowledged by a node the DCS did not name as leader; the report puts
// checks only and runtime-API routing side by side.
//
// etcd-raft-leader and etcd-primary-member need no failover: besides the
// writer through HAProxy they run a writer directly on every node and
// probe every node's PostgreSQL (localcluster.RunEtcdFault), and report false failovers (leader key
// changes), demotions, new timelines, the write outage through HAProxy
// and directly, lost writes and two-writer moments (writes acknowledged
// by one node while another acknowledged writes too). The agent-*
// scenarios (issue 14) record the same way (localcluster.RunAgentFault)
// and report, besides the write outage, lost writes and two-writer
// moments, the time from the fault to the old primary's postmaster being
// gone (stopped by the agent's fence keeper) and to the new leader key.
// The etcd-quorum-loss* scenarios (localcluster.RunQuorumLoss) record the
// same way and report the longest write gap through HAProxy and directly
// from the kill until 2 ttl after etcd has its quorum back, the time from
// the quorum's return to the first write acknowledged through HAProxy and
// directly (failsafe off: the goal is ttl + 1 s), lost writes, two-writer
// moments, demotions, promotions, leader key changes and new timelines
// (with failsafe_mode on all of them must be 0). The failsafe scenarios
// set failsafe_mode in the config key (PATCH /config) and wait until the
// leader's failsafe key lists every node before each fault; the others
// remove it (pgha's default, off).
//
// and prints the median, minimum and maximum of the write unavailability
// through HAProxy (last acknowledged write before the fault to the first
// after it), the time to the new leader key, the time from the lease's
// expiry to the first write (node crash), and the acknowledged writes lost;
// then the agents' CPU seconds and RSS over an idle period, and the requests
// the etcd members received meanwhile (per second, by gRPC method). The cluster
// runs on pgha's defaults (ttl 6 s, loop_wait 1 s, primary_start_timeout
// 15 s; HAProxy checks as haproxycfg.DefaultOptions); the etcd members use
// etcd's own raft timings (heartbeat 100 ms, election timeout 1 s) unless
// -etcd-timing fast selects the tests' 50 ms / 500 ms.
//
// Usage:
//
//	failover-bench [-n 3] [-scenarios node-crash,switchover,...] [-idle 60s]
//	               [-writer-timeout 1s] [-etcd-timing stock|fast] [-agent path]
//	               [-keep] [-v] [-json]
//
// The writer's timeout matters: a connect that HAProxy routes to a server
// it has not yet marked down waits (HAProxy retries after a turn-around
// of up to one second) until the writer gives up, so the measured
// unavailability includes up to one writer timeout.
//
// It must run as root or as a user that can run PostgreSQL (the agents run
// PostgreSQL as OS user postgres when root). Figures are printed, never
// judged: the README compares them with the targets.
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
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/pgha/pgha/agentconfig"
	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/examples/internal/localcluster"
)

// options are the command-line flags.
type options struct {
	reps      int
	scenarios []string
	idle      time.Duration
	json      bool
	agentBin  string
	timeout   time.Duration
	wtimeout  time.Duration
	keepDir   bool
	verbose   bool
	// etcdTiming is "stock" (etcd's own raft defaults) or "fast"
	// (etcdembed's, as the tests use).
	etcdTiming string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "failover-bench:", err)
		}
		os.Exit(2)
	}
}

// parseFlags parses and checks the command line.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	var names string
	all := scenarios()
	var known []string
	for _, s := range all {
		known = append(known, s.Name)
	}
	fs := flag.NewFlagSet("failover-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.reps, "n", 3, "repetitions of each scenario")
	fs.StringVar(&names, "scenarios", strings.Join(known, ","), "comma-separated scenarios to run")
	fs.DurationVar(&o.idle, "idle", time.Minute, "idle period for the agents' CPU and RSS (0: skip)")
	fs.BoolVar(&o.json, "json", false, "print JSON instead of a table")
	fs.StringVar(&o.agentBin, "agent", "", "pgha-agent binary (default: go build ./examples/agent into a temporary directory)")
	fs.DurationVar(&o.timeout, "timeout", 90*time.Second, "deadline of every wait (failover, recovery, health)")
	fs.DurationVar(&o.wtimeout, "writer-timeout", time.Second, "the writer's connect and insert timeout")
	fs.BoolVar(&o.keepDir, "keep", false, "keep the cluster's directory (logs, data) after the run")
	fs.BoolVar(&o.verbose, "v", false, "log the orchestration's progress")
	fs.StringVar(&o.etcdTiming, "etcd-timing", "stock", "raft timings of the embedded etcd members: stock (etcd's defaults, heartbeat 100 ms, election 1 s) or fast (50 ms, 500 ms, as the tests)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.reps < 1 || o.reps > 1000 {
		return o, fmt.Errorf("-n must be between 1 and 1000, got %d", o.reps)
	}
	if o.idle < 0 {
		return o, fmt.Errorf("-idle must not be negative, got %v", o.idle)
	}
	if o.wtimeout <= 0 {
		return o, fmt.Errorf("-writer-timeout must be positive, got %v", o.wtimeout)
	}
	if o.etcdTiming != "stock" && o.etcdTiming != "fast" {
		return o, fmt.Errorf("-etcd-timing must be stock or fast, got %q", o.etcdTiming)
	}
	if o.timeout < time.Second {
		return o, fmt.Errorf("-timeout must be at least 1s, got %v", o.timeout)
	}
	for _, n := range strings.Split(names, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if !contains(known, n) {
			return o, fmt.Errorf("unknown scenario %q (known: %s)", n, strings.Join(known, ", "))
		}
		if !contains(o.scenarios, n) {
			o.scenarios = append(o.scenarios, n)
		}
	}
	return o, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// run is the whole command; progress goes to stderr, the report to stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	progress := func(format string, args ...any) {
		fmt.Fprintf(stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}

	bin := o.agentBin
	if bin == "" {
		dir, err := os.MkdirTemp("", "pgha-bench-bin-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		progress("building the agent")
		if bin, err = localcluster.BuildAgent(ctx, dir); err != nil {
			return fmt.Errorf("build agent: %w", err)
		}
	}

	progress("starting 3 agents, 3 etcd members (%s raft timings) and HAProxy", o.etcdTiming)
	copts := localcluster.Options{
		AgentBin:    bin,
		Nodes:       3,
		EtcdMembers: 3,
		KeepDir:     o.keepDir,
		Logger:      logger,
	}
	if o.etcdTiming == "stock" {
		copts.EtcdHeartbeat, copts.EtcdElection = localcluster.StockEtcdHeartbeat, localcluster.StockEtcdElection
	}
	c, err := localcluster.Start(ctx, copts)
	if err != nil {
		return fmt.Errorf("start cluster: %w", err)
	}
	defer func() {
		if err := c.Close(); err != nil {
			logger.Warn("closing the cluster", "err", err)
		}
		if o.keepDir {
			progress("cluster directory kept: %s", c.Dir())
		}
	}()

	b, err := newBench(ctx, c, o, logger)
	if err != nil {
		return err
	}
	defer b.etcd.Close()
	leader, err := b.waitHealthy(ctx)
	if err != nil {
		return err
	}
	progress("cluster healthy, leader %s (ttl %v)", leader, b.ttl)

	res := Result{
		Machine: machine(),
		Settings: Settings{
			Repetitions: o.reps, Nodes: len(c.Nodes()), EtcdMembers: c.Etcd().Size(),
			TTL: b.ttl.Seconds(), LoopWait: b.loopWait.Seconds(), IdleSeconds: o.idle.Seconds(),
			WriterTimeout: o.wtimeout.Seconds(),
		},
	}
	hb, el := c.Etcd().RaftTimings()
	res.Settings.EtcdHeartbeatMS, res.Settings.EtcdElectionMS = hb.Milliseconds(), el.Milliseconds()
	if o.idle > 0 {
		progress("measuring the idle agents for %v", o.idle)
		idle, err := measureIdle(ctx, b.bench, o.idle)
		if err != nil {
			return fmt.Errorf("idle measurement: %w", err)
		}
		res.Idle = &idle
	}
	failed := false
	for _, sc := range scenarios() {
		if !contains(o.scenarios, sc.Name) {
			continue
		}
		sr := ScenarioResult{Name: sc.Name, Description: sc.Description}
		if sc.setup != nil {
			if err := sc.setup(ctx, b.bench); err != nil {
				return fmt.Errorf("%s: setup: %w", sc.Name, err)
			}
		}
		for i := 1; i <= o.reps; i++ {
			rep := newRep()
			err := sc.run(ctx, b.bench, &rep)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				rep.Error = err.Error()
				failed = true
				progress("%s #%d/%d failed: %v", sc.Name, i, o.reps, err)
			} else {
				progress("%s #%d/%d: %s", sc.Name, i, o.reps, repLine(rep))
			}
			sr.Reps = append(sr.Reps, rep)
			if err != nil {
				// Restore health before the next repetition; give up
				// on the whole run if the cluster does not recover.
				if _, herr := b.waitHealthy(ctx); herr != nil {
					summarizeScenario(&sr)
					res.Scenarios = append(res.Scenarios, sr)
					_ = report(stdout, res, o.json)
					return fmt.Errorf("%s: cluster did not recover: %w", sc.Name, herr)
				}
			}
		}
		if sc.teardown != nil {
			if err := sc.teardown(ctx, b.bench); err != nil {
				return fmt.Errorf("%s: teardown: %w", sc.Name, err)
			}
		}
		summarizeScenario(&sr)
		res.Scenarios = append(res.Scenarios, sr)
	}
	if err := report(stdout, res, o.json); err != nil {
		return err
	}
	if failed {
		return errors.New("some repetitions failed (see the report)")
	}
	return nil
}

// report writes the result as text or JSON.
func report(w io.Writer, r Result, asJSON bool) error {
	if asJSON {
		return writeJSON(w, r)
	}
	return writeText(w, r)
}

// benchSetup is a bench plus the settings read from the cluster.
type benchSetup struct {
	*bench
	loopWait time.Duration
}

// newBench connects to the cluster's etcd and reads the key prefix and
// the timing settings.
func newBench(ctx context.Context, c *localcluster.Cluster, o options, logger *slog.Logger) (*benchSetup, error) {
	cfg, _, err := agentconfig.Load(c.Nodes()[0].ConfigPath(), nil)
	if err != nil {
		return nil, fmt.Errorf("read node configuration: %w", err)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: c.Etcd().Endpoints(), DialTimeout: 2 * time.Second, Context: ctx, Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	b := &benchSetup{
		bench: &bench{
			c: c, etcd: cli, prefix: dcs.Prefix(cfg.Namespace, cfg.Scope),
			ttl: 6 * time.Second, timeout: o.timeout, writerTimeout: o.wtimeout, log: logger,
		},
		loopWait: time.Second,
	}
	if snap, err := c.Snapshot(ctx); err == nil && snap.Config != nil {
		b.ttl = dcs.Seconds(snap.Config.TTL, b.ttl)
		b.loopWait = dcs.Seconds(snap.Config.LoopWait, b.loopWait)
	}
	return b, nil
}
