package hookscript

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/internal/testutil"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		bad  bool
	}{
		{"/usr/bin/cb.sh", []string{"/usr/bin/cb.sh"}, false},
		{"  a  b\tc ", []string{"a", "b", "c"}, false},
		{`sh -c 'echo "$1"' x`, []string{"sh", "-c", `echo "$1"`, "x"}, false},
		{`a "b c" d\ e`, []string{"a", "b c", "d e"}, false},
		{`"x\"y"`, []string{`x"y`}, false},
		{`''`, []string{""}, false},
		{`'open`, nil, true},
		{`trailing\`, nil, true},
	}
	for _, tt := range tests {
		got, err := Split(tt.in)
		if (err != nil) != tt.bad || !slices.Equal(got, tt.want) {
			t.Errorf("Split(%q) = %q, %v; want %q, bad=%v", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hook.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// A callback gets Patroni's arguments: action, role, scope.
func TestCallbackArguments(t *testing.T) {
	out := filepath.Join(t.TempDir(), "args")
	h, err := New(Config{Callbacks: map[string][]string{
		failover.HookOnRoleChange: {script(t, `echo "$@" > `+out)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	h.OnRoleChange(context.Background(), failover.HookInfo{Action: "on_role_change", Role: "primary", Scope: "batman"})
	got, err := os.ReadFile(out)
	if err != nil || strings.TrimSpace(string(got)) != "on_role_change primary batman" {
		t.Fatalf("arguments %q (%v)", got, err)
	}
	if _, err := New(Config{Callbacks: map[string][]string{"on_whatever": {"x"}}}); !errors.Is(err, ErrUnknownCallback) {
		t.Fatalf("unknown callback: %v", err)
	}
}

// A non-zero pre_promote vetoes with its output; zero allows.
func TestPrePromote(t *testing.T) {
	h, err := New(Config{PrePromote: []string{script(t, "echo fencing failed: no IPMI; exit 3")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.PrePromote(context.Background(), failover.HookInfo{}); err == nil || !strings.Contains(err.Error(), "no IPMI") {
		t.Fatalf("veto: %v", err)
	}
	h, _ = New(Config{PrePromote: []string{script(t, "exit 0")}})
	if err := h.PrePromote(context.Background(), failover.HookInfo{}); err != nil {
		t.Fatalf("allow: %v", err)
	}
}

// A hung script and the child it started are killed when the context
// ends, and the hook returns then.
func TestHungScriptKilled(t *testing.T) {
	pids := filepath.Join(t.TempDir(), "pids")
	h, err := New(Config{BeforeStop: []string{script(t, "sleep 300 & echo $$ $! > "+pids+"; wait")}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	// Returning at all is the point: the script alone would sleep 300 s.
	h.BeforeStop(ctx, failover.HookInfo{})
	data, err := os.ReadFile(pids)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(data)) {
		pid, _ := strconv.Atoi(f)
		testutil.Eventually(t, 10*time.Second, func() error {
			if err := syscall.Kill(pid, 0); err == nil {
				return errors.New("still alive")
			}
			return nil
		}, "process %d of the hung script is gone", pid)
	}
}
