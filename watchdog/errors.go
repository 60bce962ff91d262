package watchdog

import "errors"

// Sentinel errors. Callers branch on them with errors.Is; the errors
// returned wrap them together with the underlying system error.
var (
	// ErrUnavailable means the watchdog cannot be used: the device cannot
	// be opened, is not a watchdog that resets the host, or refuses to be
	// configured. In [ModeAutomatic] the caller logs it and goes on without
	// a watchdog; in [ModeRequired] it refuses to promote.
	ErrUnavailable = errors.New("watchdog: unavailable")
	// ErrTimeoutTooLong means the driver kept or chose a timeout longer than
	// the one asked for, so the host would be reset only after another node
	// may have been promoted.
	ErrTimeoutTooLong = errors.New("watchdog: device timeout longer than asked")
	// ErrTimeoutTooShort means the driver's timeout is not longer than the
	// interval between keepalives, so the device would reset a healthy host.
	ErrTimeoutTooShort = errors.New("watchdog: device timeout not longer than the keepalive interval")
	// ErrInvalidConfig means [New] was given a [Config] it cannot work with,
	// or [ParseMode] a mode it does not know.
	ErrInvalidConfig = errors.New("watchdog: invalid configuration")
	// ErrInvalidTimeout means a timeout outside 1 s to [MaxTimeout].
	ErrInvalidTimeout = errors.New("watchdog: invalid timeout")
	// ErrMayStayArmed means the device was closed but may still be running:
	// the driver does not advertise magic close, it could not be asked, or
	// the magic character could not be written. The host may be reset when
	// the timeout runs out; in the first two cases the device was petted
	// just before closing, so that is a full timeout away.
	ErrMayStayArmed = errors.New("watchdog: closed, but the device may still reset the host")
	// ErrTooLate means [Watchdog.KeepaliveUntil] did not pet the device
	// because the deadline is nearer than the device's timeout: the reset a
	// pet would postpone must not move past the deadline.
	ErrTooLate = errors.New("watchdog: deadline nearer than the timeout, not petted")
)
