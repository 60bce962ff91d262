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
	DefaultKeepAliveInterval = DefaultTTL / 6  // 1 s
	DefaultRequestTimeout    = DefaultTTL / 12 // 500 ms
	DefaultMargin            = DefaultTTL / 10 // 600 ms
	DefaultRetryInterval     = DefaultTTL / 3
)

// Limits enforced by [Options.Validate].
const (
	// MinTTL is the shortest lease accepted. etcd leases have whole-second
	// granularity and a server-side minimum of 1.5 election timeouts.
	MinTTL = time.Second
	// MinMarginDivisor bounds the margin from below: Margin >= TTL/10.
	MinMarginDivisor = 10
	// RideThroughKeepAlives is how many consecutive failed keepalives a
	// holder must survive: OutageTolerance >= RideThroughKeepAlives ×
	// KeepAliveInterval.
	RideThroughKeepAlives = 3
)

// Options are the timing and plumbing of a [Candidate] or an observer. A
// zero duration takes its default, derived from TTL when TTL is set (so
// setting only TTL scales everything): KeepAliveInterval is TTL/6,
// RequestTimeout TTL/12, Margin TTL/10 and RetryInterval TTL/3.
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

// WithDefaults returns o with every zero field set to its default, derived
// from TTL as the type's documentation says.
func (o Options) WithDefaults() Options {
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.KeepAliveInterval == 0 {
		o.KeepAliveInterval = o.TTL / 6
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = o.TTL / 12
	}
	if o.Margin == 0 {
		o.Margin = o.TTL / 10
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

// RetryBackoff returns the wait before the n-th consecutive retry (n >= 1)
// of a failed keepalive: KeepAliveInterval/20, doubling, at most
// KeepAliveInterval/4. A renewal that failed fast (no etcd leader yet, a
// refused connection) is retried well before the next regular keepalive, so
// the lease is renewed within a fraction of a second of the store's
// recovery.
func (o Options) RetryBackoff(n int) time.Duration {
	o = o.WithDefaults()
	b, ceiling := o.KeepAliveInterval/20, o.KeepAliveInterval/4
	for i := 1; i < n && b < ceiling; i++ {
		b *= 2
	}
	return min(b, ceiling)
}

// OutageTolerance returns how long the store may be unreachable, counted
// from the send time s of the last successful keepalive, without the
// holder's deadline coming within lead of passing:
//
//	OutageTolerance(lead) = TTL − Margin − lead − 2·RequestTimeout − KeepAliveInterval/4
//
// Worst case, the outage ends at b while a keepalive sent just before b
// hangs until its RequestTimeout, the retry follows at most
// KeepAliveInterval/4 later ([Options.RetryBackoff]) and takes up to another
// RequestTimeout to answer; the renewal must land before s + TTL − Margin −
// lead. The failover package passes its demote lead, so this is how long a
// primary rides out a DCS outage without fencing.
func (o Options) OutageTolerance(lead time.Duration) time.Duration {
	o = o.WithDefaults()
	return o.TTL - o.Margin - lead - 2*o.RequestTimeout - o.KeepAliveInterval/4
}

// Validate fills defaults and checks the timing rule of the package
// documentation:
//
//	TTL >= MinTTL
//	TTL/MinMarginDivisor <= Margin < TTL
//	OutageTolerance(0) >= RideThroughKeepAlives × KeepAliveInterval
//
// The last line says that a holder whose store is unreachable for three
// keepalive intervals (an etcd leader election, the loss of the member it
// talks to, a slow disk sync) renews its lease before the deadline once
// the store answers again.
func (o Options) Validate() error {
	_, err := o.normalize()
	return err
}

// normalize returns o with defaults, or the first violated rule.
func (o Options) normalize() (Options, error) {
	o = o.WithDefaults()
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
	if err := o.CheckRideThrough(0); err != nil {
		return o, err
	}
	return o, nil
}

// CheckRideThrough reports an error unless OutageTolerance(lead) covers
// RideThroughKeepAlives consecutive failed keepalives.
func (o Options) CheckRideThrough(lead time.Duration) error {
	o = o.WithDefaults()
	need := RideThroughKeepAlives * o.KeepAliveInterval
	if tol := o.OutageTolerance(lead); tol < need {
		return fmt.Errorf("election: TTL %v − Margin %v − lead %v − 2×RequestTimeout %v − KeepAliveInterval/4 %v = %v rides out less than %d keepalive intervals (%v): a DCS blip would end a healthy term",
			o.TTL, o.Margin, lead, o.RequestTimeout, o.KeepAliveInterval/4, tol, RideThroughKeepAlives, need)
	}
	return nil
}
