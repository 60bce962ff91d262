// Package hookscript runs Patroni's hook scripts — postgresql.callbacks,
// pre_promote and before_stop — as a [failover.Hooks].
//
// A callback is run as `<command...> <action> <role> <scope>`, Patroni's
// argument convention; pre_promote and before_stop are run as given. Each
// runs in its own process group, which is killed (SIGKILL) when the hook's
// context ends, so a hung script and the children it started never outlive
// their timeout. A pre_promote script that exits non-zero, or is killed at
// its timeout, vetoes the promotion, and its output's tail is the reason.
package hookscript

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/pgha/pgha/failover"
)

// Config names the scripts. A command is a program and its arguments, as
// split from Patroni's strings (see Split).
type Config struct {
	// Callbacks maps on_start, on_stop, on_restart, on_reload and
	// on_role_change to their commands.
	Callbacks map[string][]string
	// PrePromote and BeforeStop are the synchronous scripts; nil for none.
	PrePromote []string
	BeforeStop []string
	// Timeout bounds each script (failover.Hooks.Timeout); default
	// failover.DefaultHookTimeout.
	Timeout time.Duration
	// Logger receives a line per script run; default slog.Default().
	Logger *slog.Logger
}

// ErrUnknownCallback is returned by New for a callback name Patroni does
// not have.
var ErrUnknownCallback = errors.New("hookscript: unknown callback")

// maxOutput is how much of a script's output is kept for the log.
const maxOutput = 4096

// New returns the hooks that run cfg's scripts.
func New(cfg Config) (failover.Hooks, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	h := failover.Hooks{Timeout: cfg.Timeout}
	for name, cmd := range cfg.Callbacks {
		if len(cmd) == 0 {
			return failover.Hooks{}, fmt.Errorf("hookscript: callback %s: empty command", name)
		}
		fn := func(ctx context.Context, info failover.HookInfo) {
			args := append(append([]string(nil), cmd...), info.Action, info.Role, info.Scope)
			if _, err := run(ctx, args); err != nil {
				log.Warn("hookscript: callback failed", "callback", info.Action, "err", err)
				return
			}
			log.Info("hookscript: callback ran", "callback", info.Action, "role", info.Role)
		}
		switch name {
		case failover.HookOnStart:
			h.OnStart = fn
		case failover.HookOnStop:
			h.OnStop = fn
		case failover.HookOnRestart:
			h.OnRestart = fn
		case failover.HookOnReload:
			h.OnReload = fn
		case failover.HookOnRoleChange:
			h.OnRoleChange = fn
		default:
			return failover.Hooks{}, fmt.Errorf("%w: %q (want on_start, on_stop, on_restart, on_reload or on_role_change)", ErrUnknownCallback, name)
		}
	}
	if cmd := cfg.PrePromote; len(cmd) > 0 {
		h.PrePromote = func(ctx context.Context, _ failover.HookInfo) error {
			out, err := run(ctx, cmd)
			if err != nil {
				return fmt.Errorf("pre_promote %q: %w: %s", strings.Join(cmd, " "), err, out)
			}
			log.Info("hookscript: pre_promote allowed the promotion")
			return nil
		}
	}
	if cmd := cfg.BeforeStop; len(cmd) > 0 {
		h.BeforeStop = func(ctx context.Context, _ failover.HookInfo) {
			if out, err := run(ctx, cmd); err != nil {
				log.Warn("hookscript: before_stop failed (the stop goes on)", "err", err, "output", out)
			}
		}
	}
	return h, nil
}

// run runs args in a process group of its own, killed as a whole when
// ctx ends, and returns the tail of its output.
func run(ctx context.Context, args []string) (string, error) {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The negative pid is the process group: the script's children go
		// too.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	// A child that keeps the output pipe open must not keep Wait.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	s := out.String()
	if len(s) > maxOutput {
		s = s[len(s)-maxOutput:]
	}
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("killed at its timeout: %w", ctx.Err())
	}
	return strings.TrimSpace(s), err
}

// Split splits a command string as Patroni does (Python's shlex): words
// separated by blanks, with single quotes, double quotes and backslash
// escapes.
func Split(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool // inside a word
		quote rune
	)
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch {
			case r == '"':
				quote = 0
			case r == '\\' && i+1 < len(rs) && strings.ContainsRune(`"\$`+"`", rs[i+1]):
				i++
				cur.WriteRune(rs[i])
			default:
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == '\\':
			if i+1 >= len(rs) {
				return nil, fmt.Errorf("hookscript: %q ends with a backslash", s)
			}
			i++
			cur.WriteRune(rs[i])
			in = true
		case r == ' ' || r == '\t' || r == '\n':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("hookscript: %q has an unclosed quote", s)
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}
