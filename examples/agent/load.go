package main

import (
	"strings"

	"github.com/pgha/pgha/agentconfig"
)

// loaded is a validated configuration and the warnings about keys it does
// not use.
type loaded struct {
	cfg      *agentconfig.Config
	warnings []agentconfig.Warning
}

// loadConfig reads and validates the configuration; the error names the
// offending fields.
func loadConfig(path string, env []string) (loaded, error) {
	cfg, warnings, err := agentconfig.Load(path, env)
	if err != nil {
		return loaded{}, err
	}
	if err := cfg.Validate(); err != nil {
		return loaded{}, err
	}
	return loaded{cfg: cfg, warnings: warnings}, nil
}

// hasConfigEnv reports whether env carries configuration variables, so
// that the agent may run without a file.
func hasConfigEnv(env []string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, "PGHA_") || strings.HasPrefix(kv, "PATRONI_") {
			return true
		}
	}
	return false
}
