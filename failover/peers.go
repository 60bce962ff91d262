package failover

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/pgha/pgha/dcs"
)

// maxPeerBody bounds a peer's status document.
const maxPeerBody = 1 << 20

// peerDoc is the part of a peer's GET /patroni document the race reads.
type peerDoc struct {
	State            string `json:"state"`
	Role             string `json:"role"`
	Timeline         int64  `json:"timeline"`
	ReplicationState string `json:"replication_state"`
	XLog             struct {
		Location         *int64 `json:"location"`
		ReceivedLocation *int64 `json:"received_location"`
		ReplayedLocation *int64 `json:"replayed_location"`
	} `json:"xlog"`
}

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

func (c *Controller) fetchPeer(ctx context.Context, apiURL string, timeout time.Duration) (peerDoc, error) {
	var doc peerDoc
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, apiURL, nil)
	if err != nil {
		return doc, fmt.Errorf("peer query %s: %w", apiURL, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return doc, fmt.Errorf("peer query: %w", err)
	}
	defer resp.Body.Close()
	// Patroni answers 200 or 503 with the same document.
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
		return doc, fmt.Errorf("peer query %s: HTTP %d", apiURL, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxPeerBody)).Decode(&doc); err != nil {
		return doc, fmt.Errorf("peer query %s: decoding: %w", apiURL, err)
	}
	return doc, nil
}
