package election

import (
	"context"

	"github.com/pgha/pgha/clock"
)

// timeout bounds a store call by RequestTimeout measured on the options'
// clock, so that request timeouts follow a virtual clock in simulation
// exactly as lease expiry does.
func (o Options) timeout(parent context.Context) (context.Context, context.CancelFunc) {
	clk, d := o.Clock, o.RequestTimeout
	if clk == clock.Real() {
		return context.WithTimeout(parent, d)
	}
	ctx, cancel := context.WithCancelCause(parent)
	timer := clk.NewTimer(d)
	go func() {
		defer timer.Stop()
		select {
		case <-timer.C():
			cancel(context.DeadlineExceeded)
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}
