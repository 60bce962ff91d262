package haproxycfg

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// RuntimeCommand sends one command to HAProxy's runtime API (the "stats
// socket") at socket and returns the answer. Commands containing newlines or
// ';' (the runtime API's command separator) are refused, so a value spliced
// into cmd cannot smuggle a second command. Without a deadline on ctx the
// exchange is bounded by 10 s.
func RuntimeCommand(ctx context.Context, socket, cmd string) (string, error) {
	if strings.ContainsAny(cmd, "\r\n;") {
		return "", fmt.Errorf("haproxycfg: runtime command %s: newline or ';' not allowed: %w", quoteShort(cmd), ErrInvalid)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return "", fmt.Errorf("haproxycfg: runtime API %s: %w", socket, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	if _, err := io.WriteString(conn, cmd+"\n"); err != nil {
		return "", fmt.Errorf("haproxycfg: runtime API %s: send %q: %w", socket, cmd, err)
	}
	// Non-interactive mode: HAProxy answers and closes the connection.
	out, err := io.ReadAll(conn)
	if err != nil {
		return string(out), fmt.Errorf("haproxycfg: runtime API %s: read answer to %q: %w", socket, cmd, err)
	}
	return string(out), nil
}

// infoField extracts "Name: value" from "show info" output.
func infoField(info, name string) string {
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(l, name+": "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// ServerState is one server as reported by the runtime API.
type ServerState struct {
	Backend string
	Server  string
	// Addr is the server's address (without port).
	Addr string
	// Up reports the operational state: true when HAProxy would route to it.
	Up bool
	// Maint reports a maintenance state that keeps traffic away: forced
	// ("set server ... state maint"), inherited from a tracked server,
	// or from DNS resolution. A server rendered "disabled" and then set
	// ready keeps only the configuration bit (4) and is not in
	// maintenance.
	Maint bool
	// Drain reports a drain state (forced or inherited): no new
	// connections, established ones continue.
	Drain bool
	// AdminState is the raw srv_admin_state bit field (1 forced
	// maintenance, 4 "disabled" in the configuration, 8 forced drain, ...).
	AdminState int
}

// ServerStates returns every server of every backend from "show servers
// state".
func ServerStates(ctx context.Context, socket string) ([]ServerState, error) {
	out, err := RuntimeCommand(ctx, socket, "show servers state")
	if err != nil {
		return nil, err
	}
	return parseServersState(out)
}

// parseServersState reads version 1 of the "show servers state" format:
// be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ...
func parseServersState(out string) ([]ServerState, error) {
	var states []ServerState
	lines := strings.Split(out, "\n")
	if len(lines) == 0 || strings.TrimSpace(lines[0]) != "1" {
		return nil, fmt.Errorf("haproxycfg: show servers state: unexpected format %s", quoteShort(out))
	}
	for _, l := range lines[1:] {
		if l == "" || l[0] == '#' {
			continue
		}
		f := strings.Fields(l)
		if len(f) < 7 {
			return nil, fmt.Errorf("haproxycfg: show servers state: short line %s", quoteShort(l))
		}
		admin, err := strconv.Atoi(f[6])
		if err != nil {
			return nil, fmt.Errorf("haproxycfg: show servers state: admin state %s: %w", quoteShort(f[6]), err)
		}
		states = append(states, ServerState{
			Backend: f[1],
			Server:  f[3],
			Addr:    f[4],
			Up:      f[5] == "1" || f[5] == "2",                   // SRV_ST_STARTING, SRV_ST_RUNNING
			Maint:   admin&(adminForcedMaint|0x02|0x20|0x40) != 0, // FMAINT, IMAINT, RMAINT, HMAINT
			Drain:   admin&(adminForcedDrain|0x10) != 0,           // FDRAIN, IDRAIN

			AdminState: admin,
		})
	}
	return states, nil
}
