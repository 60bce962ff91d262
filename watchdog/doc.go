// Package watchdog drives the Linux watchdog device (/dev/watchdog), the
// fence that still works when the whole host freezes.
//
// A primary's other fences (the agent demoting PostgreSQL before its term
// runs out, the fence package's keeper process) are processes on the same
// host: a host that stops scheduling them (a hung kernel, a VM paused by its
// hypervisor, a storage stall that blocks every process) keeps PostgreSQL's
// memory and open connections intact, and when it thaws it can commit
// transactions after another node has been promoted. A hardware or kernel
// watchdog resets the machine unless user space pets it in time, so a
// primary that arms it before promotion and pets it only while its term has
// time left is reset before anyone else can take the leader lease, frozen or
// not.
//
// This is the interface Patroni's patroni/watchdog/linux.py uses, following
// Linux's Documentation/watchdog/watchdog-api.rst, with the same modes and
// the same safety checks.
//
// # Pieces
//
//   - [Device] is one open watchdog device: [Open], [Device.Info]
//     (WDIOC_GETSUPPORT), [Device.SetTimeout] and [Device.Timeout]
//     (WDIOC_SETTIMEOUT, WDIOC_GETTIMEOUT), [Device.Keepalive]
//     (WDIOC_KEEPALIVE, or a write on drivers without it) and
//     [Device.Close] (the magic close: write 'V', then close).
//   - [Watchdog] is what an HA controller holds: a [Config] with a [Mode]
//     (off, automatic, required), the device path and the timeout, and
//     [Watchdog.Activate], [Watchdog.KeepaliveUntil], [Watchdog.Keepalive],
//     [Watchdog.Disable]. It is safe for concurrent use.
//
// # Opening arms
//
// On Linux, opening the device starts the timer: from [Open] on, the host
// resets unless the device is petted within its timeout or closed with the
// magic character. So [Open] (and [Watchdog.Activate]) must be called only
// when arming is meant, never to probe. The device is single-open: while a
// pgha agent holds it, another opener (a second agent, systemd's
// RuntimeWatchdogSec, the watchdog daemon) gets EBUSY, and the reverse.
// Opening usually needs root, or a udev rule that gives the agent's user the
// device, as Patroni's documentation recommends.
//
// # Closing may not stop it
//
// Closing the device after writing 'V' stops the timer when the driver
// advertises WDIOF_MAGICCLOSE and the kernel was not told nowayout
// (CONFIG_WATCHDOG_NOWAYOUT or the driver's nowayout parameter: then
// nothing stops it, and the API cannot tell). Drivers on the kernel's
// watchdog core that do not advertise magic close stop on any close; older
// drivers may not. When the package cannot be sure, [Device.Close] and
// [Watchdog.Disable] report [ErrMayStayArmed] after a last pet, so that
// the reset, if it comes, is a full timeout away, as Patroni does.
//
// # Timeouts
//
// The API counts in whole seconds. [Device.SetTimeout] rounds the duration
// down (a shorter timeout is the safe direction) and refuses anything under
// one second; the driver may then adjust the value to what its hardware
// supports, so the timeout that counts is the one the driver reports back.
// [Watchdog.Activate] refuses a reported timeout longer than the configured
// one ([ErrTimeoutTooLong]): such a device resets the host only after
// another node may already have been promoted. It refuses one not longer
// than [Config.KeepaliveInterval] ([ErrTimeoutTooShort]): that device would
// reset a healthy host between two pets.
//
// # The keepalive rule
//
// A pet at time p means the host is reset at p + T (T the armed timeout)
// unless petted again. For that reset to land before another node can take
// the lease, a pet must never happen when the term has less than T left:
// "pet while the term is valid" is not enough, since a pet just before the
// deadline pushes the reset T past it. [Watchdog.KeepaliveUntil] applies
// the rule: given the term's deadline (election's Term.Deadline()), it pets
// only while deadline − now ≥ T, and otherwise returns [ErrTooLate] without
// petting. With pets every half keepalive interval, T must then fit in the
// shortest time a term has left between two renewals, about
// TTL − margin − keepalive interval (4.4 s at pgha's defaults, so T = 4 s),
// and when renewals stop the last pet lands at most T before the deadline,
// so the reset comes no later than the deadline itself, plus the device's
// own imprecision (hardware timers count in coarse ticks) and the reset
// time; both must fit in the slack between the deadline and the moment
// another node can take the lease.
//
// # Modes
//
// As in Patroni's watchdog.mode: [ModeOff] never opens anything;
// [ModeAutomatic] uses the device when it can and the caller goes on
// without it (logging the error) when it cannot; [ModeRequired] makes the
// caller refuse to promote when [Watchdog.Activate] fails. Patroni's
// safety_margin has no counterpart: the caller computes [Config.Timeout]
// from its term timing as above.
package watchdog
