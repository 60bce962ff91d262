package testutil

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPGBinDir(t *testing.T) {
	dir := PGBinDir(t)
	t.Logf("PostgreSQL binaries in %s", dir)
	// This machine (and CI) installs the Debian package postgresql-15.
	if dir != "/usr/lib/postgresql/15/bin" {
		t.Fatalf("PGBinDir = %s, want /usr/lib/postgresql/15/bin", dir)
	}
}

func TestHAProxyBin(t *testing.T) {
	bin := HAProxyBin(t)
	t.Logf("haproxy at %s", bin)
	if filepath.Base(bin) != "haproxy" || isExecutable(bin) != nil {
		t.Fatalf("HAProxyBin = %s, not an executable haproxy", bin)
	}
}

func TestBinaryOverrides(t *testing.T) {
	tests := []struct {
		env, val, pkg string
		lookup        func() (string, error)
	}{
		{EnvPGBinDir, "/nonexistent/bin", "postgresql-15", LookupPGBinDir},
		{EnvPGBinDir, "/usr/lib/postgresql/15/bin", "", LookupPGBinDir},
		{EnvHAProxyBin, "/nonexistent/haproxy", "haproxy", LookupHAProxyBin},
		{EnvHAProxyBin, t.TempDir(), "haproxy", LookupHAProxyBin}, // a directory
	}
	for _, tt := range tests {
		t.Run(tt.env+"="+tt.val, func(t *testing.T) {
			t.Setenv(tt.env, tt.val)
			got, err := tt.lookup()
			if tt.pkg == "" {
				if err != nil || got != tt.val {
					t.Fatalf("lookup = %q, %v; want %q", got, err, tt.val)
				}
				return
			}
			if !errors.Is(err, ErrBinaryNotFound) {
				t.Fatalf("lookup = %q, %v; want ErrBinaryNotFound", got, err)
			}
			t.Logf("%v", err)
		})
	}
}

func TestDiscoveryFallbacks(t *testing.T) {
	// Nothing on PATH, no overrides: only the Debian locations are left.
	t.Setenv("PATH", t.TempDir())
	t.Setenv(EnvPGBinDir, "")
	t.Setenv(EnvHAProxyBin, "")

	lib := t.TempDir()
	if _, err := lookupPGBinDir(lib); err == nil || !strings.Contains(err.Error(), "Debian package postgresql-15") {
		t.Fatalf("empty lib dir: error = %v; want one naming the Debian package postgresql-15", err)
	}
	// The newest version with both binaries wins; an incomplete newer one
	// and a non-version directory are ignored.
	for _, v := range []string{"9.6", "13", "15", "16", "common"} {
		bin := filepath.Join(lib, v, "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		names := []string{"postgres", "initdb"}
		if v == "16" {
			names = names[:1]
		}
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(bin, n), nil, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got, err := lookupPGBinDir(lib); err != nil || got != filepath.Join(lib, "15", "bin") {
		t.Fatalf("lookupPGBinDir = %q, %v; want %s", got, err, filepath.Join(lib, "15", "bin"))
	}

	if _, err := lookupHAProxyBin("/nonexistent/haproxy"); err == nil || !strings.Contains(err.Error(), "Debian package haproxy") {
		t.Fatalf("error = %v; want one naming the Debian package haproxy", err)
	}
	if got, err := lookupHAProxyBin("/usr/sbin/haproxy"); err != nil || got != "/usr/sbin/haproxy" {
		t.Fatalf("lookupHAProxyBin = %q, %v; want /usr/sbin/haproxy", got, err)
	}
}
