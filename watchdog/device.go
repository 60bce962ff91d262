package watchdog

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// DefaultDevice is the device [Open] uses when given no path: the first
// watchdog the kernel registered, as in Patroni.
const DefaultDevice = "/dev/watchdog"

// MaxTimeout is the longest timeout [Device.SetTimeout] passes to a
// driver. The ioctl takes a C int, but no driver accepts anything near it;
// Patroni stops at 65535 seconds, and so does this package.
const MaxTimeout = 65535 * time.Second

// driver is the device below [Device]: one method per system call, so that
// everything [Device] and [Watchdog] decide from the answers (rounding,
// the keepalive fallback, when magic close can be trusted, whether a
// timeout is safe) runs against a fake driver in tests, since no test
// machine has a watchdog it may arm.
type driver interface {
	// getSupport is WDIOC_GETSUPPORT.
	getSupport() (Info, error)
	// setTimeout is WDIOC_SETTIMEOUT.
	setTimeout(secs int) error
	// getTimeout is WDIOC_GETTIMEOUT.
	getTimeout() (int, error)
	// keepalive is WDIOC_KEEPALIVE. It returns an error wrapping
	// errNoKeepaliveIoctl when the driver does not know the ioctl.
	keepalive() error
	// write writes p to the device.
	write(p []byte) error
	// close closes the descriptor.
	close() error
}

// errNoKeepaliveIoctl marks a WDIOC_KEEPALIVE the driver does not support
// (ENOTTY, EINVAL or EOPNOTSUPP): pets then go by write.
var errNoKeepaliveIoctl = errors.New("WDIOC_KEEPALIVE not supported")

// Device is an open watchdog device. Its methods are safe for concurrent
// use; they are serialized, because a pet written between the magic 'V'
// and the close would cancel the magic close.
type Device struct {
	path string

	mu     sync.Mutex
	drv    driver
	closed bool
	// info caches the WDIOC_GETSUPPORT answer, which describes the driver
	// and does not change while it is open.
	info *Info
	// writePets is set once WDIOC_KEEPALIVE proved unsupported, so that
	// later pets go straight to write instead of failing an ioctl first.
	writePets bool
}

// Open opens the watchdog device at path ([DefaultDevice] when empty).
//
// Opening arms it: on Linux the timer starts when the device is opened, and
// from then on the host is reset unless the device is petted
// ([Device.Keepalive]) within its timeout or closed with [Device.Close].
// Call Open only to arm the watchdog, never to probe for one.
//
// Open asks the driver nothing, so it also opens files that are not
// watchdogs; [Device.Info] is the way to tell. Errors wrap
// [ErrUnavailable] and the error from the system (fs.ErrNotExist,
// fs.ErrPermission, EBUSY when another process holds the device).
func Open(path string) (*Device, error) {
	if path == "" {
		path = DefaultDevice
	}
	drv, err := openDriver(path)
	if err != nil {
		return nil, fmt.Errorf("%w: open %s: %w", ErrUnavailable, path, err)
	}
	return newDevice(path, drv), nil
}

func newDevice(path string, drv driver) *Device {
	return &Device{path: path, drv: drv}
}

// Path returns the path the device was opened at.
func (d *Device) Path() string { return d.path }

// errClosedLocked reports a call on a closed device.
func (d *Device) errClosedLocked() error {
	if d.closed {
		return fmt.Errorf("watchdog %s: %w", d.path, os.ErrClosed)
	}
	return nil
}

// Info asks the driver what it is and what it supports (WDIOC_GETSUPPORT).
// A file that is not a watchdog fails here, with an error wrapping
// [ErrUnavailable].
func (d *Device) Info() (Info, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.errClosedLocked(); err != nil {
		return Info{}, err
	}
	return d.infoLocked()
}

func (d *Device) infoLocked() (Info, error) {
	if d.info != nil {
		return *d.info, nil
	}
	info, err := d.drv.getSupport()
	if err != nil {
		return Info{}, fmt.Errorf("%w: %s: WDIOC_GETSUPPORT: %w", ErrUnavailable, d.path, err)
	}
	d.info = &info
	return info, nil
}

