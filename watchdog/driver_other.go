//go:build !linux

package watchdog

import (
	"errors"
	"fmt"
)

// openDriver fails outside Linux: the watchdog API this package speaks is
// Linux's.
func openDriver(path string) (driver, error) {
	return nil, fmt.Errorf("the Linux watchdog API: %w", errors.ErrUnsupported)
}
