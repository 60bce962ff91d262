package watchdog

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgha/pgha/clock"
)

func TestActivate(t *testing.T) {
	noSet := Info{Identity: "fixed", Options: OptMagicClose | OptKeepalivePing}
	noMagic := Info{Identity: "legacy", Options: OptSetTimeout | OptKeepalivePing}
	armed := []string{"getsupport", "settimeout 4", "gettimeout", "keepalive"}
	closed := []string{"write V", "close"}
	cat := func(parts ...[]string) []string {
		var all []string
		for _, p := range parts {
			all = append(all, p...)
		}
		return all
	}
	tests := []struct {
		name     string
		mode     Mode
		timeout  time.Duration // Config.Timeout; 4 s when zero
		interval time.Duration // Config.KeepaliveInterval; 500 ms when zero
		drv      *fakeDriver
		wantErrs []error // all wrapped; none means success
		active   bool
		actual   time.Duration
		wantOps  []string
	}{
		{
			name: "required", mode: ModeRequired, drv: &fakeDriver{info: good(), timeout: 60},
			active: true, actual: 4 * time.Second, wantOps: armed,
		},
		{
			name: "automatic, timeout rounded down", mode: ModeAutomatic, timeout: 4900 * time.Millisecond,
			drv:    &fakeDriver{info: good(), timeout: 60},
			active: true, actual: 4 * time.Second, wantOps: armed,
		},
		{
			name: "driver lowers the timeout", mode: ModeRequired,
			drv:    &fakeDriver{info: good(), timeout: 60, adjust: func(s int) int { return s - 1 }},
			active: true, actual: 3 * time.Second, wantOps: armed,
		},
		{
			name: "driver raises the timeout, required", mode: ModeRequired,
			drv:      &fakeDriver{info: good(), timeout: 60, adjust: func(int) int { return 5 }},
			wantErrs: []error{ErrTimeoutTooLong},
			wantOps:  cat(armed[:3], closed),
		},
		{
			// Patroni keeps such a device in automatic mode: a late reset
			// still bounds a thawed host.
			name: "driver raises the timeout, automatic", mode: ModeAutomatic,
			drv:      &fakeDriver{info: good(), timeout: 60, adjust: func(int) int { return 5 }},
			wantErrs: []error{ErrTimeoutTooLong},
			active:   true, actual: 5 * time.Second, wantOps: armed,
		},
		{
			name: "fixed timeout, short enough", mode: ModeRequired,
			drv:    &fakeDriver{info: noSet, timeout: 3},
			active: true, actual: 3 * time.Second,
			wantOps: []string{"getsupport", "gettimeout", "keepalive"},
		},
		{
			name: "fixed timeout, too long, required", mode: ModeRequired,
			drv:      &fakeDriver{info: noSet, timeout: 60},
			wantErrs: []error{ErrTimeoutTooLong},
			wantOps:  cat([]string{"getsupport", "gettimeout"}, closed),
		},
		{
			name: "too long and no magic close, required", mode: ModeRequired,
			drv:      &fakeDriver{info: noMagic, timeout: 60, adjust: func(int) int { return 60 }},
			wantErrs: []error{ErrTimeoutTooLong, ErrMayStayArmed},
			wantOps:  []string{"getsupport", "settimeout 4", "gettimeout", "keepalive", "write V", "close"},
		},
		{
			name: "no magic close is no obstacle", mode: ModeRequired,
			drv:    &fakeDriver{info: noMagic, timeout: 60},
			active: true, actual: 4 * time.Second, wantOps: armed,
		},
		{
			name: "too short, automatic", mode: ModeAutomatic, interval: time.Second,
			drv:      &fakeDriver{info: good(), timeout: 60, adjust: func(int) int { return 1 }},
			wantErrs: []error{ErrTimeoutTooShort},
			wantOps:  cat(armed[:3], closed),
		},
		{
			name: "too short, required", mode: ModeRequired, interval: time.Second,
			drv:      &fakeDriver{info: noSet, timeout: 1},
			wantErrs: []error{ErrTimeoutTooShort},
			wantOps:  cat([]string{"getsupport", "gettimeout"}, closed),
		},
		{
			name: "alarm only", mode: ModeAutomatic,
			drv:      &fakeDriver{info: Info{Identity: "bmc", Options: good().Options | OptAlarmOnly}, timeout: 4},
			wantErrs: []error{ErrUnavailable},
			wantOps:  cat([]string{"getsupport"}, closed),
		},
		{
			name: "not a watchdog", mode: ModeRequired,
			drv:      &fakeDriver{infoErr: errNotTTY, keepaliveErr: fmt.Errorf("%w: %w", errNoKeepaliveIoctl, errNotTTY)},
			wantErrs: []error{ErrUnavailable, ErrMayStayArmed},
			wantOps:  []string{"getsupport", "getsupport", "keepalive", "write 1", "write V", "close"},
		},
		{
			name: "SETTIMEOUT refused", mode: ModeAutomatic,
			drv:      &fakeDriver{info: good(), timeout: 60, setErr: errors.New("invalid argument")},
			wantErrs: []error{ErrUnavailable},
			wantOps:  cat([]string{"getsupport", "settimeout 4"}, closed),
		},
		{
			name: "GETTIMEOUT fails", mode: ModeRequired,
			drv:      &fakeDriver{info: noSet, timeout: 4, getErr: errors.New("operation not supported")},
			wantErrs: []error{ErrUnavailable},
			wantOps:  cat([]string{"getsupport", "gettimeout"}, closed),
		},
		{
			name: "pet fails", mode: ModeRequired,
			drv:      &fakeDriver{info: good(), timeout: 60, keepaliveErr: errors.New("input/output error")},
			wantErrs: []error{ErrUnavailable},
			wantOps:  cat(armed, closed),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Mode: tt.mode, Timeout: tt.timeout, KeepaliveInterval: tt.interval}
			if cfg.Timeout == 0 {
				cfg.Timeout = 4 * time.Second
			}
			if cfg.KeepaliveInterval == 0 {
				cfg.KeepaliveInterval = 500 * time.Millisecond
			}
			w, opens := newFakeWatchdog(t, cfg, tt.drv)
			err := w.Activate()
			if len(tt.wantErrs) == 0 && err != nil {
				t.Fatalf("Activate = %v", err)
			}
			for _, want := range tt.wantErrs {
				if !errors.Is(err, want) {
					t.Errorf("Activate = %v; want it to wrap %v", err, want)
				}
			}
			if *opens != 1 {
				t.Errorf("opened %d times, want 1", *opens)
			}
			equalOps(t, "Activate", tt.drv.takeOps(), tt.wantOps)
			if got := w.Active(); got != tt.active {
				t.Errorf("Active = %v, want %v", got, tt.active)
			}
			if got := tt.drv.isClosed(); got == tt.active {
				t.Errorf("device closed = %v with Active %v", got, tt.active)
			}
			st := w.Status()
			if st.Active != tt.active || st.Timeout != tt.actual || st.Mode != tt.mode || st.Device != DefaultDevice {
				t.Errorf("Status = %+v; want active %v, timeout %v", st, tt.active, tt.actual)
			}
			if tt.active && st.Info != tt.drv.info {
				t.Errorf("Status.Info = %+v, want %+v", st.Info, tt.drv.info)
			}
		})
	}
}

