//go:build !linux

package fence

import (
	"context"
	"time"
)

// Keeper is the agent's end of a fencing keeper. Outside Linux, [Start]
// fails with [ErrUnsupported], so there never is one.
type Keeper struct{}

// Start fails with [ErrUnsupported] outside Linux.
func Start(ctx context.Context, opts Options) (*Keeper, error) { return nil, ErrUnsupported }

// Arm fails with [ErrUnsupported] outside Linux.
func (k *Keeper) Arm(p Process, deadline time.Time) error { return ErrUnsupported }

// Disarm fails with [ErrUnsupported] outside Linux.
func (k *Keeper) Disarm() error { return ErrUnsupported }

// Close does nothing outside Linux.
func (k *Keeper) Close() error { return nil }

// Alive reports false outside Linux.
func (k *Keeper) Alive() bool { return false }

// PID returns 0 outside Linux.
func (k *Keeper) PID() int { return 0 }

// Identify fails with [ErrUnsupported] outside Linux.
func Identify(pid int) (Process, error) { return Process{}, ErrUnsupported }

// Running reports false outside Linux.
func (p Process) Running() bool { return false }

// LookupPostmaster fails with [ErrUnsupported] outside Linux.
func LookupPostmaster(dataDir string) (Process, error) { return Process{}, ErrUnsupported }

// CheckPostmaster fails with [ErrUnsupported] outside Linux.
func CheckPostmaster(pid int, dataDir string) error { return ErrUnsupported }
