package localcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// BuildAgent builds ./examples/agent of the module that contains the
// working directory into dir/pgha-agent and returns the binary's path.
func BuildAgent(ctx context.Context, dir string) (string, error) {
	return build(ctx, dir, "./examples/agent", "pgha-agent")
}

// BuildCtl builds ./examples/ctl into dir/pgha-ctl and returns the
// binary's path. It reads a node's configuration ([Node.ConfigPath]) like
// the agent's patroni.yml.
func BuildCtl(ctx context.Context, dir string) (string, error) {
	return build(ctx, dir, "./examples/ctl", "pgha-ctl")
}

func build(ctx context.Context, dir, pkg, name string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("localcluster: go build %s: %w: %s", pkg, err, b)
	}
	return out, nil
}

// moduleRoot walks up from the working directory to the directory with
// go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("localcluster: go.mod not found above the working directory")
		}
		dir = parent
	}
}
