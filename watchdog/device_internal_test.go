package watchdog

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"
)

func TestDeviceClose(t *testing.T) {
	noMagic := Info{Identity: "legacy", Options: OptSetTimeout}
	tests := []struct {
		name      string
		drv       *fakeDriver
		wantOps   []string
		mayStay   bool // error wraps ErrMayStayArmed
		wantOther bool // some other error
	}{
		{
			name:    "magic close",
			drv:     &fakeDriver{info: good()},
			wantOps: []string{"getsupport", "write V", "close"},
		},
		{
			// The pet goes before the 'V': a byte after it would cancel
			// the magic close, and the pet puts any reset a full timeout
			// away.
			name:    "no magic close",
			drv:     &fakeDriver{info: noMagic},
			wantOps: []string{"getsupport", "keepalive", "write V", "close"},
			mayStay: true,
		},
		{
			name:    "no magic close, pet by write",
			drv:     &fakeDriver{info: noMagic, keepaliveErr: errNoKeepaliveIoctl},
			wantOps: []string{"getsupport", "keepalive", "write 1", "write V", "close"},
			mayStay: true,
		},
		{
			name:    "cannot ask",
			drv:     &fakeDriver{infoErr: errNotTTY, keepaliveErr: fmt.Errorf("%w: %w", errNoKeepaliveIoctl, errNotTTY)},
			wantOps: []string{"getsupport", "keepalive", "write 1", "write V", "close"},
			mayStay: true,
		},
		{
			name: "magic character not written",
			drv: &fakeDriver{info: good(), writeErr: func([]byte) error {
				return errors.New("input/output error")
			}},
			wantOps: []string{"getsupport", "write V", "close"},
			mayStay: true,
		},
		{
			name:      "close fails",
			drv:       &fakeDriver{info: good(), closeErr: errors.New("bad file descriptor")},
			wantOps:   []string{"getsupport", "write V", "close"},
			wantOther: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDevice("/dev/watchdog", tt.drv)
			err := d.Close()
			equalOps(t, "Close", tt.drv.takeOps(), tt.wantOps)
			if got := errors.Is(err, ErrMayStayArmed); got != tt.mayStay {
				t.Errorf("Close = %v; wraps ErrMayStayArmed %v, want %v", err, got, tt.mayStay)
			}
			if !tt.mayStay && (err != nil) != tt.wantOther {
				t.Errorf("Close = %v, want error %v", err, tt.wantOther)
			}
			if err := d.Close(); !errors.Is(err, os.ErrClosed) {
				t.Errorf("second Close = %v, want os.ErrClosed", err)
			}
			equalOps(t, "second Close", tt.drv.takeOps(), nil)
		})
	}
}

