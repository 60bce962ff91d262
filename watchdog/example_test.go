package watchdog_test

import (
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/pgha/pgha/watchdog"
)

// A primary arms the watchdog before promoting, pets it while its term has
// at least the watchdog's timeout left, and disarms it once PostgreSQL is
// stopped or demoted. Here the device does not exist, so automatic mode
// promotes without it.
func Example() {
	mode, err := watchdog.ParseMode("automatic") // patroni.yml watchdog.mode
	if err != nil {
		log.Fatal(err)
	}
	w, err := watchdog.New(watchdog.Config{
		Mode:              mode,
		Device:            "/nonexistent/watchdog",
		Timeout:           4 * time.Second, // fits in what a term has left between renewals
		KeepaliveInterval: 500 * time.Millisecond,
	})
	if err != nil {
		log.Fatal(err)
	}

	// Before promotion.
	if err := w.Activate(); err != nil {
		if w.Mode() == watchdog.ModeRequired {
			fmt.Println("refusing to promote:", err)
			return
		}
		fmt.Println("promoting without a watchdog, unavailable:", errors.Is(err, watchdog.ErrUnavailable))
	}

	// Every half keepalive interval while primary; a no-op when inactive.
	deadline := time.Now().Add(5400 * time.Millisecond) // term.Deadline()
	if err := w.KeepaliveUntil(deadline); err != nil {
		log.Printf("watchdog: %v", err)
	}

	// Once PostgreSQL is confirmed stopped or demoted.
	if err := w.Disable(); err != nil {
		log.Printf("watchdog: %v", err)
	}
	fmt.Println("active:", w.Active())
	// Output:
	// promoting without a watchdog, unavailable: true
	// active: false
}
