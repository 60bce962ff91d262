package testutil

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Environment variables that override binary discovery.
const (
	EnvPGBinDir   = "PG_BINDIR"
	EnvHAProxyBin = "HAPROXY_BIN"
)

// Debian packages named in failure messages.
const (
	pgPackage      = "postgresql-15"
	haproxyPackage = "haproxy"
)

// pgLibDir is where Debian installs PostgreSQL major versions.
const pgLibDir = "/usr/lib/postgresql"

// ErrBinaryNotFound is returned when a required binary cannot be found.
var ErrBinaryNotFound = errors.New("testutil: binary not found")

// PGBinDir returns the directory holding the PostgreSQL server binaries
// (postgres and initdb): $PG_BINDIR if set, else `pg_config --bindir`, else
// the newest /usr/lib/postgresql/*/bin. It fails the test, naming the Debian
// package to install, when none has them.
func PGBinDir(t testing.TB) string {
	t.Helper()
	dir, err := LookupPGBinDir()
	if err != nil {
		t.Fatalf("%v", err)
	}
	return dir
}

// LookupPGBinDir is PGBinDir returning an error instead of failing a test.
func LookupPGBinDir() (string, error) { return lookupPGBinDir(pgLibDir) }

// lookupPGBinDir implements LookupPGBinDir with Debian's version directories
// under libDir.
func lookupPGBinDir(libDir string) (string, error) {
	if dir := os.Getenv(EnvPGBinDir); dir != "" {
		if err := hasPGBinaries(dir); err != nil {
			return "", fmt.Errorf("%w: %s=%s: %v; fix %s or install the Debian package %s",
				ErrBinaryNotFound, EnvPGBinDir, dir, err, EnvPGBinDir, pgPackage)
		}
		return dir, nil
	}
	var tried []string
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := strings.TrimSpace(string(out))
		if hasPGBinaries(dir) == nil {
			return dir, nil
		}
		tried = append(tried, dir+" (from pg_config)")
	}
	for _, dir := range debianPGBinDirs(libDir) {
		if hasPGBinaries(dir) == nil {
			return dir, nil
		}
		tried = append(tried, dir)
	}
	return "", fmt.Errorf("%w: PostgreSQL server binaries (postgres, initdb) not found (tried %s, %s/*/bin; set %s to override); install the Debian package %s",
		ErrBinaryNotFound, orNone(tried), libDir, EnvPGBinDir, pgPackage)
}

// debianPGBinDirs lists libDir/<version>/bin, newest first.
func debianPGBinDirs(libDir string) []string {
	entries, err := os.ReadDir(libDir)
	if err != nil {
		return nil
	}
	type version struct {
		name  string
		major float64
	}
	var vs []version
	for _, e := range entries {
		if v, err := strconv.ParseFloat(e.Name(), 64); err == nil {
			vs = append(vs, version{e.Name(), v})
		}
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].major > vs[j].major })
	dirs := make([]string, 0, len(vs))
	for _, v := range vs {
		dirs = append(dirs, filepath.Join(libDir, v.name, "bin"))
	}
	return dirs
}

// hasPGBinaries checks that dir holds executable postgres and initdb.
func hasPGBinaries(dir string) error {
	for _, name := range []string{"postgres", "initdb"} {
		if err := isExecutable(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

// HAProxyBin returns the path of the haproxy binary: $HAPROXY_BIN if set,
// else haproxy on PATH, else /usr/sbin/haproxy. It fails the test, naming the
// Debian package to install, when there is none.
func HAProxyBin(t testing.TB) string {
	t.Helper()
	bin, err := LookupHAProxyBin()
	if err != nil {
		t.Fatalf("%v", err)
	}
	return bin
}

// LookupHAProxyBin is HAProxyBin returning an error instead of failing a
// test.
func LookupHAProxyBin() (string, error) { return lookupHAProxyBin("/usr/sbin/haproxy") }

// lookupHAProxyBin implements LookupHAProxyBin with fallback as the last
// candidate: root's PATH has /usr/sbin, but test runners often do not.
func lookupHAProxyBin(fallback string) (string, error) {
	if bin := os.Getenv(EnvHAProxyBin); bin != "" {
		if err := isExecutable(bin); err != nil {
			return "", fmt.Errorf("%w: %s=%s: %v; fix %s or install the Debian package %s",
				ErrBinaryNotFound, EnvHAProxyBin, bin, err, EnvHAProxyBin, haproxyPackage)
		}
		return bin, nil
	}
	if bin, err := exec.LookPath("haproxy"); err == nil {
		return bin, nil
	}
	if isExecutable(fallback) == nil {
		return fallback, nil
	}
	return "", fmt.Errorf("%w: haproxy not found (tried $PATH and %s; set %s to override); install the Debian package %s",
		ErrBinaryNotFound, fallback, EnvHAProxyBin, haproxyPackage)
}

// isExecutable checks that path is a regular file with an execute bit.
func isExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "no candidates"
	}
	return strings.Join(s, ", ")
}
