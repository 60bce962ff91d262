package watchdog

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/pgha/pgha/clock"
)

// Mode says whether a primary uses the watchdog, as Patroni's
// watchdog.mode does.
type Mode string

// The modes.
const (
	// ModeOff never opens the device.
	ModeOff Mode = "off"
	// ModeAutomatic uses the device when it can be armed safely; when it
	// cannot, [Watchdog.Activate] fails and the caller promotes anyway.
	ModeAutomatic Mode = "automatic"
	// ModeRequired makes the caller refuse to promote when
	// [Watchdog.Activate] fails.
	ModeRequired Mode = "required"
)

// ParseMode reads a mode as Patroni's configuration spells it,
// case-insensitively: "off", "disable", "disabled", "false", "no" or ""
// for [ModeOff]; "auto" or "automatic"; "require" or "required".
//
// Unlike Patroni, which turns an unknown mode into off with a warning,
// ParseMode fails with [ErrInvalidConfig]: a typo in "required" must not
// silently remove a safety the operator asked for.
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "off", "disable", "disabled", "false", "no":
		return ModeOff, nil
	case "auto", "automatic":
		return ModeAutomatic, nil
	case "require", "required":
		return ModeRequired, nil
	}
	return "", fmt.Errorf("%w: unknown watchdog mode %q (want off, automatic or required)", ErrInvalidConfig, s)
}

// Config configures a [Watchdog].
type Config struct {
	// Mode is off, automatic or required; empty means [ModeOff].
	Mode Mode
	// Device is the device path; empty means [DefaultDevice].
	Device string
	// Timeout is the longest the device may wait, after a pet, before it
	// resets the host: the device is asked for it, rounded down to whole
	// seconds, and activation fails with [ErrTimeoutTooLong] when the driver
	// keeps a longer one. See the package documentation for how to choose
	// it from the term timing. Required, at least 1 s and at most
	// [MaxTimeout], unless Mode is off.
	Timeout time.Duration
	// KeepaliveInterval is the longest the caller lets pass between pets
	// while the watchdog is active. Activation fails with
	// [ErrTimeoutTooShort] when the driver's timeout is not longer than it.
	// Zero skips that check.
	KeepaliveInterval time.Duration
	// Clock reads the time for [Watchdog.KeepaliveUntil]; nil means
	// [clock.Real]. It must be the clock the deadlines come from.
	Clock clock.Clock
}

// Status is a snapshot of a [Watchdog], for logs and health endpoints.
type Status struct {
	// Mode is the configured mode.
	Mode Mode
	// Device is the device path.
	Device string
	// Active reports whether the device is open and armed.
	Active bool
	// Timeout is the armed timeout, as the driver reported it; 0 when not
	// active.
	Timeout time.Duration
	// Info describes the armed device; zero when not active.
	Info Info
}

// Watchdog arms, pets and disarms one watchdog device on behalf of a
// primary. It is safe for concurrent use: pets from one goroutine and
// [Watchdog.Disable] from another are serialized, and no pet reaches the
// device after Disable.
type Watchdog struct {
	mode     Mode
	path     string
	timeout  time.Duration
	interval time.Duration
	clock    clock.Clock
	// open is [Open], or a fake in tests.
	open func(path string) (*Device, error)

	mu     sync.Mutex
	dev    *Device // nil when not active
	info   Info
	actual time.Duration
}

