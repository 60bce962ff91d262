package localcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/pgha/pgha/dcs"
)

// PatchConfig applies a JSON merge patch to the dynamic configuration
// through the leader's REST API (PATCH /config with basic auth), retrying
// while there is no leader, and then waits until every running agent has
// republished its member key since: each does so at least every loop_wait,
// after reading the configuration, so the change is in effect everywhere.
// ctx bounds the whole wait.
func (c *Cluster) PatchConfig(ctx context.Context, patch map[string]any) error {
	body, err := json.Marshal(patch)
	if err != nil {
		return fmt.Errorf("localcluster: encode patch: %w", err)
	}
	var rev int64
	err = Poll(ctx, 200*time.Millisecond, func() error {
		leader, err := c.Leader(ctx)
		n := c.Node(leader)
		if err != nil || n == nil {
			return fmt.Errorf("no leader (%v)", err)
		}
		if _, err := c.api(n).PatchConfig(ctx, json.RawMessage(body)); err != nil {
			return err
		}
		snap, err := c.store.Get(ctx)
		if err != nil {
			return err
		}
		rev = snap.Revision
		return nil
	})
	if err != nil {
		return fmt.Errorf("localcluster: patch config %s: %w", body, err)
	}
	err = Poll(ctx, 100*time.Millisecond, func() error {
		snap, err := c.store.Get(ctx)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, kv := range snap.KVs {
			if kv.ModRevision > rev && strings.HasPrefix(kv.Key, dcs.KeyMembersPrefix) {
				seen[strings.TrimPrefix(kv.Key, dcs.KeyMembersPrefix)] = true
			}
		}
		for _, n := range c.Nodes() {
			if n.Running() && !seen[n.Name()] {
				return fmt.Errorf("%s has not republished its member key since the change", n.Name())
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("localcluster: config %s not picked up: %w", body, err)
	}
	return nil
}

// PrimaryStatus returns the status code of GET /primary on node name's
// REST API, 0 when the node is unknown or the request failed within a
// second: a probe that must not hold up a scenario.
func (c *Cluster) PrimaryStatus(ctx context.Context, name string) int {
	n := c.Node(name)
	if n == nil {
		return 0
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	code, err := c.apiStatus(ctx, n, "primary")
	if err != nil {
		return 0
	}
	return code
}
