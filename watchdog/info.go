package watchdog

import (
	"fmt"
	"strings"
)

// Options is the WDIOF_* bit set a driver reports in struct watchdog_info:
// what the device can do.
type Options uint32

// The WDIOF_* flags of linux/watchdog.h. They are the kernel's ABI, the
// same on every architecture, so they are spelled out here instead of
// taken from golang.org/x/sys/unix, which defines them only on Linux; a
// Linux test checks that the two agree.
const (
	OptOverheat      Options = 0x0001 // reset due to CPU overheat
	OptFanFault      Options = 0x0002 // fan failed
	OptExtern1       Options = 0x0004 // external relay 1
	OptExtern2       Options = 0x0008 // external relay 2
	OptPowerUnder    Options = 0x0010 // power bad or power fault
	OptCardReset     Options = 0x0020 // the card previously reset the CPU
	OptPowerOver     Options = 0x0040 // power over voltage
	OptSetTimeout    Options = 0x0080 // WDIOC_SETTIMEOUT is supported
	OptMagicClose    Options = 0x0100 // writing 'V' before close stops the timer
	OptPretimeout    Options = 0x0200 // a pretimeout can be set and read
	OptAlarmOnly     Options = 0x0400 // raises an external alarm instead of resetting the host
	OptKeepalivePing Options = 0x8000 // WDIOC_KEEPALIVE is supported
)

// Has reports whether every flag of f is set in o.
func (o Options) Has(f Options) bool { return o&f == f }

// String lists the flags by their WDIOF_ names, separated by "|", with any
// unknown bits in hexadecimal; "0" when none is set.
func (o Options) String() string {
	if o == 0 {
		return "0"
	}
	names := [...]struct {
		opt  Options
		name string
	}{
		{OptOverheat, "OVERHEAT"},
		{OptFanFault, "FANFAULT"},
		{OptExtern1, "EXTERN1"},
		{OptExtern2, "EXTERN2"},
		{OptPowerUnder, "POWERUNDER"},
		{OptCardReset, "CARDRESET"},
		{OptPowerOver, "POWEROVER"},
		{OptSetTimeout, "SETTIMEOUT"},
		{OptMagicClose, "MAGICCLOSE"},
		{OptPretimeout, "PRETIMEOUT"},
		{OptAlarmOnly, "ALARMONLY"},
		{OptKeepalivePing, "KEEPALIVEPING"},
	}
	var parts []string
	rest := o
	for _, n := range names {
		if o.Has(n.opt) {
			parts = append(parts, n.name)
			rest &^= n.opt
		}
	}
	if rest != 0 {
		parts = append(parts, fmt.Sprintf("%#x", uint32(rest)))
	}
	return strings.Join(parts, "|")
}

// Info is a driver's struct watchdog_info, as WDIOC_GETSUPPORT reports it.
type Info struct {
	// Identity names the driver or board, for example "Software Watchdog"
	// (softdog) or "iTCO_wdt".
	Identity string
	// FirmwareVersion is the card's firmware version, 0 when it has none.
	FirmwareVersion uint32
	// Options is what the device can do.
	Options Options
}

// String describes the device for logs.
func (i Info) String() string {
	s := i.Identity
	if s == "" {
		s = "watchdog device"
	}
	if i.FirmwareVersion != 0 {
		s += fmt.Sprintf(" (firmware %d)", i.FirmwareVersion)
	}
	return s + " [" + i.Options.String() + "]"
}
