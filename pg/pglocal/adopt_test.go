package pglocal

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/pgha/pgha/internal/testutil"
	"github.com/pgha/pgha/pg"
)

// TestAdoptedPostmaster checks that a Local created while a server is
// already running (an agent restart) reports it, stops it, and detects
// its crash.
func TestAdoptedPostmaster(t *testing.T) {
	ctx := ctxT(t, 60*time.Second)
	first := bootstrapPrimary(t, "n1")
	second := newLocal(t, first.Config())

	if s := second.State(); s != pg.StateRunning {
		t.Fatalf("adopted state %s", s)
	}
	if st, err := second.Status(ctx); err != nil || st.Role != pg.RolePrimary {
		t.Fatalf("adopted status %+v, %v", st, err)
	}
	if err := second.Stop(ctx, pg.StopFast); err != nil {
		t.Fatal(err)
	}
	if s := second.State(); s != pg.StateStopped {
		t.Fatalf("state after stopping adopted server: %s", s)
	}
	if err := second.Start(ctx); err != nil {
		t.Fatal(err)
	}

	third := newLocal(t, first.Config())
	if s := third.State(); s != pg.StateRunning {
		t.Fatalf("adopted state %s", s)
	}
	if err := syscall.Kill(second.runningPID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for _, l := range []*Local{second, third} {
		testutil.Eventually(t, 10*time.Second, func() error {
			if s := l.State(); s != pg.StateCrashed {
				return fmt.Errorf("state %s", s)
			}
			return nil
		}, "crash seen")
	}
}
