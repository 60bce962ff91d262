package failover_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pgha/pgha/election"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/internal/testutil"
	"github.com/pgha/pgha/watchdog"
)

// fakeWatchdog records its calls in the fake PostgreSQL's call log, so
// that their order relative to the server's operations shows.
type fakeWatchdog struct {
	mode watchdog.Mode
	pg   *fakePG
	fail error // Activate's error

	mu     sync.Mutex
	active bool
	pets   int
}

func (w *fakeWatchdog) Mode() watchdog.Mode { return w.mode }

func (w *fakeWatchdog) Activate() error {
	w.pg.mu.Lock()
	w.pg.call("watchdog:activate")
	w.pg.mu.Unlock()
	if w.fail != nil {
		return w.fail
	}
	w.mu.Lock()
	defer w.mu.Unlock()
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
	w.pg.mu.Lock()
	w.pg.call("watchdog:disable")
	w.pg.mu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
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
			nodes, _ := fsClusterWith(t, 2, false, func(i int, o *failover.ControllerOptions) {
				if i == 1 {
					wd = &fakeWatchdog{mode: tt.mode, pg: o.Instance.(*fakePG), fail: tt.fail}
					o.Watchdog = wd
				}
			})
			r := nodes[1]
			ttl := shortSettings().TTL
			nodes[0].stop() // hands over: stops its server and resigns
			if tt.promote {
				waitLeading(t, r.ctrl)
				calls := r.inst.Calls()
				a, p := slices.Index(calls, "watchdog:activate"), slices.Index(calls, "promote")
				if a < 0 || p < 0 || a > p {
					t.Fatalf("calls %v: want the watchdog armed before the promotion", calls)
				}
				if tt.fail == nil {
					testutil.Eventually(t, ttl, func() error {
						if wd.Pets() < 2 {
							return fmt.Errorf("%d pets", wd.Pets())
						}
						return nil
					}, "the watchdog petted while leading")
					// A clean exit stops the server, then disarms.
					r.stop()
					calls := r.inst.Calls()
					st, d := slices.Index(calls, "stop:fast"), slices.Index(calls, "watchdog:disable")
					if st < 0 || d < st || wd.Active() {
						t.Fatalf("calls %v, active %v: want the watchdog disabled after the server stopped", calls, wd.Active())
					}
				}
				return
			}
			sawFailed := false
			testutil.Eventually(t, 3*ttl, func() error {
				if s := r.ctrl.State(); s != nil && s.WatchdogFailed {
					sawFailed = true
				}
				if !sawFailed {
					return errors.New("watchdog_failed not reported")
				}
				return nil
			}, "watchdog_failed reported")
			if slices.Contains(r.inst.Calls(), "promote") {
				t.Fatalf("promoted without the required watchdog: %v", r.inst.Calls())
			}
			if s := r.ctrl.State(); s.IsLeader {
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
