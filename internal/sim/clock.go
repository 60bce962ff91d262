package sim

import (
	"fmt"
	"sync"
	"time"
	"unsafe"

	"github.com/pgha/pgha/clock"
)

// nodeClock is one machine's clock as its agent reads it. The bubble has
// one virtual clock, the world's; a node's clock differs from it in two
// ways that real machines show:
//
//   - After a suspend (SuspendNode), Linux's monotonic clock has missed
//     the time the machine slept, while the wall clock and CLOCK_BOOTTIME
//     (the fence keeper's clock) have not: mono lags by the sleeps.
//   - A wall-clock step (StepClock, NTP or an operator) moves the wall
//     reading only: wall is the sum of the steps.
//
// Go's time.Time carries both readings, and comparisons use the monotonic
// one when both sides have it, so a shifted reading reaches exactly the
// code that looks at it (election's wall-and-monotonic deadline check,
// wall-clock schedules). Timers run on the world's clock: a suspended
// agent is frozen at its gate anyway.
type nodeClock struct {
	mu   sync.Mutex
	mono time.Duration // added to the monotonic reading (<= 0 after suspends)
	wall time.Duration // added to the wall reading
}

var _ clock.Clock = (*nodeClock)(nil)

func (c *nodeClock) Now() time.Time {
	c.mu.Lock()
	mono, wall := c.mono, c.wall
	c.mu.Unlock()
	return nodeTime(time.Now(), mono, wall)
}

func (c *nodeClock) NewTimer(d time.Duration) clock.Timer { return clock.Real().NewTimer(d) }

// suspended records that the machine slept for d: its monotonic clock
// missed it.
func (c *nodeClock) suspended(d time.Duration) {
	c.mu.Lock()
	c.mono -= d
	c.mu.Unlock()
}

// step moves the wall clock by d.
func (c *nodeClock) step(d time.Duration) {
	c.mu.Lock()
	c.wall += d
	c.mu.Unlock()
}

// toWorld converts a deadline read on this clock into the world's time,
// as the fence keeper does: it takes the time left on the agent's
// (monotonic) clock and counts it from its own CLOCK_BOOTTIME, which a
// suspend does not stop.
func (c *nodeClock) toWorld(deadline time.Time) time.Time {
	return time.Now().Add(deadline.Sub(c.Now()))
}

// timeLayout mirrors time.Time's fields. With the hasMonotonic flag
// (wall's top bit) set, wall holds the seconds since 1885 (33 bits) and
// the nanoseconds (30 bits) and ext the monotonic reading; without it ext
// holds the seconds since year 1. The bubble's time.Now() has no
// monotonic reading, and Go offers no way to set one, so nodeTime writes
// it. The layout is checked once per process (shiftChecked): a Go release
// that changes it fails the simulation loudly.
type timeLayout struct {
	wall uint64
	ext  int64
	loc  *time.Location
}

const (
	hasMonotonic         = 1 << 63
	nsecMask             = 1<<30 - 1
	nsecShift            = 30
	wallToInternal int64 = (1884*365 + 1884/4 - 1884/100 + 1884/400) * 24 * 60 * 60
)

// nodeTime returns the world's time t as a node reads it: the wall
// reading moved by wall, and a monotonic reading of t's nanoseconds since
// 1970 moved by mono.
func nodeTime(t time.Time, mono, wall time.Duration) time.Time {
	m := t.UnixNano() + int64(mono)
	out := t.Round(0).Add(wall)
	p := (*timeLayout)(unsafe.Pointer(&out))
	sec := p.ext - wallToInternal
	if sec < 0 || sec >= 1<<33 {
		panic(fmt.Sprintf("sim: node clock: %v is outside the range a monotonic reading allows", out))
	}
	p.wall = hasMonotonic | uint64(sec)<<nsecShift | p.wall&nsecMask
	p.ext = m
	return out
}

// shiftChecked checks nodeTime against the time package's own arithmetic.
var shiftChecked = sync.OnceValue(func() error {
	now := time.Date(2000, 1, 1, 0, 0, 1, 5, time.UTC)
	const m, w = -3 * time.Second, 7 * time.Second
	a, b := nodeTime(now, 0, 0), nodeTime(now, m, w)
	switch {
	case b.Sub(a) != m:
		return fmt.Errorf("sim: node clock: monotonic shift %v, want %v (time.Time's layout changed?)", b.Sub(a), m)
	case b.Round(0).Sub(a.Round(0)) != w:
		return fmt.Errorf("sim: node clock: wall shift %v, want %v (time.Time's layout changed?)", b.Round(0).Sub(a.Round(0)), w)
	case !a.Round(0).Equal(now) || a.Sub(now) != 0:
		return fmt.Errorf("sim: node clock: %v read as %v (time.Time's layout changed?)", now, a.Round(0))
	case !nodeTime(now.Add(time.Second), 0, 0).After(a):
		return fmt.Errorf("sim: node clock: monotonic readings do not advance (time.Time's layout changed?)")
	}
	return nil
})