func TestActivateAgainRechecks(t *testing.T) {
	for _, mode := range []Mode{ModeAutomatic, ModeRequired} {
		t.Run(string(mode), func(t *testing.T) {
			drv := &fakeDriver{info: good(), timeout: 60}
			w, opens := newFakeWatchdog(t, Config{Mode: mode, Timeout: 4 * time.Second}, drv)
			if err := w.Activate(); err != nil {
				t.Fatal(err)
			}
			drv.takeOps()
			if err := w.Activate(); err != nil {
				t.Fatalf("second Activate = %v", err)
			}
			equalOps(t, "second Activate", drv.takeOps(), []string{"gettimeout", "keepalive"})

			// Something changed the timeout under us.
			drv.setTimeoutNow(30)
			err := w.Activate()
			if !errors.Is(err, ErrTimeoutTooLong) {
				t.Fatalf("Activate after the timeout grew = %v, want ErrTimeoutTooLong", err)
			}
			wantActive := mode == ModeAutomatic
			if w.Active() != wantActive || drv.isClosed() == wantActive {
				t.Errorf("Active %v, device closed %v; want active %v", w.Active(), drv.isClosed(), wantActive)
			}
			if wantActive && w.Status().Timeout != 30*time.Second {
				t.Errorf("Status().Timeout = %v, want 30s", w.Status().Timeout)
			}
			if *opens != 1 {
				t.Errorf("opened %d times, want 1", *opens)
			}
		})
	}
}

