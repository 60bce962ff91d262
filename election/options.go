package election

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/pgha/pgha/clock"
)

// Defaults. See the package documentation for why they are safe and why
// they can be five times shorter than Patroni's ttl.
const (
	DefaultTTL               = 6 * time.Second
	DefaultKeepAliveInterval = DefaultTTL / 6
	DefaultRequestTimeout    = DefaultTTL / 6
	DefaultMargin            = DefaultTTL / 6
	DefaultRetryInterval     = DefaultTTL / 3
)

// Limits enforced by [Options.Validate].
const (
	// MinTTL is the shortest lease accepted. etcd leases have whole-second
	// granularity and a server-side minimum of 1.5 election timeouts.
	MinTTL = time.Second
	// MinMarginDivisor bounds the margin from below: Margin >= TTL/10.
	MinMarginDivisor = 10
)

// Options are the timing and plumbing of a [Candidate] or an observer. A
// zero duration takes its default, derived from TTL when TTL is set (so
// setting only TTL scales everything): KeepAliveInterval, RequestTimeout and
// Margin are TTL/6, RetryInterval is TTL/3.
type Options struct {
	// TTL is the lease time-to-live granted by the store (Patroni: ttl).
	TTL time.Duration
	// KeepAliveInterval is the period of lease renewals, sent by a goroutine
	// of the candidate on its own schedule.
	KeepAliveInterval time.Duration
	// RequestTimeout bounds every store call made by this package.
	RequestTimeout time.Duration
	// Margin is subtracted from send time + TTL to get the local deadline.
	Margin time.Duration
	// RetryInterval is how often a waiting campaign retries and how often an
	// observer re-reads the store even without watch events.
	RetryInterval time.Duration
	// Clock defaults to clock.Real().
	Clock clock.Clock
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// withDefaults fills zero fields.
func (o Options) withDefaults() Options {
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.KeepAliveInterval == 0 {
		o.KeepAliveInterval = o.TTL / 6
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = o.TTL / 6
	}
	if o.Margin == 0 {
		o.Margin = o.TTL / 6
	}
	if o.RetryInterval == 0 {
		o.RetryInterval = o.TTL / 3
	}
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Validate fills defaults and checks the timing rule of the package
// documentation:
//
//	TTL >= MinTTL
//	TTL/MinMarginDivisor <= Margin < TTL
//	KeepAliveInterval + max(KeepAliveInterval, RequestTimeout) + RequestTimeout <= TTL - Margin
//
// The last line says that a holder whose store answers in time renews its
// deadline before it passes even when one keepalive in a row is lost.
func (o Options) Validate() error {
	_, err := o.normalize()
	return err
}

// normalize returns o with defaults, or the first violated rule.
func (o Options) normalize() (Options, error) {
	o = o.withDefaults()
	switch {
	case o.TTL < MinTTL:
		return o, fmt.Errorf("election: TTL %v is below the minimum %v", o.TTL, MinTTL)
	case o.KeepAliveInterval < 0, o.RequestTimeout < 0, o.Margin < 0, o.RetryInterval < 0:
		return o, fmt.Errorf("election: negative duration in options")
	case o.Margin >= o.TTL:
		return o, fmt.Errorf("election: Margin %v must be shorter than TTL %v", o.Margin, o.TTL)
	case o.Margin < o.TTL/MinMarginDivisor:
		return o, fmt.Errorf("election: Margin %v is below TTL/%d = %v", o.Margin, MinMarginDivisor, o.TTL/MinMarginDivisor)
	}
	period := max(o.KeepAliveInterval, o.RequestTimeout)
	if worst := o.KeepAliveInterval + period + o.RequestTimeout; worst > o.TTL-o.Margin {
		return o, fmt.Errorf("election: KeepAliveInterval %v + max(KeepAliveInterval, RequestTimeout) %v + RequestTimeout %v = %v exceeds TTL %v - Margin %v: a single lost keepalive would end a healthy term",
			o.KeepAliveInterval, period, o.RequestTimeout, worst, o.TTL, o.Margin)
	}
	return o, nil
}