// New validates cfg and returns a Watchdog that has not opened anything
// yet. Errors wrap [ErrInvalidConfig].
func New(cfg Config) (*Watchdog, error) {
	mode := cfg.Mode
	if mode == "" {
		mode = ModeOff
	}
	switch mode {
	case ModeOff, ModeAutomatic, ModeRequired:
	default:
		return nil, fmt.Errorf("%w: unknown watchdog mode %q (want off, automatic or required)", ErrInvalidConfig, cfg.Mode)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("%w: negative timeout %v", ErrInvalidConfig, cfg.Timeout)
	}
	if cfg.KeepaliveInterval < 0 {
		return nil, fmt.Errorf("%w: negative keepalive interval %v", ErrInvalidConfig, cfg.KeepaliveInterval)
	}
	if mode != ModeOff {
		if cfg.Timeout < time.Second || cfg.Timeout > MaxTimeout {
			return nil, fmt.Errorf("%w: timeout %v: must be between 1s and %v", ErrInvalidConfig, cfg.Timeout, MaxTimeout)
		}
		// Compare with the timeout the device will be asked for, whole
		// seconds: otherwise a 1.5 s timeout with a 1 s interval would pass
		// here and fail every activation.
		if whole := cfg.Timeout.Truncate(time.Second); cfg.KeepaliveInterval >= whole {
			return nil, fmt.Errorf("%w: keepalive interval %v not shorter than the timeout %v (whole seconds)", ErrInvalidConfig, cfg.KeepaliveInterval, whole)
		}
	}
	path := cfg.Device
	if path == "" {
		path = DefaultDevice
	}
	clk := cfg.Clock
	if clk == nil {
		clk = clock.Real()
	}
	return &Watchdog{
		mode:     mode,
		path:     path,
		timeout:  cfg.Timeout,
		interval: cfg.KeepaliveInterval,
		clock:    clk,
		open:     Open,
	}, nil
}

// Mode returns the configured mode.
func (w *Watchdog) Mode() Mode { return w.mode }

// Active reports whether the device is open and armed, and so must be
// petted.
func (w *Watchdog) Active() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dev != nil
}

// Status returns a snapshot of the watchdog.
func (w *Watchdog) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	return Status{
		Mode:    w.mode,
		Device:  w.path,
		Active:  w.dev != nil,
		Timeout: w.actual,
		Info:    w.info,
	}
}

// Activate arms the watchdog, before a promotion: it opens the device, asks
// it what it is, sets the timeout (or, on a driver that cannot set one,
// reads it), checks the timeout the driver reports, and pets the device, so
// that on success a full timeout starts now. On an active watchdog it
// checks the timeout again and pets. In [ModeOff] it does nothing and
// returns nil.
//
// Errors:
//   - [ErrUnavailable]: the device cannot be opened (missing, busy, no
//     permission), is not a watchdog, only raises an alarm instead of
//     resetting the host ([OptAlarmOnly]), or refuses the ioctls. The
//     device, if it was opened, has been closed.
//   - [ErrTimeoutTooShort]: the device has been closed.
//   - [ErrTimeoutTooLong]: in [ModeRequired] the device has been closed.
//     In [ModeAutomatic] it stays armed ([Watchdog.Active] reports true)
//     and must be petted like a safe one, as Patroni does: a reset that
//     comes late still bounds how long a frozen host that thaws can act as
//     a second primary.
//
// Closing a device on the way out can itself fail to stop it; the error
// then also wraps [ErrMayStayArmed].
//
// In [ModeAutomatic] the caller logs any error and promotes anyway; in
// [ModeRequired] it refuses to promote.
func (w *Watchdog) Activate() error {
	if w.mode == ModeOff {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()

	if w.dev != nil {
		actual, err := w.dev.Timeout()
		if err != nil {
			return w.abandonLocked(w.dev, err)
		}
		return w.settleLocked(w.dev, w.info, actual)
	}

	dev, err := w.open(w.path)
	if err != nil {
		return fmt.Errorf("watchdog: activate (%s): %w", w.mode, err)
	}
	info, err := dev.Info()
	if err != nil {
		return w.abandonLocked(dev, err)
	}
	if info.Options.Has(OptAlarmOnly) {
		return w.abandonLocked(dev, fmt.Errorf("%w: %s (%s) raises an alarm instead of resetting the host", ErrUnavailable, w.path, info))
	}
	var actual time.Duration
	if info.Options.Has(OptSetTimeout) {
		actual, err = dev.SetTimeout(w.timeout)
	} else {
		// Patroni's rule: a driver that does not advertise SETTIMEOUT is
		// not asked, and its fixed timeout must pass the checks below.
		actual, err = dev.Timeout()
	}
	if err != nil {
		return w.abandonLocked(dev, err)
	}
	return w.settleLocked(dev, info, actual)
}

// settleLocked applies the timeout checks to an open device and either
// keeps it as the active one, petted, or closes it.
func (w *Watchdog) settleLocked(dev *Device, info Info, actual time.Duration) error {
	if w.interval > 0 && actual <= w.interval {
		return w.abandonLocked(dev, fmt.Errorf("%w: %s timeout %v, keepalive interval %v", ErrTimeoutTooShort, w.path, actual, w.interval))
	}
	var tooLong error
	if actual > w.timeout {
		tooLong = fmt.Errorf("%w: %s timeout %v, asked for at most %v", ErrTimeoutTooLong, w.path, actual, w.timeout)
		if w.mode == ModeRequired {
			return w.abandonLocked(dev, tooLong)
		}
	}
	// Pet last, so that the caller's first interval starts from a full
	// timeout however long the checks took (SETTIMEOUT pets on most drivers,
	// but not on all).
	if err := dev.Keepalive(); err != nil {
		return w.abandonLocked(dev, fmt.Errorf("%w: %w", ErrUnavailable, err))
	}
	w.dev, w.info, w.actual = dev, info, actual
	if tooLong != nil {
		return fmt.Errorf("watchdog: activate (%s): armed anyway: %w", w.mode, tooLong)
	}
	return nil
}

// abandonLocked closes dev after a failed activation and forgets it.
func (w *Watchdog) abandonLocked(dev *Device, cause error) error {
	if w.dev == dev {
		w.dev, w.info, w.actual = nil, Info{}, 0
	}
	err := fmt.Errorf("watchdog: activate (%s): %w", w.mode, cause)
	if cerr := dev.Close(); cerr != nil {
		return errors.Join(err, cerr)
	}
	return err
}

// Keepalive pets the device unconditionally. It does nothing and returns
// nil when the watchdog is not active, so that a pet racing with
// [Watchdog.Disable] is harmless. A failing pet leaves the watchdog active:
// the host will be reset when the timeout runs out unless a later pet
// succeeds or the watchdog is disabled.
//
// A primary should normally use [Watchdog.KeepaliveUntil], which refuses
// to pet when the term has too little time left.
func (w *Watchdog) Keepalive() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dev == nil {
		return nil
	}
	if err := w.dev.Keepalive(); err != nil {
		return fmt.Errorf("watchdog: %w", err)
	}
	return nil
}

