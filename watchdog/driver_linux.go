package watchdog

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// fileDriver is the real driver: ioctls on an open device file.
type fileDriver struct {
	f *os.File
}

func openDriver(path string) (driver, error) {
	// Write-only, as the watchdog API is. No O_CREATE: a missing device must
	// fail, not become a regular file. os.OpenFile adds O_CLOEXEC, which
	// matters here: the kernel stops the timer on the last close of the
	// device, so a child (pg_ctl, an archive_command) that inherited the
	// descriptor would keep the watchdog armed after Close.
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	return &fileDriver{f: f}, nil
}

// control runs fn on the descriptor. Going through SyscallConn rather than
// File.Fd keeps the descriptor valid for the duration of fn and leaves
// the file's blocking mode alone.
func (d *fileDriver) control(fn func(fd int) error) error {
	rc, err := d.f.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	if err := rc.Control(func(fd uintptr) { opErr = fn(int(fd)) }); err != nil {
		return err
	}
	return opErr
}

func (d *fileDriver) getSupport() (Info, error) {
	var wi *unix.WatchdogInfo
	err := d.control(func(fd int) error {
		var err error
		wi, err = unix.IoctlGetWatchdogInfo(fd)
		return err
	})
	if err != nil {
		return Info{}, err
	}
	id := wi.Identity[:]
	if i := bytes.IndexByte(id, 0); i >= 0 {
		id = id[:i]
	}
	return Info{Identity: string(id), FirmwareVersion: wi.Version, Options: Options(wi.Options)}, nil
}

func (d *fileDriver) setTimeout(secs int) error {
	return d.control(func(fd int) error {
		// The driver writes the timeout it chose back into the argument;
		// Device reads it with WDIOC_GETTIMEOUT instead, which every driver
		// with SETTIMEOUT answers and which needs no unsafe pointer here.
		return unix.IoctlSetPointerInt(fd, unix.WDIOC_SETTIMEOUT, secs)
	})
}

func (d *fileDriver) getTimeout() (int, error) {
	var secs int
	err := d.control(func(fd int) error {
		var err error
		secs, err = unix.IoctlGetInt(fd, unix.WDIOC_GETTIMEOUT)
		return err
	})
	return secs, err
}

func (d *fileDriver) keepalive() error {
	err := d.control(unix.IoctlWatchdogKeepalive)
	// ENOTTY: not a watchdog ioctl for this file (legacy drivers, and files
	// that are not watchdogs); EINVAL: some legacy drivers' answer to an
	// unknown ioctl; EOPNOTSUPP: the watchdog core's answer for a driver
	// without WDIOF_KEEPALIVEPING. A write pets all of them.
	if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("%w: %w", errNoKeepaliveIoctl, err)
	}
	return err
}

func (d *fileDriver) write(p []byte) error {
	_, err := d.f.Write(p)
	return err
}

func (d *fileDriver) close() error { return d.f.Close() }