func TestActivateOpenFails(t *testing.T) {
	for _, mode := range []Mode{ModeAutomatic, ModeRequired} {
		w, err := New(Config{Mode: mode, Timeout: 4 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		busy := errors.New("device or resource busy")
		w.open = func(path string) (*Device, error) {
			return nil, fmt.Errorf("%w: open %s: %w", ErrUnavailable, path, busy)
		}
		err = w.Activate()
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, busy) {
			t.Errorf("%s: Activate = %v, want ErrUnavailable wrapping the open error", mode, err)
		}
		if w.Active() {
			t.Errorf("%s: active after a failed open", mode)
		}
	}
}

func TestModeOffNeverOpens(t *testing.T) {
	for _, mode := range []Mode{"", ModeOff} {
		w, err := New(Config{Mode: mode, Device: "/dev/watchdog0"})
		if err != nil {
			t.Fatal(err)
		}
		w.open = func(path string) (*Device, error) {
			t.Fatalf("mode %q opened %s", mode, path)
			return nil, nil
		}
		for name, call := range map[string]func() error{
			"Activate":       w.Activate,
			"Keepalive":      w.Keepalive,
			"KeepaliveUntil": func() error { return w.KeepaliveUntil(time.Now()) },
			"Disable":        w.Disable,
		} {
			if err := call(); err != nil {
				t.Errorf("mode %q: %s = %v", mode, name, err)
			}
		}
		if w.Active() || w.Mode() != ModeOff {
			t.Errorf("mode %q: Active %v, Mode %q", mode, w.Active(), w.Mode())
		}
	}
}

func TestDisable(t *testing.T) {
	drv := &fakeDriver{info: good(), timeout: 60}
	w, _ := newFakeWatchdog(t, Config{Mode: ModeRequired, Timeout: 4 * time.Second}, drv)
	if err := w.Disable(); err != nil {
		t.Fatalf("Disable before Activate = %v", err)
	}
	if err := w.Activate(); err != nil {
		t.Fatal(err)
	}
	drv.takeOps()
	for i := range 3 {
		if err := w.Disable(); err != nil {
			t.Fatalf("Disable #%d = %v", i+1, err)
		}
	}
	equalOps(t, "Disable", drv.takeOps(), []string{"write V", "close"})
	if w.Active() || w.Status() != (Status{Mode: ModeRequired, Device: DefaultDevice}) {
		t.Errorf("after Disable: %+v", w.Status())
	}
	if err := w.Keepalive(); err != nil {
		t.Errorf("Keepalive after Disable = %v", err)
	}
	equalOps(t, "Keepalive after Disable", drv.takeOps(), nil)
}

func TestDisableNoMagicClose(t *testing.T) {
	drv := &fakeDriver{info: Info{Options: OptSetTimeout | OptKeepalivePing}, timeout: 60}
	w, _ := newFakeWatchdog(t, Config{Mode: ModeAutomatic, Timeout: 4 * time.Second}, drv)
	if err := w.Activate(); err != nil {
		t.Fatal(err)
	}
	drv.takeOps()
	if err := w.Disable(); !errors.Is(err, ErrMayStayArmed) {
		t.Fatalf("Disable = %v, want ErrMayStayArmed", err)
	}
	equalOps(t, "Disable", drv.takeOps(), []string{"keepalive", "write V", "close"})
	if w.Active() {
		t.Error("active after Disable")
	}
	if err := w.Disable(); err != nil {
		t.Errorf("second Disable = %v", err)
	}
}

func TestKeepaliveUntil(t *testing.T) {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		mode    Mode
		timeout time.Duration
		driver  int // seconds the driver settles on
		left    time.Duration
		pet     bool
	}{
		{name: "plenty left", mode: ModeRequired, timeout: 4 * time.Second, driver: 4, left: 5400 * time.Millisecond, pet: true},
		{name: "exactly the timeout", mode: ModeRequired, timeout: 4 * time.Second, driver: 4, left: 4 * time.Second, pet: true},
		{name: "less than the timeout", mode: ModeRequired, timeout: 4 * time.Second, driver: 4, left: 3999 * time.Millisecond},
		{name: "deadline passed", mode: ModeRequired, timeout: 4 * time.Second, driver: 4, left: -time.Second},
		{
			// The rounded-down timeout counts, not the configured one.
			name: "rounded timeout", mode: ModeRequired, timeout: 4900 * time.Millisecond, driver: 4,
			left: 4100 * time.Millisecond, pet: true,
		},
		{
			name: "driver chose shorter", mode: ModeRequired, timeout: 4 * time.Second, driver: 2,
			left: 2500 * time.Millisecond, pet: true,
		},
		{
			// A device armed with a longer timeout in automatic mode is
			// petted as long as the configured timeout fits, else it would
			// reset a healthy host.
			name: "automatic, driver chose longer", mode: ModeAutomatic, timeout: 4 * time.Second, driver: 10,
			left: 5 * time.Second, pet: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clock.NewFake(start)
			drv := &fakeDriver{info: good(), adjust: func(int) int { return tt.driver }}
			w, _ := newFakeWatchdog(t, Config{Mode: tt.mode, Timeout: tt.timeout, Clock: clk}, drv)
			if err := w.Activate(); err != nil && !errors.Is(err, ErrTimeoutTooLong) {
				t.Fatal(err)
			}
			drv.takeOps()
			clk.Advance(time.Minute)
			deadline := clk.Now().Add(tt.left)
			err := w.KeepaliveUntil(deadline)
			ops := drv.takeOps()
			if tt.pet {
				if err != nil {
					t.Fatalf("KeepaliveUntil = %v", err)
				}
				equalOps(t, "KeepaliveUntil", ops, []string{"keepalive"})
				return
			}
			if !errors.Is(err, ErrTooLate) {
				t.Fatalf("KeepaliveUntil = %v, want ErrTooLate", err)
			}
			equalOps(t, "KeepaliveUntil", ops, nil)
			if !w.Active() {
				t.Error("ErrTooLate disarmed the watchdog")
			}
		})
	}
}