// KeepaliveUntil pets the device only if the reset it postpones would
// still come no later than deadline: deadline − now must be at least the
// armed timeout (the smaller of the driver's and [Config.Timeout], so that
// a device armed with a longer timeout in [ModeAutomatic] is still petted).
// Otherwise it does not pet and returns an error wrapping [ErrTooLate].
// deadline is the term's, election's Term.Deadline(); now is read from
// [Config.Clock] once the device is free, just before the pet. It does
// nothing and returns nil when the watchdog is not active.
func (w *Watchdog) KeepaliveUntil(deadline time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dev == nil {
		return nil
	}
	need := min(w.actual, w.timeout)
	if left := deadline.Sub(w.clock.Now()); left < need {
		return fmt.Errorf("%w: %v left, timeout %v", ErrTooLate, left, need)
	}
	if err := w.dev.Keepalive(); err != nil {
		return fmt.Errorf("watchdog: %w", err)
	}
	return nil
}

// Disable disarms the watchdog: it closes the device with the magic
// character (see [Device.Close]). Call it once PostgreSQL is confirmed
// stopped or demoted, not before: until then the pending reset is the
// fence. Disable on an inactive watchdog does nothing and returns nil, so
// it may be called any number of times. The watchdog is inactive after
// Disable even when it returns an error; an error wrapping
// [ErrMayStayArmed] means the host may still be reset one timeout after
// the last pet, and the caller should say so loudly.
func (w *Watchdog) Disable() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dev == nil {
		return nil
	}
	dev := w.dev
	w.dev, w.info, w.actual = nil, Info{}, 0
	if err := dev.Close(); err != nil {
		return fmt.Errorf("watchdog: disable: %w", err)
	}
	return nil
}
