package haproxycfg

import (
	"time"
)

// Options controls the rendered configuration. Start from [DefaultOptions];
// a zero port leaves its listener out, zero timings take the defaults.
type Options struct {
	// BindAddress is the address listeners bind to: an IP literal or host
	// name; "" binds all addresses.
	BindAddress string
	// ReadWritePort is the port of the read-write listener ("primary"),
	// routed to the member answering 200 on /primary.
	ReadWritePort int
	// ReadOnlyPort is the port of the read-only listener ("replicas"),
	// routed to members answering 200 on /replica.
	ReadOnlyPort int
	// SyncPort is the port of the synchronous-standby listener ("sync"),
	// routed to members answering 200 on /sync.
	SyncPort int
	// StatsPort is the port of HAProxy's HTTP statistics page ("stats").
	StatsPort int

	// MaxReplicaLagBytes, when positive, checks /replica?lag=<bytes> so that
	// replicas further behind than that leave the read-only listener.
	MaxReplicaLagBytes int64
	// ReadOnlyIncludePrimary adds every member to the read-only listener a
	// second time as a backup server that tracks its state in the read-write
	// listener, so reads go to the primary when no replica is up. Requires
	// ReadWritePort.
	ReadOnlyIncludePrimary bool

	// CheckMethod is the health check's HTTP method, "GET" (default) or
	// "HEAD" (what Patroni's confd template uses).
	CheckMethod string
	// CheckInterval (inter) is the check period of a server that is up,
	// FastInterval (fastinter) that of a server going down after a failed
	// check, DownInterval (downinter) that of a server that is down.
	CheckInterval time.Duration
	FastInterval  time.Duration
	DownInterval  time.Duration
	// Rise and Fall are the consecutive successes/failures that change a
	// server's state.
	Rise int
	Fall int
	// CheckTimeout bounds one health check ("timeout check").
	CheckTimeout time.Duration

	// CheckTLS forces TLS health checks for every member; members whose
	// api_url is https get them anyway.
	CheckTLS bool
	// CheckCAFile is the CA bundle that verifies the health APIs'
	// certificates (verify required). One of CheckCAFile and
	// CheckInsecureSkipVerify is needed when any check uses TLS.
	CheckCAFile string
	// CheckInsecureSkipVerify disables certificate verification of TLS
	// health checks (verify none).
	CheckInsecureSkipVerify bool

	// MaxConn is the global connection limit; ServerMaxConn, when positive,
	// limits connections per server (excess ones queue in HAProxy).
	MaxConn       int
	ServerMaxConn int
	// ConnectTimeout, ClientTimeout and ServerTimeout are HAProxy's
	// "timeout connect/client/server"; the latter two are idle timeouts of
	// a PostgreSQL session.
	ConnectTimeout time.Duration
	ClientTimeout  time.Duration
	ServerTimeout  time.Duration

	// StatsSocket, when set, is the path of the admin-level runtime API
	// socket (also used for seamless reloads: expose-fd listeners).
	StatsSocket string
	// ServerStateFile, when set, is where server states are saved before a
	// reload and loaded from at start, so that a reload does not briefly
	// mark every server up (HAProxy starts servers without saved state as
	// up until their first check); [Process.Reload] also records servers
	// new to the configuration as down. Strongly recommended with a Syncer.
	ServerStateFile string
	// RuntimeRouting renders every read-write server "disabled": none is
	// routed writes until a [Router] has read the DCS and enabled the
	// leader. Set it when a Router runs (it needs StatsSocket).
	RuntimeRouting bool

	// HardStopAfter, when positive, bounds how long an old worker keeps
	// serving its established connections after a reload.
	HardStopAfter time.Duration
}

// Defaults for [Options].
const (
	DefaultReadWritePort  = 5000
	DefaultReadOnlyPort   = 5001
	DefaultStatsPort      = 7000
	DefaultCheckInterval  = 500 * time.Millisecond
	DefaultFastInterval   = 250 * time.Millisecond
	DefaultDownInterval   = 500 * time.Millisecond
	DefaultRise           = 1
	DefaultFall           = 2
	DefaultCheckTimeout   = time.Second
	DefaultMaxConn        = 1000
	DefaultConnectTimeout = 4 * time.Second
	DefaultClientTimeout  = 30 * time.Minute
	DefaultServerTimeout  = 30 * time.Minute
)

// DefaultOptions returns the layout of the Patroni guides (read-write on
// 5000, read-only on 5001, stats on 7000) with pgha's fast check timings
// (see the package documentation for the arithmetic).
func DefaultOptions() Options {
	return Options{
		ReadWritePort: DefaultReadWritePort,
		ReadOnlyPort:  DefaultReadOnlyPort,
		StatsPort:     DefaultStatsPort,
	}.withDefaults()
}

// withDefaults fills zero timings and limits.
func (o Options) withDefaults() Options {
	if o.CheckMethod == "" {
		o.CheckMethod = "GET"
	}
	setDur := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	setDur(&o.CheckInterval, DefaultCheckInterval)
	setDur(&o.FastInterval, DefaultFastInterval)
	setDur(&o.DownInterval, DefaultDownInterval)
	setDur(&o.CheckTimeout, DefaultCheckTimeout)
	setDur(&o.ConnectTimeout, DefaultConnectTimeout)
	setDur(&o.ClientTimeout, DefaultClientTimeout)
	setDur(&o.ServerTimeout, DefaultServerTimeout)
	if o.Rise == 0 {
		o.Rise = DefaultRise
	}
	if o.Fall == 0 {
		o.Fall = DefaultFall
	}
	if o.MaxConn == 0 {
		o.MaxConn = DefaultMaxConn
	}
	return o
}

