package failover_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/hookscript"
	"github.com/pgha/pgha/internal/testutil"
)

// TestHookScriptsOnRealPostgres runs Patroni-style hook scripts on real
// PostgreSQL and etcd. The leader dies; n2, preferred by its
// failover_priority, wins the race but its pre_promote script exits 1: it
// releases the key without promoting, and n3 takes over. n3's
// on_role_change script hangs with a child; both are killed at the hook
// timeout, and n3 leads regardless.
func TestHookScriptsOnRealPostgres(t *testing.T) {
	c := newITCluster(t, 3)
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")

	veto, err := hookscript.New(hookscript.Config{PrePromote: []string{"/bin/sh", "-c", "echo fencing failed; exit 1"}, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	hang, err := hookscript.New(hookscript.Config{Timeout: time.Second, Callbacks: map[string][]string{
		failover.HookOnRoleChange: {"/bin/sh", "-c", "sleep 300 & echo $$ $! > " + pids + "; wait", "callback"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	n1, n2, n3 := c.node("n1"), c.node("n2"), c.node("n3")
	n2.tags, n2.hooks = dcs.Tags{dcs.TagFailoverPriority: int64(2)}, veto
	n3.hooks = hang
	c.start(n1)
	c.waitHealthy(t, 120*time.Second, "n2", "n3")
	c.start(n2)
	c.start(n3)
	if l := c.waitHealthy(t, 120*time.Second); l != n1 {
		t.Fatalf("leader %s, want n1", l.name)
	}

	before := time.Now()
	n1.stop(failover.ExitAbandon)
	killPostmaster(t, n1)
	leader := c.waitHealthy(t, 60*time.Second, "n1")
	if leader != n3 {
		t.Fatalf("new leader %s, want n3 (n2's pre_promote refuses)", leader.name)
	}
	if _, ok := c.rec.first("n2", failover.EventPromoteVetoed, before); !ok {
		t.Fatal("n2 never tried to promote: the veto was not exercised (failover_priority should make it win the race)")
	}
	if _, ok := c.rec.first("n2", failover.EventPromoted, before); ok {
		t.Fatal("n2 promoted although its pre_promote script exited 1")
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		data, err := os.ReadFile(pids)
		if err != nil {
			return err
		}
		for _, f := range strings.Fields(string(data)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				return err
			}
			if syscall.Kill(pid, 0) == nil {
				return fmt.Errorf("process %d of the hung on_role_change script is alive", pid)
			}
		}
		if len(strings.Fields(string(data))) != 2 {
			return errors.New("the script has not written its pids yet")
		}
		return nil
	}, "the hung callback and its child are killed at the hook timeout")
}
