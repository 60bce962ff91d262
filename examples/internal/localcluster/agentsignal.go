package localcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The faults of issue 14 hit only the agent: its PostgreSQL and its fence
// keeper keep running. These signal the agent's own pid, never its process
// group; the keeper runs in a session of its own in any case.

// FreezeAgent stops node name's agent with SIGSTOP, as a process the
// kernel no longer schedules (a wedged agent, a VM pause of only that
// process), and waits until the kernel reports it stopped. PostgreSQL
// and the fence keeper keep running. It returns the time of the fault
// (just before the signal). Undo it with [Cluster.ThawAgent]; Close ends a
// frozen agent too.
func (c *Cluster) FreezeAgent(ctx context.Context, name string) (time.Time, error) {
	n, err := c.node(name)
	if err != nil {
		return time.Time{}, err
	}
	pid := n.AgentPID()
	at := time.Now()
	if _, err := n.signal(syscall.SIGSTOP); err != nil {
		return time.Time{}, err
	}
	err = poll(ctx, 10*time.Second, time.Millisecond, func() error {
		if s := procState(pid); s != 'T' {
			return fmt.Errorf("localcluster: agent %s (pid %d) in state %q, want T (stopped)", name, pid, s)
		}
		return nil
	})
	if err != nil {
		return at, err
	}
	c.log.Info("localcluster: agent frozen (SIGSTOP)", "node", name, "pid", pid)
	return at, nil
}

// ThawAgent continues node name's agent with SIGCONT; ErrNotRunning when
// no agent runs. Continuing a running agent does nothing.
func (c *Cluster) ThawAgent(name string) error {
	n, err := c.node(name)
	if err != nil {
		return err
	}
	if _, err := n.signal(syscall.SIGCONT); err != nil {
		return err
	}
	c.log.Info("localcluster: agent continued (SIGCONT)", "node", name)
	return nil
}

// KillAgent SIGKILLs node name's agent only, as a crash of the agent
// would (the OOM killer, a bug), and waits until it has exited; its
// PostgreSQL and its fence keeper keep running. It returns the time of
// the fault (just before the signal). [Cluster.StartNode] starts the agent
// again.
func (c *Cluster) KillAgent(ctx context.Context, name string) (time.Time, error) {
	return c.sigkill(ctx, name, false)
}

// procState returns the state letter of /proc/<pid>/stat (R, S, D, T, Z,
// ...), 0 when the process does not exist.
func procState(pid int) byte {
	f := procStatFields(pid)
	if len(f) == 0 || f[0] == "" {
		return 0
	}
	return f[0][0]
}

// procStatFields returns the fields of /proc/<pid>/stat after "(comm)":
// state, ppid, pgrp, session, ...; nil when the process does not exist.
func procStatFields(pid int) []string {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(stat[i+1:]))
}

// processSession returns pid's session id, 0 when it does not exist.
func processSession(pid int) int {
	f := procStatFields(pid)
	if len(f) < 4 {
		return 0
	}
	sid, _ := strconv.Atoi(f[3])
	return sid
}

// keeperArg0 is what a fence keeper process (package fence) calls itself
// in ps; its arguments name the agent that started it ("-agent=<pid>").
const keeperArg0 = "pgha-fence-keeper"

// clusterEnv marks the agents of one cluster in their environment (the
// cluster's directory), which their fence keepers inherit: it finds the
// keepers of this cluster, and of no other running on the machine. (Not
// PGHA_*: the agent reads those as configuration and warns about unknown
// ones.)
const clusterEnv = "LOCALCLUSTER_DIR"

// FenceKeeper is a running fence keeper process started by one of the
// cluster's agents.
type FenceKeeper struct {
	PID int
	// Agent is the pid of the agent that started it (it may have exited).
	Agent int
	// Session is its session id; an agent started by localcluster leads
	// a process group in this process's session, the keeper a session of
	// its own.
	Session int
}

// String describes the keeper for a log.
func (k FenceKeeper) String() string {
	return fmt.Sprintf("%s pid %d (agent %d, session %d)", keeperArg0, k.PID, k.Agent, k.Session)
}

// FenceKeepers returns the running fence keepers that agents of this
// cluster started, in pid order. It works after Close too, which stops
// them all.
func (c *Cluster) FenceKeepers() []FenceKeeper {
	return fenceKeepers(c.dir)
}

// FenceKeeperOf returns the running fence keeper started by the agent
// whose pid is agent; false when there is none. An agent starts its
// keeper when it first arms it, as leader.
func (c *Cluster) FenceKeeperOf(agent int) (FenceKeeper, bool) {
	for _, k := range c.FenceKeepers() {
		if k.Agent == agent {
			return k, true
		}
	}
	return FenceKeeper{}, false
}

// fenceKeepers scans /proc for live keepers whose environment carries
// clusterEnv=dir.
func fenceKeepers(dir string) []FenceKeeper {
	if dir == "" {
		return nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	mark := []byte(clusterEnv + "=" + dir)
	var out []FenceKeeper
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if len(args) == 0 || args[0] != keeperArg0 || !alive(pid) {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !containsLine(env, mark) {
			continue
		}
		k := FenceKeeper{PID: pid, Session: processSession(pid)}
		for _, a := range args[1:] {
			if v, ok := strings.CutPrefix(a, "-agent="); ok {
				k.Agent, _ = strconv.Atoi(v)
			}
		}
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b FenceKeeper) int { return a.PID - b.PID })
	return out
}

// containsLine reports whether the NUL-separated list env holds mark.
func containsLine(env, mark []byte) bool {
	for _, kv := range bytes.Split(env, []byte{0}) {
		if bytes.Equal(kv, mark) {
			return true
		}
	}
	return false
}

// stopFenceKeepers SIGKILLs the cluster's remaining fence keepers, for
// Close once every agent and postmaster is stopped: a keeper whose agent
// was killed while armed would otherwise wait for its deadline (up to a
// ttl) with nothing left to fence. It waits until they are gone.
func (c *Cluster) stopFenceKeepers() error {
	keepers := c.FenceKeepers()
	for _, k := range keepers {
		if err := syscall.Kill(k.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("localcluster: stop %s: %w", k, err)
		}
	}
	return poll(context.Background(), 5*time.Second, 10*time.Millisecond, func() error {
		for _, k := range keepers {
			if alive(k.PID) {
				return fmt.Errorf("localcluster: %s did not exit after SIGKILL", k)
			}
		}
		return nil
	})
}
