package localcluster

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Node is one agent and its PostgreSQL.
type Node struct {
	c       *Cluster
	name    string
	index   int
	apiPort int
	pgPort  int
	dir     string
	dataDir string
	cfgPath string
	logPath string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	// tags replace defaultTags in the configuration when set (SetTags).
	tags map[string]any
}

// Name is the member name (node1, node2, ...).
func (n *Node) Name() string { return n.name }

// Index is the node's position, from 0.
func (n *Node) Index() int { return n.index }

// APIURL is the REST API's base URL.
func (n *Node) APIURL() string { return "http://" + n.apiAddr() }

// PGPort is PostgreSQL's port on 127.0.0.1.
func (n *Node) PGPort() int { return n.pgPort }

// DataDir is PostgreSQL's data directory.
func (n *Node) DataDir() string { return n.dataDir }

// ConfigPath is the agent's configuration file.
func (n *Node) ConfigPath() string { return n.cfgPath }

// LogPath is where the agent's stdout and stderr go.
func (n *Node) LogPath() string { return n.logPath }

func (n *Node) apiAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.apiPort)) }
func (n *Node) pgAddr() string  { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.pgPort)) }

// Running reports whether the agent process is alive.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.runningLocked()
}

func (n *Node) runningLocked() bool {
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// AgentPID is the agent's pid, 0 when it does not run.
func (n *Node) AgentPID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.runningLocked() {
		return 0
	}
	return n.cmd.Process.Pid
}

// PostmasterPID reads postmaster.pid and returns the pid when that
// process is alive; 0 and no error when no postmaster runs.
func (n *Node) PostmasterPID() (int, error) {
	data, err := os.ReadFile(filepath.Join(n.dataDir, "postmaster.pid"))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("localcluster: %s: %w", n.name, err)
	}
	first, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("localcluster: %s: malformed postmaster.pid", n.name)
	}
	if !alive(pid) {
		return 0, nil
	}
	return pid, nil
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// Field 3, after "(comm)", is the state; Z is a zombie.
	if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

// start launches the agent. Its stdout and stderr go to LogPath.
func (n *Node) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.runningLocked() {
		return fmt.Errorf("localcluster: %s: agent already runs", n.name)
	}
	logf, err := os.OpenFile(n.logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("localcluster: %s: %w", n.name, err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "---- localcluster: starting %s at %s\n", n.name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(n.c.opts.AgentBin, "-c", n.cfgPath)
	cmd.Dir = n.dir
	cmd.Env = append(os.Environ(), n.c.opts.AgentEnv...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group: a Ctrl-C in the terminal reaches only the
	// orchestrator, which then stops the agents itself. Pdeathsig: the
	// agents do not outlive an orchestrator that is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("localcluster: %s: start agent: %w", n.name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	n.cmd, n.done = cmd, done
	return nil
}

// signal sends sig to the agent; ErrNotRunning when it does not run.
func (n *Node) signal(sig syscall.Signal) (chan struct{}, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.runningLocked() {
		return nil, fmt.Errorf("%w: agent %s", ErrNotRunning, n.name)
	}
	if err := n.cmd.Process.Signal(sig); err != nil {
		return nil, fmt.Errorf("localcluster: %s: %w", n.name, err)
	}
	return n.done, nil
}

// killPostmaster SIGKILLs the postmaster and all its children at once
// (PostgreSQL's children lead their own process groups, so the group of
// the postmaster is not enough), as a crash of the host would.
func (n *Node) killPostmaster() (bool, error) {
	pid, err := n.PostmasterPID()
	if err != nil || pid == 0 {
		return false, err
	}
	children := childrenOf(pid)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return false, fmt.Errorf("localcluster: %s: kill postmaster %d: %w", n.name, pid, err)
	}
	for _, c := range children {
		_ = syscall.Kill(c, syscall.SIGKILL)
	}
	return true, nil
}

// childrenOf lists the pids whose parent is pid.
func childrenOf(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces, so parse
		// after the last ')'.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}
