package watchdog

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// These tests never touch a real watchdog: opening one arms it, and a test
// that then failed to close it would reset the machine. They use regular
// files and FIFOs, on which every watchdog ioctl fails with ENOTTY.

func TestOptionsMatchKernel(t *testing.T) {
	for _, c := range []struct {
		ours   Options
		kernel int
	}{
		{OptOverheat, unix.WDIOF_OVERHEAT},
		{OptFanFault, unix.WDIOF_FANFAULT},
		{OptExtern1, unix.WDIOF_EXTERN1},
		{OptExtern2, unix.WDIOF_EXTERN2},
		{OptPowerUnder, unix.WDIOF_POWERUNDER},
		{OptCardReset, unix.WDIOF_CARDRESET},
		{OptPowerOver, unix.WDIOF_POWEROVER},
		{OptSetTimeout, unix.WDIOF_SETTIMEOUT},
		{OptMagicClose, unix.WDIOF_MAGICCLOSE},
		{OptPretimeout, unix.WDIOF_PRETIMEOUT},
		{OptAlarmOnly, unix.WDIOF_ALARMONLY},
		{OptKeepalivePing, unix.WDIOF_KEEPALIVEPING},
	} {
		if uint32(c.ours) != uint32(c.kernel) {
			t.Errorf("%v = %#x, kernel %#x", c.ours, uint32(c.ours), c.kernel)
		}
	}
}

// fakeDeviceFile returns the path of an empty regular file.
func fakeDeviceFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "watchdog")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestOpenMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "watchdog")
	_, err := Open(path)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open(missing) = %v, want ErrUnavailable and fs.ErrNotExist", err)
	}
	// No O_CREATE: a missing device must not turn into a file.
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open created %s: %v", path, err)
	}
}

func TestRegularFile(t *testing.T) {
	path := fakeDeviceFile(t)
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if d.Path() != path {
		t.Errorf("Path = %q", d.Path())
	}
	for range 2 {
		if err := d.Keepalive(); err != nil {
			t.Fatalf("Keepalive = %v", err)
		}
	}
	if got := readFile(t, path); got != "11" {
		t.Fatalf("after two pets the file holds %q, want %q", got, "11")
	}
	if _, err := d.SetTimeout(4 * time.Second); !errors.Is(err, ErrUnavailable) || !errors.Is(err, unix.ENOTTY) {
		t.Errorf("SetTimeout = %v, want ErrUnavailable wrapping ENOTTY", err)
	}
	if _, err := d.Timeout(); !errors.Is(err, ErrUnavailable) || !errors.Is(err, unix.ENOTTY) {
		t.Errorf("Timeout = %v, want ErrUnavailable wrapping ENOTTY", err)
	}
	if _, err := d.Info(); !errors.Is(err, ErrUnavailable) || !errors.Is(err, unix.ENOTTY) {
		t.Errorf("Info = %v, want ErrUnavailable wrapping ENOTTY", err)
	}
	// Magic close support cannot be asked: Close pets, writes the 'V',
	// closes, and says the device may stay armed.
	if err := d.Close(); !errors.Is(err, ErrMayStayArmed) {
		t.Errorf("Close = %v, want ErrMayStayArmed", err)
	}
	if got := readFile(t, path); got != "111V" {
		t.Errorf("after Close the file holds %q, want %q", got, "111V")
	}
	if err := d.Keepalive(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Keepalive after Close = %v, want os.ErrClosed", err)
	}
}

func TestFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "watchdog")
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	got := make(chan string, 1)
	go func() {
		// Opening a FIFO for writing blocks until a reader opens it.
		f, err := os.Open(path)
		if err != nil {
			got <- "open: " + err.Error()
			return
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		if err != nil {
			got <- "read: " + err.Error()
			return
		}
		got <- string(b)
	}()
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Keepalive(); err != nil {
		t.Fatalf("Keepalive = %v", err)
	}
	if err := d.Close(); !errors.Is(err, ErrMayStayArmed) {
		t.Errorf("Close = %v, want ErrMayStayArmed", err)
	}
	select {
	case s := <-got:
		if s != "11V" {
			t.Errorf("the reader got %q, want %q", s, "11V")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the reader got nothing")
	}
}

// TestRegularFileConcurrentClose checks that Device serializes pets with
// Close: once Close has run, the 'V' is the last byte written.
func TestRegularFileConcurrentClose(t *testing.T) {
	for range 20 {
		path := fakeDeviceFile(t)
		d, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 50 {
					if err := d.Keepalive(); errors.Is(err, os.ErrClosed) {
						return
					} else if err != nil {
						t.Errorf("Keepalive = %v", err)
						return
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.Close(); !errors.Is(err, ErrMayStayArmed) {
				t.Errorf("Close = %v", err)
			}
		}()
		wg.Wait()
		s := readFile(t, path)
		if len(s) == 0 || s[len(s)-1] != 'V' {
			t.Fatalf("file ends with %q, want the magic 'V' last", s[max(0, len(s)-4):])
		}
	}
}

func TestWatchdogOnFiles(t *testing.T) {
	for _, mode := range []Mode{ModeAutomatic, ModeRequired} {
		t.Run(string(mode)+"/missing", func(t *testing.T) {
			w, err := New(Config{Mode: mode, Device: filepath.Join(t.TempDir(), "watchdog"), Timeout: 4 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Activate(); !errors.Is(err, ErrUnavailable) || !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Activate = %v, want ErrUnavailable and fs.ErrNotExist", err)
			}
			if w.Active() {
				t.Error("active")
			}
			if err := w.Disable(); err != nil {
				t.Errorf("Disable = %v", err)
			}
		})
		t.Run(string(mode)+"/not a watchdog", func(t *testing.T) {
			path := fakeDeviceFile(t)
			w, err := New(Config{Mode: mode, Device: path, Timeout: 4 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			err = w.Activate()
			if !errors.Is(err, ErrUnavailable) || !errors.Is(err, unix.ENOTTY) {
				t.Errorf("Activate = %v, want ErrUnavailable wrapping ENOTTY", err)
			}
			if w.Active() {
				t.Error("active")
			}
			// Opened, found not to be a watchdog, closed with a pet and
			// the magic character.
			if got := readFile(t, path); got != "1V" {
				t.Errorf("the file holds %q, want %q", got, "1V")
			}
		})
	}
}
