package testutil

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TempDirFor returns a fresh, empty directory that OS user name owns and can
// reach: when the test runs as root, it is created under a base directory
// every user can traverse (os.TempDir(), or /tmp if that is not traversable)
// and chowned to the user, because t.TempDir()'s parents are private to
// root. It is removed by t.Cleanup. When the test does not run as root it is
// just t.TempDir().
//
// PostgreSQL data directories go here: the server refuses to run as root.
func TempDirFor(t testing.TB, name string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		return t.TempDir()
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("testutil.TempDirFor: look up OS user %q: %v", name, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		t.Fatalf("testutil.TempDirFor: OS user %q has non-numeric uid/gid %q/%q", name, u.Uid, u.Gid)
	}
	dir, err := os.MkdirTemp(traversableTempBase(), "pgha-"+sanitizeName(t.Name())+"-")
	if err != nil {
		t.Fatalf("testutil.TempDirFor: %v", err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("testutil.TempDirFor: remove %s: %v", dir, err)
		}
	})
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatalf("testutil.TempDirFor: chown %s to %s: %v", dir, name, err)
	}
	// Owner-only like t.TempDir, which PostgreSQL also accepts for a data
	// directory; root reaches it anyway.
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatalf("testutil.TempDirFor: chmod %s: %v", dir, err)
	}
	return dir
}

// traversableTempBase returns os.TempDir() if every directory on its path is
// searchable by other users, else /tmp.
func traversableTempBase() string {
	base := os.TempDir()
	for d := base; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if d == filepath.Dir(d) {
			return base
		}
	}
}

// sanitizeName turns a test name into something short and safe for a file
// name.
func sanitizeName(name string) string {
	s := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		default:
			return '_'
		}
	}, name)
	if len(s) > 40 {
		s = s[:40]
	}
	return s
}
