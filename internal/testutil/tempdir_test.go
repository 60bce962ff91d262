package testutil

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

func TestTempDirForPostgresUser(t *testing.T) {
	var dir string
	t.Run("use", func(t *testing.T) {
		dir = TempDirFor(t, "postgres")
		if os.Geteuid() != 0 {
			t.Logf("not root: TempDirFor is t.TempDir() (%s)", dir)
			return
		}
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatal(err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != uid {
			t.Fatalf("%s owned by uid %d, want postgres (%d)", dir, st.Uid, uid)
		}
		// The user itself can create a data directory there, as initdb will.
		cmd := exec.Command("/bin/mkdir", filepath.Join(dir, "data"))
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mkdir as postgres in %s: %v: %s", dir, err, out)
		}
	})
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s still exists after cleanup (stat: %v)", dir, err)
	}
}

func TestTempDirForUnknownUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Log("not root: the user is not looked up")
		return
	}
	failed, msg := newFakeTB(t).run(func(tb testing.TB) { TempDirFor(tb, "no-such-user-pgha") })
	if !failed {
		t.Fatal("TempDirFor with an unknown user did not fail the test")
	}
	t.Log(msg)
}
