package watchdog

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
)

// fakeDriver is a watchdog driver that records the system calls it gets
// and answers as configured.
type fakeDriver struct {
	mu sync.Mutex

	info         Info
	infoErr      error
	timeout      int           // current timeout, seconds
	adjust       func(int) int // what the driver makes of a requested timeout; nil keeps it
	setErr       error         // WDIOC_SETTIMEOUT fails
	getErr       error         // WDIOC_GETTIMEOUT fails
	keepaliveErr error         // WDIOC_KEEPALIVE fails
	writeErr     func([]byte) error
	closeErr     error

	closed bool
	ops    []string
}

func (f *fakeDriver) record(op string) error {
	if f.closed {
		f.ops = append(f.ops, "after close: "+op)
		return os.ErrClosed
	}
	f.ops = append(f.ops, op)
	return nil
}

func (f *fakeDriver) getSupport() (Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("getsupport"); err != nil {
		return Info{}, err
	}
	return f.info, f.infoErr
}

func (f *fakeDriver) setTimeout(secs int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(fmt.Sprintf("settimeout %d", secs)); err != nil {
		return err
	}
	if f.setErr != nil {
		return f.setErr
	}
	if f.adjust != nil {
		secs = f.adjust(secs)
	}
	f.timeout = secs
	return nil
}

func (f *fakeDriver) getTimeout() (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("gettimeout"); err != nil {
		return 0, err
	}
	return f.timeout, f.getErr
}

func (f *fakeDriver) keepalive() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("keepalive"); err != nil {
		return err
	}
	return f.keepaliveErr
}

func (f *fakeDriver) write(p []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("write " + string(p)); err != nil {
		return err
	}
	if f.writeErr != nil {
		return f.writeErr(p)
	}
	return nil
}

func (f *fakeDriver) close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("close"); err != nil {
		return err
	}
	f.closed = true
	return f.closeErr
}

func (f *fakeDriver) setTimeoutNow(secs int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.timeout = secs
}

// takeOps returns the calls recorded so far and forgets them.
func (f *fakeDriver) takeOps() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ops := f.ops
	f.ops = nil
	return ops
}

func (f *fakeDriver) isClosed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// good is the answer of a driver on the kernel's watchdog core, softdog's.
func good() Info {
	return Info{Identity: "Software Watchdog", Options: OptSetTimeout | OptMagicClose | OptKeepalivePing}
}

// errNotTTY stands for the ENOTTY of an ioctl on a file that is not a
// watchdog.
var errNotTTY = errors.New("inappropriate ioctl for device")

// newFakeWatchdog returns a Watchdog whose opener hands out a Device on drv
// and counts the opens.
func newFakeWatchdog(t *testing.T, cfg Config, drv *fakeDriver) (*Watchdog, *int) {
	t.Helper()
	w, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	opens := new(int)
	w.open = func(path string) (*Device, error) {
		*opens++
		return newDevice(path, drv), nil
	}
	return w, opens
}

func equalOps(t *testing.T, what string, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: calls\n got %q\nwant %q", what, got, want)
	}
}