// Validate checks the options after defaults are applied; the error is a
// [*FieldError] naming the option.
func (o Options) Validate() error {
	o = o.withDefaults()
	if o.BindAddress != "" {
		if err := validateHost("", "BindAddress", o.BindAddress); err != nil {
			return err
		}
	}
	ports := []struct {
		name string
		v    int
	}{{"ReadWritePort", o.ReadWritePort}, {"ReadOnlyPort", o.ReadOnlyPort}, {"SyncPort", o.SyncPort}, {"StatsPort", o.StatsPort}}
	seen := map[int]string{}
	for _, p := range ports {
		if p.v == 0 {
			continue
		}
		if err := validatePort("", p.name, p.v); err != nil {
			return err
		}
		if other, dup := seen[p.v]; dup {
			return fieldErr("", p.name, "port %d already used by %s", p.v, other)
		}
		seen[p.v] = p.name
	}
	if o.ReadWritePort == 0 && o.ReadOnlyPort == 0 && o.SyncPort == 0 {
		return fieldErr("", "ReadWritePort", "no listener: set at least one of ReadWritePort, ReadOnlyPort, SyncPort")
	}
	if o.ReadOnlyIncludePrimary && (o.ReadWritePort == 0 || o.ReadOnlyPort == 0) {
		return fieldErr("", "ReadOnlyIncludePrimary", "needs both ReadWritePort and ReadOnlyPort (backup servers track the read-write listener)")
	}
	if o.MaxReplicaLagBytes < 0 {
		return fieldErr("", "MaxReplicaLagBytes", "negative lag %d", o.MaxReplicaLagBytes)
	}
	if o.CheckMethod != "GET" && o.CheckMethod != "HEAD" {
		return fieldErr("", "CheckMethod", "%s is neither GET nor HEAD", quoteShort(o.CheckMethod))
	}
	durs := []struct {
		name     string
		v        time.Duration
		min, max time.Duration
	}{
		{"CheckInterval", o.CheckInterval, 10 * time.Millisecond, time.Hour},
		{"FastInterval", o.FastInterval, 10 * time.Millisecond, time.Hour},
		{"DownInterval", o.DownInterval, 10 * time.Millisecond, time.Hour},
		{"CheckTimeout", o.CheckTimeout, 10 * time.Millisecond, time.Hour},
		{"ConnectTimeout", o.ConnectTimeout, 10 * time.Millisecond, time.Hour},
		{"ClientTimeout", o.ClientTimeout, time.Second, 24 * time.Hour},
		{"ServerTimeout", o.ServerTimeout, time.Second, 24 * time.Hour},
	}
	for _, d := range durs {
		if err := validateDuration(d.name, d.v, d.min, d.max); err != nil {
			return err
		}
	}
	if o.HardStopAfter != 0 {
		if err := validateDuration("HardStopAfter", o.HardStopAfter, time.Second, 24*time.Hour); err != nil {
			return err
		}
	}
	if o.Rise < 1 || o.Rise > 100 {
		return fieldErr("", "Rise", "%d out of range 1-100", o.Rise)
	}
	if o.Fall < 1 || o.Fall > 100 {
		return fieldErr("", "Fall", "%d out of range 1-100", o.Fall)
	}
	if o.MaxConn < 1 || o.MaxConn > 1_000_000 {
		return fieldErr("", "MaxConn", "%d out of range 1-1000000", o.MaxConn)
	}
	if o.ServerMaxConn < 0 || o.ServerMaxConn > 1_000_000 {
		return fieldErr("", "ServerMaxConn", "%d out of range 0-1000000", o.ServerMaxConn)
	}
	if o.CheckCAFile != "" {
		if err := validatePath("CheckCAFile", o.CheckCAFile); err != nil {
			return err
		}
		if o.CheckInsecureSkipVerify {
			return fieldErr("", "CheckInsecureSkipVerify", "set together with CheckCAFile; choose one")
		}
	}
	if o.CheckTLS && o.CheckCAFile == "" && !o.CheckInsecureSkipVerify {
		return fieldErr("", "CheckCAFile", "TLS checks need CheckCAFile (verify required) or CheckInsecureSkipVerify")
	}
	if o.StatsSocket != "" {
		if err := validatePath("StatsSocket", o.StatsSocket); err != nil {
			return err
		}
		if len(o.StatsSocket) > 107 {
			return fieldErr("", "StatsSocket", "unix socket path longer than 107 bytes")
		}
	}
	if o.RuntimeRouting && (o.StatsSocket == "" || o.ReadWritePort == 0) {
		return fieldErr("", "RuntimeRouting", "needs StatsSocket and ReadWritePort")
	}
	if o.ServerStateFile != "" {
		if err := validatePath("ServerStateFile", o.ServerStateFile); err != nil {
			return err
		}
	}
	return nil
}
