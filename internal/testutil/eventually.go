package testutil

import (
	"fmt"
	"testing"
	"time"
)

// DefaultPollInterval is how often Eventually evaluates its condition.
const DefaultPollInterval = 20 * time.Millisecond

// Eventually polls cond every DefaultPollInterval until it returns nil or
// timeout passes, then fails the test with msg (formatted with args) and the
// last error cond returned. cond is always evaluated at least once.
func Eventually(t testing.TB, timeout time.Duration, cond func() error, msg string, args ...any) {
	t.Helper()
	EventuallyEvery(t, timeout, 0, cond, msg, args...)
}

// EventuallyEvery is Eventually with an explicit poll interval; every <= 0
// means DefaultPollInterval.
func EventuallyEvery(t testing.TB, timeout, every time.Duration, cond func() error, msg string, args ...any) {
	t.Helper()
	if err := poll(timeout, every, cond); err != nil {
		t.Fatalf("%s: not true after %v: %v", fmt.Sprintf(msg, args...), timeout, err)
	}
}

// poll is the loop behind Eventually; it returns nil on success and the last
// error of cond when the deadline passes.
func poll(timeout, every time.Duration, cond func() error) error {
	if every <= 0 {
		every = DefaultPollInterval
	}
	deadline := time.Now().Add(timeout)
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if !time.Now().Before(deadline) {
			return err
		}
		<-ticker.C
	}
}
