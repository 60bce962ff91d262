package agentconfig

import (
	"fmt"

	"github.com/pgha/pgha/election"
	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/watchdog"
)

// WatchdogConfig returns the watchdog the agent's primary arms (Patroni's
// watchdog section): mode off, automatic (Patroni's default, also when the
// section is absent) or required; device, default /dev/watchdog. The
// timeout is failover.WatchdogTimeout of the shortest ttl the config key
// may set, 2 s, so that the host of a frozen primary is reset before its
// lease can expire whatever ttl the cluster switches to while running;
// safety_margin does not change it (a warning says so). The guard pets it
// every failover.MaxGuardInterval.
func (c *Config) WatchdogConfig() (watchdog.Config, error) {
	mode := watchdog.ModeAutomatic
	if c.Watchdog.Mode != "" {
		m, err := watchdog.ParseMode(c.Watchdog.Mode)
		if err != nil {
			return watchdog.Config{}, &FieldError{Path: "watchdog.mode", Where: c.where["watchdog.mode"], Msg: err.Error()}
		}
		mode = m
	}
	if mode == watchdog.ModeOff {
		return watchdog.Config{Mode: watchdog.ModeOff}, nil
	}
	timeout := failover.WatchdogTimeout(election.Options{TTL: failover.MinConfigTTL})
	if timeout < failover.MaxGuardInterval*2 {
		return watchdog.Config{}, fmt.Errorf("config: watchdog timeout %v is too short for the guard's pets", timeout)
	}
	return watchdog.Config{Mode: mode, Device: c.Watchdog.Device, Timeout: timeout, KeepaliveInterval: failover.MaxGuardInterval}, nil
}
