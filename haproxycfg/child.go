package haproxycfg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"sync"
	"syscall"
)

// errAlreadyStarted: start was called twice.
var errAlreadyStarted = errors.New("already started")

// child is a program run in the foreground as a child of this process
// (HAProxy's master, Keepalived), through an optional wrapper such as
// "ip netns exec NAME", with its output in the log. Its methods are safe
// for concurrent use.
type child struct {
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	err  error // exit status, valid once done is closed
}

// start runs wrapper... bin args... and returns the running command and a
// channel closed when it exits.
func (c *child) start(bin string, wrapper, args []string, log *slog.Logger) (*exec.Cmd, <-chan struct{}, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil {
		return nil, nil, fmt.Errorf("haproxycfg: %s: %w", bin, errAlreadyStarted)
	}
	cmd := exec.Command(bin, args...)
	if len(wrapper) > 0 {
		cmd = exec.Command(wrapper[0], append(append(wrapper[1:len(wrapper):len(wrapper)], bin), args...)...)
	}
	cmd.Stdout = &logWriter{log: log}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("haproxycfg: start %s: %w", bin, err)
	}
	done := make(chan struct{})
	c.cmd, c.done = cmd, done
	go func() {
		err := cmd.Wait()
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(done)
	}()
	return cmd, done, nil
}

// Done is closed when the program has exited (nil, never closed, before
// it was started).
func (c *child) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done
}

// Err returns the program's exit status once Done is closed.
func (c *child) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// pid returns the program's pid, 0 before it was started.
func (c *child) pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

// running returns the command while it runs, nil otherwise.
func (c *child) running() *exec.Cmd {
	c.mu.Lock()
	cmd := c.cmd
	c.mu.Unlock()
	if cmd == nil || c.exited() {
		return nil
	}
	return cmd
}

func (c *child) exited() bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, then SIGKILL if the program has not exited when ctx
// ends. Stopping one that is not running is not an error.
func (c *child) stop(ctx context.Context, name string) error {
	cmd := c.running()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.Done():
		return nil
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-c.Done()
		return fmt.Errorf("haproxycfg: %s killed after stop timeout: %w", name, ctx.Err())
	}
}