func TestKeepalive(t *testing.T) {
	eio := errors.New("input/output error")
	drv := &fakeDriver{info: good(), timeout: 4}
	w, _ := newFakeWatchdog(t, Config{Mode: ModeRequired, Timeout: 4 * time.Second}, drv)
	if err := w.Keepalive(); err != nil {
		t.Fatalf("Keepalive before Activate = %v", err)
	}
	if err := w.Activate(); err != nil {
		t.Fatal(err)
	}
	drv.takeOps()
	if err := w.Keepalive(); err != nil {
		t.Fatal(err)
	}
	drv.mu.Lock()
	drv.keepaliveErr = eio
	drv.mu.Unlock()
	if err := w.Keepalive(); !errors.Is(err, eio) {
		t.Fatalf("Keepalive = %v, want %v", err, eio)
	}
	// A failed pet does not disarm: the pending reset is the fence.
	if !w.Active() {
		t.Error("a failed pet disarmed the watchdog")
	}
	equalOps(t, "Keepalive", drv.takeOps(), []string{"keepalive", "keepalive"})
}

// TestKeepaliveVersusDisable races pets with Disable and checks, on the
// recorded calls, that nothing reached the device between the magic 'V' and
// the close, or after the close.
func TestKeepaliveVersusDisable(t *testing.T) {
	for _, byWrite := range []bool{false, true} {
		t.Run(fmt.Sprintf("write pets %v", byWrite), func(t *testing.T) {
			drv := &fakeDriver{info: good(), timeout: 4}
			if byWrite {
				drv.keepaliveErr = errNoKeepaliveIoctl
			}
			clk := clock.NewFake(time.Unix(0, 0))
			w, _ := newFakeWatchdog(t, Config{Mode: ModeRequired, Timeout: 4 * time.Second, Clock: clk}, drv)
			if err := w.Activate(); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					for range 200 {
						var err error
						if i%2 == 0 {
							err = w.Keepalive()
						} else {
							err = w.KeepaliveUntil(clk.Now().Add(time.Hour))
						}
						if err != nil {
							t.Errorf("pet: %v", err)
							return
						}
					}
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for range 3 {
					if err := w.Disable(); err != nil {
						t.Errorf("Disable: %v", err)
					}
				}
			}()
			close(start)
			wg.Wait()

			ops := drv.takeOps()
			if n := len(ops); n < 2 || ops[n-2] != "write V" || ops[n-1] != "close" {
				t.Fatalf("calls end with %q, want the magic 'V' then close", ops[max(0, len(ops)-4):])
			}
			for _, op := range ops {
				if strings.HasPrefix(op, "after close") {
					t.Fatalf("call after close: %q", op)
				}
			}
			if w.Active() {
				t.Error("active after Disable")
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{name: "zero is off", cfg: Config{}, ok: true},
		{name: "off ignores the timeout", cfg: Config{Mode: ModeOff}, ok: true},
		{name: "automatic", cfg: Config{Mode: ModeAutomatic, Timeout: 4 * time.Second, KeepaliveInterval: 500 * time.Millisecond}, ok: true},
		{name: "required, no interval", cfg: Config{Mode: ModeRequired, Timeout: time.Second}, ok: true},
		{name: "max", cfg: Config{Mode: ModeRequired, Timeout: MaxTimeout}, ok: true},
		{name: "unknown mode", cfg: Config{Mode: "sometimes", Timeout: 4 * time.Second}},
		{name: "alias is not a Mode", cfg: Config{Mode: "auto", Timeout: 4 * time.Second}},
		{name: "negative timeout, off", cfg: Config{Mode: ModeOff, Timeout: -time.Second}},
		{name: "negative timeout", cfg: Config{Mode: ModeAutomatic, Timeout: -time.Second}},
		{name: "no timeout", cfg: Config{Mode: ModeAutomatic}},
		{name: "under a second", cfg: Config{Mode: ModeRequired, Timeout: 999 * time.Millisecond}},
		{name: "over max", cfg: Config{Mode: ModeRequired, Timeout: MaxTimeout + time.Second}},
		{name: "negative interval", cfg: Config{Mode: ModeRequired, Timeout: 4 * time.Second, KeepaliveInterval: -time.Second}},
		{name: "interval equals timeout", cfg: Config{Mode: ModeRequired, Timeout: 4 * time.Second, KeepaliveInterval: 4 * time.Second}},
		{name: "interval equals rounded timeout", cfg: Config{Mode: ModeRequired, Timeout: 1500 * time.Millisecond, KeepaliveInterval: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := New(tt.cfg)
			if tt.ok {
				if err != nil || w == nil {
					t.Fatalf("New(%+v) = %v", tt.cfg, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("New(%+v) = %v, want ErrInvalidConfig", tt.cfg, err)
			}
		})
	}

	w, err := New(Config{Mode: ModeAutomatic, Timeout: 4 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if st := w.Status(); st.Device != DefaultDevice || st.Mode != ModeAutomatic || st.Active {
		t.Errorf("Status = %+v", st)
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{
		"":          ModeOff,
		"off":       ModeOff,
		"OFF":       ModeOff,
		"disable":   ModeOff,
		"disabled":  ModeOff,
		"false":     ModeOff,
		"no":        ModeOff,
		"auto":      ModeAutomatic,
		"Automatic": ModeAutomatic,
		" required": ModeRequired,
		"require":   ModeRequired,
	} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"requird", "true", "on", "yes"} {
		if _, err := ParseMode(in); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("ParseMode(%q) = %v, want ErrInvalidConfig", in, err)
		}
	}
}