// SetTimeout sets the device's timeout (WDIOC_SETTIMEOUT) and returns the
// timeout the driver then reports (WDIOC_GETTIMEOUT), which is the one that
// counts: drivers adjust values to what their hardware can do, in either
// direction.
//
// The watchdog API counts whole seconds: t is rounded down, because a
// shorter timeout is the safe direction. t under one second or over
// [MaxTimeout] fails with [ErrInvalidTimeout]. A driver that refuses
// (including a file that is not a watchdog) fails with an error wrapping
// [ErrUnavailable]. Setting the timeout also pets the device.
func (d *Device) SetTimeout(t time.Duration) (time.Duration, error) {
	if t < time.Second || t > MaxTimeout {
		return 0, fmt.Errorf("%w: %v: must be between 1s and %v", ErrInvalidTimeout, t, MaxTimeout)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.errClosedLocked(); err != nil {
		return 0, err
	}
	secs := int(t / time.Second)
	if err := d.drv.setTimeout(secs); err != nil {
		return 0, fmt.Errorf("%w: %s: WDIOC_SETTIMEOUT %d: %w", ErrUnavailable, d.path, secs, err)
	}
	return d.timeoutLocked()
}

// Timeout returns the device's timeout (WDIOC_GETTIMEOUT). Errors wrap
// [ErrUnavailable].
func (d *Device) Timeout() (time.Duration, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.errClosedLocked(); err != nil {
		return 0, err
	}
	return d.timeoutLocked()
}

func (d *Device) timeoutLocked() (time.Duration, error) {
	secs, err := d.drv.getTimeout()
	if err != nil {
		return 0, fmt.Errorf("%w: %s: WDIOC_GETTIMEOUT: %w", ErrUnavailable, d.path, err)
	}
	if secs <= 0 {
		// The watchdog core answers EOPNOTSUPP rather than 0; a driver that
		// says 0 has no timeout this package could reason about.
		return 0, fmt.Errorf("%w: %s: WDIOC_GETTIMEOUT reported %d", ErrUnavailable, d.path, secs)
	}
	return time.Duration(secs) * time.Second, nil
}

// Keepalive pets the device, restarting its timeout: WDIOC_KEEPALIVE, or,
// on a driver without that ioctl, a write, which every driver takes as a
// pet.
func (d *Device) Keepalive() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.errClosedLocked(); err != nil {
		return err
	}
	return d.keepaliveLocked()
}

func (d *Device) keepaliveLocked() error {
	if !d.writePets {
		err := d.drv.keepalive()
		if err == nil {
			return nil
		}
		if !errors.Is(err, errNoKeepaliveIoctl) {
			return fmt.Errorf("watchdog %s: keepalive: %w", d.path, err)
		}
		d.writePets = true
	}
	// Any byte but 'V' pets; Patroni writes "1".
	if err := d.drv.write([]byte("1")); err != nil {
		return fmt.Errorf("watchdog %s: keepalive: write: %w", d.path, err)
	}
	return nil
}

// Close disarms and closes the device: it writes the magic character 'V'
// and closes the descriptor, which stops the timer on a driver that
// advertises magic close (see [OptMagicClose]).
//
// When the driver does not advertise magic close, or cannot be asked,
// Close pets the device before the 'V', so that a reset, if the device
// keeps running, is a full timeout away. In those cases, and when the 'V'
// cannot be written, it returns an error wrapping [ErrMayStayArmed]. The
// descriptor is closed in every case; a second Close returns an error
// wrapping os.ErrClosed.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.errClosedLocked(); err != nil {
		return err
	}
	d.closed = true

	var errs []error
	info, err := d.infoLocked()
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("%w: cannot tell whether it supports magic close: %w", ErrMayStayArmed, err))
	case !info.Options.Has(OptMagicClose):
		errs = append(errs, fmt.Errorf("%w: %s (%s) does not support magic close", ErrMayStayArmed, d.path, info))
	}
	if len(errs) > 0 {
		// Pet before the 'V', not after: any byte written after the 'V'
		// cancels the magic close.
		if err := d.keepaliveLocked(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := d.drv.write([]byte("V")); err != nil {
		errs = append(errs, fmt.Errorf("%w: %s: write magic close: %w", ErrMayStayArmed, d.path, err))
	}
	if err := d.drv.close(); err != nil {
		errs = append(errs, fmt.Errorf("watchdog %s: close: %w", d.path, err))
	}
	return errors.Join(errs...)
}
