package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

// Why cobra: per-command help and usage, shell completion generated from
// the command tree, POSIX flags with patronictl's short forms (-e, -t, -W,
// -w, -f, -r, -m, -c), and it is the most widely used Go CLI library,
// kept up by a large community (kubectl, gh, helm). patronictl's command
// tree (click) maps onto it one to one.

// Run runs one command line (without the program name) on an App whose
// Store is set. It is what tests drive.
func (a *App) Run(ctx context.Context, args []string) error {
	return a.execute(ctx, a.rootCommand(), args)
}

// execute runs root with args. An error raised before a command starts
// (unknown command or flag, wrong arguments) is a usage error.
func (a *App) execute(ctx context.Context, root *cobra.Command, args []string) error {
	a.defaults()
	root.SetArgs(args)
	root.SetOut(a.Out)
	root.SetErr(a.Err)
	root.SetIn(a.In)
	started := false
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		started = true
		return nil
	}
	err := root.ExecuteContext(ctx)
	if err != nil && !started && !errors.Is(err, ErrUsage) {
		err = fmt.Errorf("%w: %w", ErrUsage, err)
	}
	return err
}

// rootCommand builds the command tree.
func (a *App) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "pgha-ctl",
		Short: "Operate a pgha (or Patroni) cluster, as patronictl does",
		Long: `pgha-ctl operates a pgha or Patroni cluster with patronictl's commands, flags and
output. It reads the agent's YAML configuration (-c FILE before the command)
for the cluster's scope, namespace, DCS and REST API credentials.

Commands that take a CLUSTER argument accept the configured scope there, as
patronictl does; another name is refused.

Environment:
  PGHA_CTL_CONFIG, PATRONICTL_CONFIG_FILE  the configuration file, when -c is not given
  DCS_URL                                  the DCS, when -d is not given
  PATRONI_*, PGHA_*                        override the configuration's keys, as for the agent
  EDITOR                                   the editor of edit-config

Exit status: 0 success, 1 the operation failed or was declined, 2 the command
line or the configuration could not be understood.`,
		Version:       versionText(),
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(*cobra.Command, []string) error {
			return fmt.Errorf("%w: no command given", ErrUsage)
		},
	}
	root.SetVersionTemplate("pgha-ctl version {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return fmt.Errorf("%w: %w", ErrUsage, err) })
	root.PersistentFlags().BoolVar(&a.JSON, "json", a.JSON, "JSON output (pgha extension; the tables also take -f json)")

	// run wraps a command: the cluster is opened first, then fn runs.
	run := func(fn func(ctx context.Context, args []string) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			if err := a.ready(cmd.Context()); err != nil {
				return err
			}
			return fn(cmd.Context(), args)
		}
	}
	maxArgs := func(n int) cobra.PositionalArgs {
		return func(_ *cobra.Command, args []string) error {
			if len(args) > n {
				return fmt.Errorf("%w: unexpected argument %q", ErrUsage, args[n])
			}
			return nil
		}
	}
	first := func(args []string) string {
		if len(args) > 0 {
			return args[0]
		}
		return ""
	}

	// list, topology
	for _, name := range []string{"list", "topology"} {
		var o listOptions
		cmd := &cobra.Command{
			Use:   name + " [CLUSTER...]",
			Short: "List the members, their roles, states and replication positions",
			Long: `List the members of the cluster from the DCS: Member, Host, Role, State, TL,
Receive LSN and lag, Replay LSN and lag (in MB), and with -e (or when any member
has one) Pending restart, Pending restart reason, Scheduled restart and Tags.`,
			RunE: run(func(ctx context.Context, args []string) error {
				return a.cmdList(ctx, args, o)
			}),
		}
		if name == "topology" {
			cmd.Short = "Show the members as a replication tree"
			cmd.Long = "List the members (as list does) with each replica under the member it replicates from."
			o.format = fmtTopology
		} else {
			cmd.Aliases = []string{"members"}
			cmd.Flags().StringVarP(&o.format, "format", "f", fmtPretty, "output format: pretty, tsv, json or yaml")
		}
		cmd.Flags().BoolVarP(&o.extended, "extended", "e", false, "show pending restarts, scheduled restarts and tags")
		cmd.Flags().BoolVarP(&o.timestamp, "timestamp", "t", false, "print a timestamp before the table")
		cmd.Flags().BoolVarP(&o.w, "refresh", "W", false, "refresh every 2 seconds")
		cmd.Flags().Float64VarP(&o.watch, "watch", "w", 0, "refresh every N seconds")
		root.AddCommand(cmd)
	}

	// history
	{
		var format string
		cmd := &cobra.Command{
			Use:   "history [CLUSTER]",
			Short: "Show the history of failovers and switchovers",
			Args:  maxArgs(1),
			RunE: run(func(ctx context.Context, args []string) error {
				if err := a.checkCluster(first(args)); err != nil {
					return err
				}
				return a.cmdHistory(ctx, format)
			}),
		}
		cmd.Flags().StringVarP(&format, "format", "f", fmtPretty, "output format: pretty, tsv, json or yaml")
		root.AddCommand(cmd)
	}

	// show-config
	root.AddCommand(&cobra.Command{
		Use:   "show-config [CLUSTER]",
		Short: "Show the dynamic configuration",
		Args:  maxArgs(1),
		RunE: run(func(ctx context.Context, args []string) error {
			if err := a.checkCluster(first(args)); err != nil {
				return err
			}
			return a.cmdShowConfig(ctx)
		}),
	})

	// edit-config
	{
		var o editOptions
		cmd := &cobra.Command{
			Use:   "edit-config [CLUSTER]",
			Short: "Change the dynamic configuration (compare-and-swap)",
			Long: `Change the dynamic configuration: with --set and --pg, with the YAML of --apply
(merged) or --replace, or else in $EDITOR. The change is shown as a diff and
written only if nobody changed the configuration in between.`,
			Example: "  pgha-ctl edit-config -p work_mem=8MB --force\n  pgha-ctl edit-config -s ttl=20 -s postgresql.use_slots=false",
			Args:    maxArgs(1),
			RunE: run(func(ctx context.Context, args []string) error {
				if err := a.checkCluster(first(args)); err != nil {
					return err
				}
				return a.cmdEditConfig(ctx, o)
			}),
		}
		cmd.Flags().StringArrayVarP(&o.sets, "set", "s", nil, "set a value: dotted.key=YAML value (null deletes); repeatable")
		cmd.Flags().StringArrayVarP(&o.pgs, "pg", "p", nil, "set a PostgreSQL parameter: name=value (shorthand for -s postgresql.parameters.name=value); repeatable")
		cmd.Flags().StringVar(&o.apply, "apply", "", "merge the YAML or JSON changes in FILE (- for stdin)")
		cmd.Flags().StringVar(&o.replace, "replace", "", "replace the whole configuration with FILE (- for stdin)")
		cmd.Flags().BoolVarP(&o.quiet, "quiet", "q", false, "do not show the changes")
		cmd.Flags().BoolVar(&o.force, "force", false, "do not ask for confirmation")
		root.AddCommand(cmd)
	}

	// pause, resume
	for _, name := range []string{"pause", "resume"} {
		var wait bool
		var timeout time.Duration
		pause := name == "pause"
		cmd := &cobra.Command{
			Use:   name + " [CLUSTER]",
			Short: map[bool]string{true: "Enter maintenance mode: the agents stop acting", false: "Leave maintenance mode"}[pause],
			Args:  maxArgs(1),
			RunE: run(func(ctx context.Context, args []string) error {
				if err := a.checkCluster(first(args)); err != nil {
					return err
				}
				return a.setPause(ctx, pause, wait, timeout)
			}),
		}
		cmd.Flags().BoolVar(&wait, "wait", false, "wait until every member reports the new state")
		cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "how long --wait waits")
		root.AddCommand(cmd)
	}

	// switchover
	{
		var o switchoverOptions
		cmd := &cobra.Command{
			Use:     "switchover [CLUSTER]",
			Short:   "Move the leadership to a replica, cleanly",
			Example: "  pgha-ctl switchover --leader postgresql0 --candidate postgresql1 --force",
			Args:    maxArgs(1),
			RunE: run(func(ctx context.Context, args []string) error {
				if err := a.checkCluster(first(args)); err != nil {
					return err
				}
				return a.cmdSwitchover(ctx, o)
			}),
		}
		cmd.Flags().StringVar(&o.leader, "leader", "", "the current leader (default: read from the DCS)")
		cmd.Flags().StringVar(&o.leader, "primary", "", "alias of --leader")
		cmd.Flags().StringVar(&o.candidate, "candidate", "", "the member to promote (default: the agents choose)")
		cmd.Flags().StringVar(&o.scheduled, "scheduled", "", "when: now, or an ISO 8601 time with a time zone")
		cmd.Flags().BoolVar(&o.force, "force", false, "do not ask for confirmation")
		root.AddCommand(cmd)
	}

	// failover
	{
		var o failoverOptions
		cmd := &cobra.Command{
			Use:     "failover [CLUSTER]",
			Short:   "Promote a replica, whether or not there is a leader",
			Example: "  pgha-ctl failover --candidate postgresql1 --force",
			Args:    maxArgs(1),
			RunE: run(func(ctx context.Context, args []string) error {
				if err := a.checkCluster(first(args)); err != nil {
					return err
				}
				return a.cmdFailover(ctx, o)
			}),
		}
		cmd.Flags().StringVar(&o.candidate, "candidate", "", "the member to promote (required)")
		cmd.Flags().BoolVar(&o.force, "force", false, "do not ask for confirmation")
		cmd.Flags().BoolVar(&o.allowLoss, "allow-data-loss", false, "in synchronous mode, allow promoting a member that is not a synchronous standby (pgha extension)")
		root.AddCommand(cmd)
	}

	// restart
	{
		var o restartOptions
		cmd := &cobra.Command{
			Use:   "restart [CLUSTER] [MEMBER...]",
			Short: "Restart PostgreSQL on members",
			Long: `Restart PostgreSQL on the named members (all when none are named), now or at
--scheduled. Without --scheduled, the members restart in the order that keeps
settings every member must share safe (raised: replicas first).`,
			Example: "  pgha-ctl restart batman --role replica --force\n  pgha-ctl restart batman --pending --scheduled 2030-01-01T03:00:00+00:00 --force",
			RunE: run(func(ctx context.Context, args []string) error {
				return a.cmdRestart(ctx, args, o)
			}),
		}
		cmd.Flags().StringVarP(&o.role, "role", "r", "any", "restart only members in this role: any, leader, primary, standby-leader, replica or standby")
		cmd.Flags().BoolVar(&o.any, "any", false, "restart a single member only (chosen at random)")
		cmd.Flags().BoolVar(&o.pending, "pending", false, "restart only members with a pending restart")
		cmd.Flags().StringVar(&o.scheduled, "scheduled", "", "when: now, or an ISO 8601 time with a time zone")
		cmd.Flags().StringVar(&o.pgVersion, "pg-version", "", "restart only members running a PostgreSQL older than this (e.g. 15.4)")
		cmd.Flags().StringVar(&o.timeout, "timeout", "", "give up on the restart after this long (seconds, or a duration such as 30s)")
		cmd.Flags().BoolVar(&o.force, "force", false, "do not ask for confirmation")
		root.AddCommand(cmd)
	}

	// reload
	{
		var role string
		var force bool
		cmd := &cobra.Command{
			Use:   "reload [CLUSTER] [MEMBER...]",
			Short: "Reload the configuration of members",
			RunE: run(func(ctx context.Context, args []string) error {
				return a.cmdReload(ctx, args, role, force)
			}),
		}
		cmd.Flags().StringVarP(&role, "role", "r", "any", "reload only members in this role")
		cmd.Flags().BoolVar(&force, "force", false, "do not ask for confirmation")
		root.AddCommand(cmd)
	}

	// reinit
	{
		var o reinitOptions
		cmd := &cobra.Command{
			Use:   "reinit [CLUSTER] [MEMBER...]",
			Short: "Wipe a replica and clone it again",
			Args:  cobra.ArbitraryArgs,
			RunE: run(func(ctx context.Context, args []string) error {
				return a.cmdReinit(ctx, args, o)
			}),
		}
		cmd.Flags().BoolVar(&o.force, "force", false, "do not ask for confirmation, and cancel an action in progress")
		cmd.Flags().BoolVar(&o.fromLeader, "from-leader", false, "clone from the leader")
		cmd.Flags().BoolVar(&o.wait, "wait", false, "wait until the reinitialization is over")
		root.AddCommand(cmd)
	}

	// flush
	{
		var role string
		var force bool
		cmd := &cobra.Command{
			Use:   "flush [CLUSTER] [MEMBER...] restart|switchover",
			Short: "Discard scheduled restarts or a scheduled switchover",
			Args:  cobra.MinimumNArgs(1),
			RunE: run(func(ctx context.Context, args []string) error {
				return a.cmdFlush(ctx, args, role, force)
			}),
		}
		cmd.Flags().StringVarP(&role, "role", "r", "any", "flush only members in this role")
		cmd.Flags().BoolVar(&force, "force", false, "do not ask for confirmation")
		root.AddCommand(cmd)
	}

	// query
	{
		var o queryOptions
		cmd := &cobra.Command{
			Use:     "query [CLUSTER]",
			Short:   "Run SQL on a member's PostgreSQL",
			Long:    "Run SQL on the leader (default), a member in --role or the member --member, at its conn_url in the DCS.",
			Example: "  pgha-ctl query -c 'select 1'\n  pgha-ctl query -r replica -U postgres --password -f report.sql",
			Args:    maxArgs(1),
			RunE: run(func(ctx context.Context, args []string) error {
				if err := a.checkCluster(first(args)); err != nil {
					return err
				}
				return a.cmdQuery(ctx, o)
			}),
		}
		cmd.Flags().StringVarP(&o.command, "command", "c", "", "the SQL to run")
		cmd.Flags().StringVarP(&o.file, "file", "f", "", "run the SQL in FILE (- for stdin)")
		cmd.Flags().StringVar(&o.format, "format", fmtTSV, "output format: pretty, tsv, json or yaml")
		cmd.Flags().StringVar(&o.delimiter, "delimiter", "\t", "the column delimiter of tsv")
		cmd.Flags().BoolVar(&o.password, "password", false, "ask for a password")
		cmd.Flags().StringVarP(&o.username, "username", "U", "", "database user name")
		cmd.Flags().StringVarP(&o.dbname, "dbname", "d", "", "database name")
		cmd.Flags().StringVarP(&o.role, "role", "r", "", "query a member in this role: leader, primary, standby-leader, replica, standby or any")
		cmd.Flags().StringVarP(&o.member, "member", "m", "", "query this member")
		cmd.Flags().BoolVarP(&o.w, "refresh", "W", false, "run again every 2 seconds")
		cmd.Flags().Float64VarP(&o.watch, "watch", "w", 0, "run again every N seconds")
		root.AddCommand(cmd)
	}

	// dsn
	{
		var role, member string
		cmd := &cobra.Command{
			Use:   "dsn [CLUSTER]",
			Short: "Print the connection string of the leader, a member in a role, or a member",
			Args:  maxArgs(1),
			RunE: run(func(ctx context.Context, args []string) error {
				if err := a.checkCluster(first(args)); err != nil {
					return err
				}
				return a.cmdDSN(ctx, role, member)
			}),
		}
		cmd.Flags().StringVarP(&role, "role", "r", "", "a member in this role: leader, primary, standby-leader, replica, standby or any")
		cmd.Flags().StringVarP(&member, "member", "m", "", "this member")
		root.AddCommand(cmd)
	}

	// remove
	{
		var format string
		cmd := &cobra.Command{
			Use:   "remove CLUSTER",
			Short: "Remove the cluster's keys from the DCS",
			Long: `Delete every key of the cluster from the DCS, after the operator typed the
cluster's name, "Yes I am aware" and, while the cluster has a leader, the
leader's name. There is no --force, as in patronictl: stdin answers.`,
			Args: cobra.ExactArgs(1),
			RunE: run(func(ctx context.Context, args []string) error {
				return a.cmdRemove(ctx, args[0], format)
			}),
		}
		cmd.Flags().StringVarP(&format, "format", "f", fmtPretty, "output format of the member list: pretty, tsv, json or yaml")
		root.AddCommand(cmd)
	}

	// version
	root.AddCommand(&cobra.Command{
		Use:   "version [CLUSTER [MEMBER...]]",
		Short: "Print pgha-ctl's version, and with CLUSTER each member's",
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintln(a.Out, "pgha-ctl version "+versionText())
			if len(args) == 0 {
				return nil
			}
			if err := a.ready(cmd.Context()); err != nil {
				return err
			}
			return a.cmdVersion(cmd.Context(), args[0], args[1:])
		},
	})

	// demote-cluster, promote-cluster
	for _, name := range []string{"demote-cluster", "promote-cluster"} {
		o := clusterRoleOptions{demote: name == "demote-cluster"}
		cmd := &cobra.Command{
			Use: name + " [CLUSTER]",
			Short: map[bool]string{true: "Turn the cluster into a standby cluster of a remote primary",
				false: "Turn a standby cluster into a primary cluster"}[o.demote],
			Example: map[bool]string{true: "  pgha-ctl demote-cluster --host 10.0.1.5 --port 5432 --force",
				false: "  pgha-ctl promote-cluster --wait-lsn 0/5000028 --force"}[o.demote],
			Args: maxArgs(1),
			RunE: run(func(ctx context.Context, args []string) error {
				if err := a.checkCluster(first(args)); err != nil {
					return err
				}
				return a.cmdClusterRole(ctx, o)
			}),
		}
		cmd.Flags().BoolVar(&o.force, "force", false, "do not ask for confirmation")
		cmd.Flags().DurationVar(&o.timeout, "timeout", time.Minute, "how long to wait for the role change (and --wait-lsn)")
		if o.demote {
			cmd.Flags().StringVar(&o.host, "host", "", "address of the remote primary (a comma-separated list asks for a read-write session)")
			cmd.Flags().IntVar(&o.port, "port", 0, "port of the remote primary (default 5432)")
			cmd.Flags().StringVar(&o.restore, "restore-command", "", "command restoring WAL from the remote's archive")
			cmd.Flags().StringVar(&o.slot, "primary-slot-name", "", "replication slot on the remote primary")
		} else {
			cmd.Flags().StringVar(&o.waitLSN, "wait-lsn", "", "promote only once the standby leader has replayed this LSN (pgha)")
		}
		root.AddCommand(cmd)
	}
	return root
}
