package haproxycfg

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

// ServingCheck is what [CheckServing] verifies. At least one of StatsSocket
// and Connect is required; with both, both must pass.
type ServingCheck struct {
	// StatsSocket, when set, is asked ("show stat") whether Backend has a
	// server up: HAProxy runs and can route.
	StatsSocket string
	// Backend is the listener to ask about; default [ProxyPrimary].
	Backend string
	// Connect, when set, is a host:port (the read-write listener) that must
	// accept a TCP connection: HAProxy's frontend answers.
	Connect string
	// Timeout bounds the whole check; default 2 s.
	Timeout time.Duration
}

// CheckServing reports whether the local HAProxy actually serves, which a
// live process does not prove: it is the check Keepalived runs to decide
// which proxy host holds the virtual IP (pgha-proxy check-haproxy).
func CheckServing(ctx context.Context, c ServingCheck) error {
	if c.StatsSocket == "" && c.Connect == "" {
		return fmt.Errorf("haproxycfg: serving check needs a stats socket or an address: %w", ErrInvalid)
	}
	if c.Backend == "" {
		c.Backend = ProxyPrimary
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	if c.StatsSocket != "" {
		out, err := RuntimeCommand(ctx, c.StatsSocket, "show stat")
		if err != nil {
			return err
		}
		status, err := backendStatus(out, c.Backend)
		if err != nil {
			return err
		}
		if status != "UP" {
			return fmt.Errorf("haproxycfg: backend %s is %s: no server to route to", c.Backend, status)
		}
	}
	if c.Connect != "" {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", c.Connect)
		if err != nil {
			return fmt.Errorf("haproxycfg: frontend %s: %w", c.Connect, err)
		}
		_ = conn.Close()
	}
	return nil
}

// backendStatus returns the status column of backend's BACKEND row in
// "show stat" CSV output.
func backendStatus(out, backend string) (string, error) {
	out = strings.TrimPrefix(out, "# ")
	r := csv.NewReader(strings.NewReader(out))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return "", fmt.Errorf("haproxycfg: show stat: %w", err)
	}
	col := slices.Index(header, "status")
	if col < 2 || header[0] != "pxname" || header[1] != "svname" {
		return "", fmt.Errorf("haproxycfg: show stat: unexpected header %s", quoteShort(strings.Join(header, ",")))
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, csv.ErrFieldCount) || (err == nil && len(rec) <= col) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("haproxycfg: show stat: backend %s not found", quoteShort(backend))
		}
		if rec[0] == backend && rec[1] == "BACKEND" {
			return rec[col], nil
		}
	}
}
