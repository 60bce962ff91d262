package sim

import (
	"testing"
	"testing/synctest"
	"time"
)

// A node's clock after a suspend and a wall-clock step: durations the
// agent measures miss the sleep, wall readings do not, and a deadline
// reaches the fence keeper as the time left on the agent's clock.
func TestNodeClock(t *testing.T) {
	if err := shiftChecked(); err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		c := &nodeClock{}
		before := c.Now()
		deadline := before.Add(5 * time.Second)
		time.Sleep(20 * time.Second) // the machine sleeps
		c.suspended(20 * time.Second)
		now := c.Now()
		if d := now.Sub(before); d != 0 {
			t.Errorf("monotonic: %v passed across a 20s suspend, want 0", d)
		}
		if d := now.Round(0).Sub(before.Round(0)); d != 20*time.Second {
			t.Errorf("wall: %v passed across a 20s suspend, want 20s", d)
		}
		if !now.Before(deadline) || !now.Round(0).After(deadline.Round(0)) {
			t.Errorf("a deadline 5s ahead before the suspend: monotonic before %v (want true), wall after %v (want true)",
				now.Before(deadline), now.Round(0).After(deadline.Round(0)))
		}
		if got, want := c.toWorld(deadline), time.Now().Add(5*time.Second); !got.Equal(want) {
			t.Errorf("the keeper's deadline: %v, want %v (5s left on the agent's clock)", got, want)
		}
		c.step(-time.Minute)
		stepped := c.Now()
		if d := stepped.Sub(now); d != 0 {
			t.Errorf("monotonic moved %v with a wall-clock step", d)
		}
		if d := stepped.Round(0).Sub(now.Round(0)); d != -time.Minute {
			t.Errorf("wall moved %v with a -1m step", d)
		}
	})
}
