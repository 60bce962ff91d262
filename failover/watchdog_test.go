package failover_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pgha/pgha/election"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/failover/failovertest"
	"github.com/pgha/pgha/internal/testutil"
	"github.com/pgha/pgha/pg"
	"github.com/pgha/pgha/pg/pgtest"
	"github.com/pgha/pgha/watchdog"
)

// fakeWatchdog records what the server was doing at each call, so that
// its order relative to the server's promotion and stop shows.
type fakeWatchdog struct {
	mode watchdog.Mode
	srv  *pgtest.Server
	fail error // Activate's error

	mu                sync.Mutex
	active            bool
	pets              int
	activatedAs       pg.Role         // the server's role at the first Activate
	disabledWhileDown pg.ProcessState // the server's state at the last Disable
	activations       int
}

func (w *fakeWatchdog) Mode() watchdog.Mode { return w.mode }

func (w *fakeWatchdog) Activate() error {
	role := w.srv.Role()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.activations == 0 {
		w.activatedAs = role
	}
	w.activations++
	if w.fail != nil {
		return w.fail
	}
	w.active = true
	return nil
}

func (w *fakeWatchdog) KeepaliveUntil(time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.active {
		w.pets++
	}
	return nil
}

func (w *fakeWatchdog) Disable() error {
	state := w.srv.State()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.disabledWhileDown = state
	w.active = false
	return nil
}

func (w *fakeWatchdog) Active() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.active
}

func (w *fakeWatchdog) Pets() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pets
}

// TestWatchdogBeforePromotion: the replica that takes over arms its
// watchdog before it promotes and pets it while it leads; with
// watchdog.mode required and a device that cannot be armed it does not
// promote, releases the key and reports watchdog_failed; in automatic mode
// it promotes without one.
func TestWatchdogBeforePromotion(t *testing.T) {
	unavailable := fmt.Errorf("%w: no device", watchdog.ErrUnavailable)
	tests := []struct {
		name    string
		mode    watchdog.Mode
		fail    error
		promote bool
	}{
		{"required, armed", watchdog.ModeRequired, nil, true},
		{"required, unavailable", watchdog.ModeRequired, unavailable, false},
		{"automatic, unavailable", watchdog.ModeAutomatic, unavailable, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var wd *fakeWatchdog
			nodes, _ := fsClusterWith(t, 2, false, failovertest.Options{HandOver: true}, func(i int, o *failover.ControllerOptions) {
				if i == 1 {
					wd = &fakeWatchdog{mode: tt.mode, srv: o.Instance.(*pgtest.Server), fail: tt.fail}
					o.Watchdog = wd
				}
			})
			r := nodes[1]
			ttl := failovertest.Settings().TTL
			if err := nodes[0].Stop(); err != nil { // hands over: stops its server and resigns
				t.Fatal(err)
			}
			if tt.promote {
				waitLeading(t, r.Controller)
				wd.mu.Lock()
				as, n := wd.activatedAs, wd.activations
				wd.mu.Unlock()
				if n == 0 || as != pg.RoleReplica {
					t.Fatalf("watchdog activated %d times, first while the server was %q: want it armed before the promotion", n, as)
				}
				if tt.fail == nil {
					testutil.Eventually(t, ttl, func() error {
						if wd.Pets() < 2 {
							return fmt.Errorf("%d pets", wd.Pets())
						}
						return nil
					}, "the watchdog petted while leading")
					// A clean exit stops the server, then disarms.
					if err := r.Stop(); err != nil {
						t.Fatal(err)
					}
					wd.mu.Lock()
					down := wd.disabledWhileDown
					wd.mu.Unlock()
					if down != pg.StateStopped || wd.Active() {
						t.Fatalf("watchdog disabled while the server was %q, active %v: want it disabled after the server stopped", down, wd.Active())
					}
				}
				return
			}
			sawFailed := false
			testutil.Eventually(t, 3*ttl, func() error {
				if s := r.Controller.State(); s != nil && s.WatchdogFailed {
					sawFailed = true
				}
				if !sawFailed {
					return errors.New("watchdog_failed not reported")
				}
				return nil
			}, "watchdog_failed reported")
			if r.Server.Role() == pg.RolePrimary {
				t.Fatalf("promoted without the required watchdog: %s", r.describe())
			}
			if s := r.Controller.State(); s.IsLeader {
				t.Fatalf("still leads without the required watchdog")
			}
		})
	}
}

func TestWatchdogTimeout(t *testing.T) {
	for _, tt := range []struct {
		ttl, want time.Duration
	}{
		{failover.MinConfigTTL, 2 * time.Second}, // 4 − 0.4 − 0.67
		{6 * time.Second, 4 * time.Second},       // 6 − 0.6 − 1
		{30 * time.Second, 22 * time.Second},     // 30 − 3 − 5
	} {
		if got := failover.WatchdogTimeout(election.Options{TTL: tt.ttl}); got != tt.want {
			t.Errorf("WatchdogTimeout(ttl %v) = %v, want %v", tt.ttl, got, tt.want)
		}
	}
}
