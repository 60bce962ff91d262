package e2e_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgha/pgha/examples/internal/localcluster"
)

// withCallbacks returns a log file and a customization that gives every
// node postgresql.callbacks (on_start, on_role_change, on_restart) running
// a script that appends its member name and Patroni's arguments (action,
// role, scope) to that file.
func withCallbacks(t *testing.T) (string, func(*localcluster.Options)) {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "callbacks.log")
	script := filepath.Join(dir, "callback.sh")
	body := "#!/bin/sh\necho \"$@\" >> '" + log + "'\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return log, func(o *localcluster.Options) {
		o.Customize = func(_ int, cfg map[string]any) {
			name, _ := cfg["name"].(string)
			pg, _ := cfg["postgresql"].(map[string]any)
			cmd := script + " " + name
			pg["callbacks"] = map[string]any{"on_start": cmd, "on_role_change": cmd, "on_restart": cmd}
		}
	}
}

// waitCallback waits until the callback log has the line want.
func (h *harness) waitCallback(t *testing.T, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, waitTimeout)
	defer cancel()
	err := localcluster.Poll(ctx, 100*time.Millisecond, func() error {
		data, err := os.ReadFile(h.callbackLog)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(data), "\n") {
			if line == want {
				return nil
			}
		}
		return fmt.Errorf("callback log:\n%s", data)
	})
	if err != nil {
		t.Fatalf("no callback %q: %v", want, err)
	}
}
