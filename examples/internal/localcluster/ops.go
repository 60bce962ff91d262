package localcluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/healthapi/client"
)

// Poll periods of the waits.
const (
	leaderPoll  = 10 * time.Millisecond
	healthyPoll = 200 * time.Millisecond
	stopWait    = 60 * time.Second
)

// Snapshot reads and decodes the cluster's DCS keys.
func (c *Cluster) Snapshot(ctx context.Context) (*dcs.Cluster, error) {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	snap, err := c.store.Get(rctx)
	if err != nil {
		return nil, fmt.Errorf("localcluster: read the DCS: %w", err)
	}
	return dcs.Parse(snap), nil
}

// Leader returns the member named by the leader key, "" when there is
// none.
func (c *Cluster) Leader(ctx context.Context) (string, error) {
	cl, err := c.Snapshot(ctx)
	if err != nil {
		return "", err
	}
	if cl.Leader == nil {
		return "", nil
	}
	return cl.Leader.Name, nil
}

// WaitLeader polls the DCS (every 10 ms) until the leader key names a
// member that accept accepts (accept is called with "" when there is no
// leader), and returns it with the time it was first seen.
func (c *Cluster) WaitLeader(ctx context.Context, accept func(name string) bool) (string, time.Time, error) {
	t := time.NewTicker(leaderPoll)
	defer t.Stop()
	var lastErr error
	for {
		name, err := c.Leader(ctx)
		if err == nil && accept(name) {
			return name, time.Now(), nil
		}
		lastErr = err
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return "", time.Time{}, fmt.Errorf("localcluster: wait for a leader: %w (last: %w)", ctx.Err(), lastErr)
			}
			return "", time.Time{}, fmt.Errorf("localcluster: wait for a leader: %w (last leader %q)", ctx.Err(), name)
		case <-t.C:
		}
	}
}

// api returns the REST client of node n, with the cluster's basic auth.
func (c *Cluster) api(n *Node) *client.Client {
	api, err := client.New(n.APIURL()+"/patroni", client.Options{HTTP: c.http,
		Auth: &healthapi.BasicAuth{Username: c.apiUser, Password: c.apiPassword}})
	if err != nil {
		panic("localcluster: " + err.Error()) // n.APIURL is always http://host:port
	}
	return api
}

// apiStatus returns the status code of the health check GET check
// ("primary", "replica") on node n, bounded by two seconds.
func (c *Cluster) apiStatus(ctx context.Context, n *Node, check string) (int, error) {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return c.api(n).Health(rctx, check, nil)
}

// healthy returns nil when the cluster is healthy, else why not.
func (c *Cluster) healthy(ctx context.Context) (string, error) {
	cl, err := c.Snapshot(ctx)
	if err != nil {
		return "", err
	}
	if cl.Leader == nil {
		return "", fmt.Errorf("no leader key")
	}
	leader := c.Node(cl.Leader.Name)
	if leader == nil {
		return "", fmt.Errorf("leader %q is not a node of this cluster", cl.Leader.Name)
	}
	if code, err := c.apiStatus(ctx, leader, "primary"); err != nil || code != http.StatusOK {
		return "", fmt.Errorf("leader %s: GET /primary: %d %v", leader.name, code, err)
	}
	for _, n := range c.nodes {
		if n == leader || !n.Running() {
			continue
		}
		m := cl.Member(n.name)
		if m == nil {
			return "", fmt.Errorf("%s: no member key", n.name)
		}
		if m.ReplicationState != "streaming" {
			return "", fmt.Errorf("%s: replication state %q, want streaming", n.name, m.ReplicationState)
		}
		if code, err := c.apiStatus(ctx, n, "replica"); err != nil || code != http.StatusOK {
			return "", fmt.Errorf("%s: GET /replica: %d %v", n.name, code, err)
		}
	}
	return leader.name, nil
}

