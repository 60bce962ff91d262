package agentconfig

import (
	"testing"
	"time"

	"github.com/pgha/pgha/failover"
	"github.com/pgha/pgha/watchdog"
)

func TestWatchdogConfig(t *testing.T) {
	tests := []struct {
		name   string
		w      Watchdog
		mode   watchdog.Mode
		device string
	}{
		{"absent: Patroni's default", Watchdog{}, watchdog.ModeAutomatic, ""},
		{"off", Watchdog{Mode: "off"}, watchdog.ModeOff, ""},
		{"required with a device", Watchdog{Mode: "required", Device: "/dev/watchdog1"}, watchdog.ModeRequired, "/dev/watchdog1"},
		{"Patroni's spelling", Watchdog{Mode: "auto"}, watchdog.ModeAutomatic, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Config{Watchdog: tt.w}
			got, err := c.WatchdogConfig()
			if err != nil {
				t.Fatal(err)
			}
			if got.Mode != tt.mode || got.Device != tt.device {
				t.Fatalf("got %+v", got)
			}
			if tt.mode == watchdog.ModeOff {
				return
			}
			if got.Timeout != 2*time.Second || got.KeepaliveInterval != failover.MaxGuardInterval {
				t.Fatalf("timeout %v, keepalive interval %v", got.Timeout, got.KeepaliveInterval)
			}
			if _, err := watchdog.New(got); err != nil {
				t.Fatalf("watchdog.New refuses it: %v", err)
			}
		})
	}
	if _, err := (&Config{Watchdog: Watchdog{Mode: "requried"}}).WatchdogConfig(); err == nil {
		t.Fatal("an unknown mode was accepted")
	}
}
