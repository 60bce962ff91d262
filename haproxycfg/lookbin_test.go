package haproxycfg

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The binary lookup NewProcess, NewKeepalived and CommandReloader.Validate
// share: a given Bin is used as it is, "" finds the program on PATH, and a
// program missing from PATH is an error naming its Debian package.
func TestLookBin(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"haproxy", "keepalived"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	empty := t.TempDir()
	cfgPath := filepath.Join(dir, "x.cfg")
	newProcess := func(bin string) (string, error) {
		p, err := NewProcess(ProcessConfig{Bin: bin, ConfigPath: cfgPath, StatsSocket: filepath.Join(dir, "admin.sock")})
		if err != nil {
			return "", err
		}
		return p.Config().Bin, nil
	}
	newKeepalived := func(bin string) (string, error) {
		k, err := NewKeepalived(KeepalivedConfig{Bin: bin, ConfigPath: cfgPath, RunDir: dir})
		if err != nil {
			return "", err
		}
		return k.cfg.Bin, nil
	}
	for _, tc := range []struct {
		name    string
		program string
		create  func(bin string) (string, error)
	}{
		{"NewProcess", "haproxy", newProcess},
		{"NewKeepalived", "keepalived", newKeepalived},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PATH", dir)
			if got, err := tc.create(""); err != nil || got != filepath.Join(dir, tc.program) {
				t.Errorf("on PATH: got %q, %v; want %q", got, err, filepath.Join(dir, tc.program))
			}
			if got, err := tc.create("/opt/x/bin/" + tc.program); err != nil || got != "/opt/x/bin/"+tc.program {
				t.Errorf("given Bin: got %q, %v; want it unchanged", got, err)
			}
			t.Setenv("PATH", empty)
			_, err := tc.create("")
			if !errors.Is(err, exec.ErrNotFound) || !strings.Contains(err.Error(), "Debian package "+tc.program) {
				t.Errorf("not on PATH: got %v; want exec.ErrNotFound naming the Debian package %s", err, tc.program)
			}
		})
	}
	t.Run("CommandReloader.Validate", func(t *testing.T) {
		t.Setenv("PATH", empty)
		err := (&CommandReloader{}).Validate(context.Background(), cfgPath)
		if !errors.Is(err, exec.ErrNotFound) || !strings.Contains(err.Error(), "Debian package haproxy") {
			t.Errorf("not on PATH: got %v; want exec.ErrNotFound naming the Debian package haproxy", err)
		}
		t.Setenv("PATH", dir)
		if err := (&CommandReloader{}).Validate(context.Background(), cfgPath); err != nil {
			t.Errorf("haproxy on PATH (a script that exits 0): %v", err)
		}
	})
}
