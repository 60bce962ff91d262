package clock_test

import (
	"fmt"
	"time"

	"github.com/pgha/pgha/clock"
)

// A virtual clock moves only when told to, so code that waits on timers
// can be tested without waiting.
func ExampleFake() {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := clock.NewFake(start)
	t := c.NewTimer(6 * time.Second) // a lease ttl

	c.Advance(5 * time.Second)
	select {
	case <-t.C():
		fmt.Println("fired early")
	default:
		fmt.Println("5 s: not yet")
	}
	c.Advance(time.Second)
	fired := <-t.C()
	fmt.Println("fired after", fired.Sub(start))
	// Output:
	// 5 s: not yet
	// fired after 6s
}