// WaitHealthy waits until there is one leader in the DCS whose GET
// /primary answers 200 and every other running agent's node is a
// streaming replica whose GET /replica answers 200. It returns the
// leader's name. Bound it with ctx.
func (c *Cluster) WaitHealthy(ctx context.Context) (string, error) {
	t := time.NewTicker(healthyPoll)
	defer t.Stop()
	for {
		leader, err := c.healthy(ctx)
		if err == nil {
			return leader, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("localcluster: cluster not healthy: %w (last: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// KillNode crashes a node: SIGKILL to its agent and to its postmaster's
// process group (postmaster and backends), as a host failure would. It
// returns the time of the fault (just before the first signal).
func (c *Cluster) KillNode(ctx context.Context, name string) (time.Time, error) {
	return c.sigkill(ctx, name, true)
}

// sigkill SIGKILLs node name's agent, with its postmaster's process group
// too when withPostgres, and waits until the agent has exited. It returns
// the time of the fault (just before the first signal).
func (c *Cluster) sigkill(ctx context.Context, name string, withPostgres bool) (time.Time, error) {
	n, err := c.node(name)
	if err != nil {
		return time.Time{}, err
	}
	at := time.Now()
	done, err := n.signal(syscall.SIGKILL)
	if err != nil {
		return time.Time{}, err
	}
	if withPostgres {
		if _, err := n.killPostmaster(); err != nil {
			return at, err
		}
	}
	select {
	case <-done:
	case <-ctx.Done():
		return at, ctx.Err()
	}
	c.log.Info("localcluster: agent killed (SIGKILL)", "node", name, "postgres_killed", withPostgres)
	return at, nil
}

// KillPostgres crashes only a node's PostgreSQL (SIGKILL to the
// postmaster's process group); the agent keeps running. It returns the
// time of the fault, or ErrNotRunning when no postmaster runs.
func (c *Cluster) KillPostgres(ctx context.Context, name string) (time.Time, error) {
	n, err := c.node(name)
	if err != nil {
		return time.Time{}, err
	}
	at := time.Now()
	ok, err := n.killPostmaster()
	if err != nil {
		return at, err
	}
	if !ok {
		return at, fmt.Errorf("%w: postmaster of %s", ErrNotRunning, name)
	}
	c.log.Info("localcluster: postgres killed", "node", name)
	return at, nil
}

// StopNode stops a node's agent with SIGTERM (a leader hands over) and
// waits for it to exit; PostgreSQL keeps running on a replica, as with
// the real agent.
func (c *Cluster) StopNode(ctx context.Context, name string) error {
	n, err := c.node(name)
	if err != nil {
		return err
	}
	done, err := n.signal(syscall.SIGTERM)
	if err != nil {
		return err
	}
	t := time.NewTimer(stopWait)
	defer t.Stop()
	select {
	case <-done:
		c.log.Info("localcluster: agent stopped", "node", name)
		return nil
	case <-t.C:
		_, _ = n.signal(syscall.SIGKILL)
		return fmt.Errorf("localcluster: %s: agent did not stop within %v; killed", name, stopWait)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// StartNode starts a stopped or killed node's agent again with the same
// configuration; it does not wait for it to be healthy.
func (c *Cluster) StartNode(ctx context.Context, name string) error {
	n, err := c.node(name)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := n.start(); err != nil {
		return err
	}
	c.log.Info("localcluster: agent started", "node", name)
	return nil
}

// RestartNode stops the agent if it runs (SIGTERM) and starts it again.
func (c *Cluster) RestartNode(ctx context.Context, name string) error {
	n, err := c.node(name)
	if err != nil {
		return err
	}
	if n.Running() {
		if err := c.StopNode(ctx, name); err != nil {
			return err
		}
	}
	return c.StartNode(ctx, name)
}

// ReloadNode sends SIGHUP to a node's agent (re-read its configuration).
func (c *Cluster) ReloadNode(name string) error {
	n, err := c.node(name)
	if err != nil {
		return err
	}
	_, err = n.signal(syscall.SIGHUP)
	return err
}

// TerminateWALReceiver ends node name's WAL receiver with SIGTERM, as a
// broken replication connection would end it (pg_terminate_backend
// refuses: the receiver is not a backend); the standby's startup process
// starts a new one, which reconnects to the upstream. It returns the
// terminated receiver's pid, 0 when none ran.
func (c *Cluster) TerminateWALReceiver(ctx context.Context, name string) (int, error) {
	if _, err := c.node(name); err != nil {
		return 0, err
	}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(qctx, c.NodeDSN(name))
	if err != nil {
		return 0, fmt.Errorf("localcluster: %s: %w", name, err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	var pid int
	err = conn.QueryRow(qctx, "SELECT pid FROM pg_stat_wal_receiver WHERE pid IS NOT NULL").Scan(&pid)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("localcluster: %s: find the WAL receiver: %w", name, err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return 0, fmt.Errorf("localcluster: %s: terminate the WAL receiver %d: %w", name, pid, err)
	}
	c.log.Info("localcluster: WAL receiver terminated", "node", name, "pid", pid)
	return pid, nil
}

// SwitchoverAnswer is a REST API's answer to POST /switchover.
type SwitchoverAnswer struct {
	// Status is the HTTP status: 200 when the leader key moved, 412 when
	// the switchover is not possible, 503 when it failed or timed out.
	Status  int
	Message string
}

// RequestSwitchover posts a switchover from leader to candidate ("" lets
// the cluster pick) to leader's REST API with basic auth, as patronictl
// switchover does, and returns the answer; an error only when there was
// none.
func (c *Cluster) RequestSwitchover(ctx context.Context, leader, candidate string) (SwitchoverAnswer, error) {
	n := c.Node(leader)
	if n == nil {
		return SwitchoverAnswer{}, fmt.Errorf("localcluster: switchover: %w: leader %q", ErrUnknownNode, leader)
	}
	rctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	r, err := c.api(n).Switchover(rctx, client.SwitchoverRequest{Leader: leader, Candidate: candidate})
	a := SwitchoverAnswer{Status: r.StatusCode, Message: r.Message}
	var refused *client.HTTPError
	switch {
	case errors.As(err, &refused):
		a = SwitchoverAnswer{Status: refused.StatusCode, Message: refused.Message}
	case err != nil:
		return SwitchoverAnswer{}, fmt.Errorf("localcluster: switchover: %w", err)
	}
	c.log.Info("localcluster: switchover answered", "from", leader, "to", candidate, "status", a.Status, "answer", a.Message)
	return a, nil
}

// Switchover asks the current leader's REST API for a switchover to
// candidate ("" lets the cluster pick; see [Cluster.RequestSwitchover])
// and returns when the API answered: the leader key has moved then. Any
// answer but 200 is an error.
func (c *Cluster) Switchover(ctx context.Context, candidate string) error {
	leader, err := c.Leader(ctx)
	if err != nil {
		return err
	}
	if c.Node(leader) == nil {
		return fmt.Errorf("localcluster: switchover: no leader (%q)", leader)
	}
	a, err := c.RequestSwitchover(ctx, leader, candidate)
	if err != nil {
		return err
	}
	if a.Status != http.StatusOK {
		return fmt.Errorf("localcluster: switchover: %d %s: %s", a.Status, http.StatusText(a.Status), a.Message)
	}
	return nil
}

// RestartPending asks node name to restart PostgreSQL if a setting waits
// for a restart (POST /restart with restart_pending, as `pgha-ctl restart
// --pending` and patronictl do). A node with nothing pending answers 503,
// returned as the client's error.
func (c *Cluster) RestartPending(ctx context.Context, name string) error {
	n, err := c.node(name)
	if err != nil {
		return err
	}
	_, err = c.api(n).Restart(ctx, client.RestartRequest{RestartPending: true})
	return err
}

// HealthStatus returns the status code of the health check GET check
// (such as "/standby-leader" or "primary") on node name, bounded by two
// seconds.
func (c *Cluster) HealthStatus(ctx context.Context, name, check string) (int, error) {
	n, err := c.node(name)
	if err != nil {
		return 0, err
	}
	return c.apiStatus(ctx, n, strings.TrimPrefix(check, "/"))
}
