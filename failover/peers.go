package failover

import (
	"context"
	"sync"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/healthapi/client"
)

// queryPeers asks every other member with an API URL for its position,
// all in parallel, each bounded by timeout, no retries. A peer that fails
// or does not answer in time is returned as Unreachable.
func (c *Controller) queryPeers(ctx context.Context, cl *dcs.Cluster, timeout time.Duration) []Position {
	if cl == nil {
		return nil
	}
	var (
		mu  sync.Mutex
		out []Position
		wg  sync.WaitGroup
	)
	for _, m := range cl.Members {
		if m == nil || m.Name == c.o.Name || m.APIURL == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := c.queryPeer(ctx, m, timeout)
			mu.Lock()
			out = append(out, p)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// queryPeer asks one member for its position within timeout.
func (c *Controller) queryPeer(ctx context.Context, m *dcs.Member, timeout time.Duration) Position {
	p := Position{Name: m.Name, Source: SourcePeer}
	doc, err := c.fetchPeer(ctx, m.APIURL, timeout)
	p.ObservedAt = c.clk.Now()
	if err != nil {
		c.log.Debug("failover: peer query failed", "peer", m.Name, "err", err)
		p.Unreachable = true
		return p
	}
	p.State, p.Role, p.Timeline, p.ReplicationState = doc.State, doc.Role, doc.Timeline, doc.ReplicationState
	p.Declines = doc.WatchdogFailed || doc.PromoteVetoed
	x := doc.XLog
	switch {
	case x.Location != nil:
		p.ReceiveLSN, p.ReplayLSN = *x.Location, *x.Location
	default:
		if x.ReceivedLocation != nil {
			p.ReceiveLSN = *x.ReceivedLocation
		}
		if x.ReplayedLocation != nil {
			p.ReplayLSN = *x.ReplayedLocation
		}
	}
	return p
}

// fetchPeer GETs the member's status document (its api_url itself, as
// Patroni's peers do), bounded by timeout and without authentication:
// GET /patroni is not protected. Both 200 and 503 carry the document.
func (c *Controller) fetchPeer(ctx context.Context, apiURL string, timeout time.Duration) (*client.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	api, err := client.New(apiURL, client.Options{HTTP: c.http})
	if err != nil {
		return nil, err
	}
	return api.Patroni(ctx)
}