func TestDeviceCloseUsesCachedInfo(t *testing.T) {
	drv := &fakeDriver{info: good()}
	d := newDevice("/dev/watchdog", drv)
	if _, err := d.Info(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	equalOps(t, "Info, Close", drv.takeOps(), []string{"getsupport", "write V", "close"})
}

func TestDeviceKeepalive(t *testing.T) {
	t.Run("ioctl", func(t *testing.T) {
		drv := &fakeDriver{info: good()}
		d := newDevice("wd", drv)
		for range 2 {
			if err := d.Keepalive(); err != nil {
				t.Fatal(err)
			}
		}
		equalOps(t, "Keepalive", drv.takeOps(), []string{"keepalive", "keepalive"})
	})
	t.Run("falls back to write once", func(t *testing.T) {
		drv := &fakeDriver{keepaliveErr: fmt.Errorf("%w: %w", errNoKeepaliveIoctl, errNotTTY)}
		d := newDevice("wd", drv)
		for range 3 {
			if err := d.Keepalive(); err != nil {
				t.Fatal(err)
			}
		}
		equalOps(t, "Keepalive", drv.takeOps(), []string{"keepalive", "write 1", "write 1", "write 1"})
	})
	t.Run("other ioctl error", func(t *testing.T) {
		eio := errors.New("input/output error")
		drv := &fakeDriver{keepaliveErr: eio}
		d := newDevice("wd", drv)
		if err := d.Keepalive(); !errors.Is(err, eio) {
			t.Fatalf("Keepalive = %v, want %v", err, eio)
		}
		equalOps(t, "Keepalive", drv.takeOps(), []string{"keepalive"})
	})
	t.Run("write fails", func(t *testing.T) {
		eio := errors.New("input/output error")
		drv := &fakeDriver{keepaliveErr: errNoKeepaliveIoctl, writeErr: func([]byte) error { return eio }}
		d := newDevice("wd", drv)
		if err := d.Keepalive(); !errors.Is(err, eio) {
			t.Fatalf("Keepalive = %v, want %v", err, eio)
		}
	})
}

func TestDeviceSetTimeout(t *testing.T) {
	tests := []struct {
		name    string
		drv     *fakeDriver
		t       time.Duration
		want    time.Duration
		wantErr error
		wantOps []string
	}{
		{name: "whole", drv: &fakeDriver{}, t: 4 * time.Second, want: 4 * time.Second,
			wantOps: []string{"settimeout 4", "gettimeout"}},
		{name: "rounds down", drv: &fakeDriver{}, t: 4999 * time.Millisecond, want: 4 * time.Second,
			wantOps: []string{"settimeout 4", "gettimeout"}},
		{name: "one second", drv: &fakeDriver{}, t: time.Second, want: time.Second,
			wantOps: []string{"settimeout 1", "gettimeout"}},
		{name: "driver raises", drv: &fakeDriver{adjust: func(int) int { return 30 }}, t: 4 * time.Second, want: 30 * time.Second,
			wantOps: []string{"settimeout 4", "gettimeout"}},
		{name: "driver lowers", drv: &fakeDriver{adjust: func(s int) int { return s - 1 }}, t: 4 * time.Second, want: 3 * time.Second,
			wantOps: []string{"settimeout 4", "gettimeout"}},
		{name: "under a second", drv: &fakeDriver{}, t: 999 * time.Millisecond, wantErr: ErrInvalidTimeout},
		{name: "zero", drv: &fakeDriver{}, t: 0, wantErr: ErrInvalidTimeout},
		{name: "negative", drv: &fakeDriver{}, t: -time.Second, wantErr: ErrInvalidTimeout},
		{name: "over max", drv: &fakeDriver{}, t: MaxTimeout + time.Second, wantErr: ErrInvalidTimeout},
		{name: "refused", drv: &fakeDriver{setErr: errors.New("invalid argument")}, t: 4 * time.Second, wantErr: ErrUnavailable,
			wantOps: []string{"settimeout 4"}},
		{name: "not a watchdog", drv: &fakeDriver{setErr: errNotTTY}, t: 4 * time.Second, wantErr: ErrUnavailable,
			wantOps: []string{"settimeout 4"}},
		{name: "cannot read back", drv: &fakeDriver{getErr: errors.New("operation not supported")}, t: 4 * time.Second, wantErr: ErrUnavailable,
			wantOps: []string{"settimeout 4", "gettimeout"}},
		{name: "reads back zero", drv: &fakeDriver{adjust: func(int) int { return 0 }}, t: 4 * time.Second, wantErr: ErrUnavailable,
			wantOps: []string{"settimeout 4", "gettimeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDevice("wd", tt.drv)
			got, err := d.SetTimeout(tt.t)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("SetTimeout(%v) = %v, %v; want error %v", tt.t, got, err, tt.wantErr)
				}
			} else if err != nil || got != tt.want {
				t.Fatalf("SetTimeout(%v) = %v, %v; want %v", tt.t, got, err, tt.want)
			}
			equalOps(t, "SetTimeout", tt.drv.takeOps(), tt.wantOps)
		})
	}
}

func TestDeviceInfo(t *testing.T) {
	drv := &fakeDriver{info: good()}
	d := newDevice("wd", drv)
	for range 2 {
		got, err := d.Info()
		if err != nil || got != good() {
			t.Fatalf("Info = %+v, %v; want %+v", got, err, good())
		}
	}
	// The answer describes the driver, so it is asked once.
	equalOps(t, "Info", drv.takeOps(), []string{"getsupport"})

	d = newDevice("wd", &fakeDriver{infoErr: errNotTTY})
	if _, err := d.Info(); !errors.Is(err, ErrUnavailable) || !errors.Is(err, errNotTTY) {
		t.Fatalf("Info on a non-watchdog = %v, want ErrUnavailable wrapping the ioctl error", err)
	}
}

func TestDeviceAfterClose(t *testing.T) {
	drv := &fakeDriver{info: good(), timeout: 4}
	d := newDevice("wd", drv)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	drv.takeOps()
	calls := map[string]func() error{
		"Keepalive":  d.Keepalive,
		"Info":       func() error { _, err := d.Info(); return err },
		"Timeout":    func() error { _, err := d.Timeout(); return err },
		"SetTimeout": func() error { _, err := d.SetTimeout(4 * time.Second); return err },
		"Close":      d.Close,
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, os.ErrClosed) {
			t.Errorf("%s after Close = %v, want os.ErrClosed", name, err)
		}
	}
	equalOps(t, "after Close", drv.takeOps(), nil)
}

func TestOptionsString(t *testing.T) {
	tests := []struct {
		o    Options
		want string
	}{
		{0, "0"},
		{OptMagicClose, "MAGICCLOSE"},
		{OptSetTimeout | OptMagicClose | OptKeepalivePing, "SETTIMEOUT|MAGICCLOSE|KEEPALIVEPING"},
		{OptCardReset | 0x1000, "CARDRESET|0x1000"},
	}
	for _, tt := range tests {
		if got := tt.o.String(); got != tt.want {
			t.Errorf("Options(%#x).String() = %q, want %q", uint32(tt.o), got, tt.want)
		}
	}
	if !(OptSetTimeout | OptMagicClose).Has(OptMagicClose) || OptSetTimeout.Has(OptSetTimeout|OptMagicClose) {
		t.Error("Has")
	}
	info := Info{Identity: "iTCO_wdt", FirmwareVersion: 6, Options: OptSetTimeout}
	if got, want := info.String(), "iTCO_wdt (firmware 6) [SETTIMEOUT]"; got != want {
		t.Errorf("Info.String() = %q, want %q", got, want)
	}
}
