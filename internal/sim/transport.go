package sim

import (
	"fmt"
	"net/http"

	"github.com/pgha/pgha/internal/inproc"
)

// transport carries one node's requests to its peers' health APIs in
// process. A request from or to a frozen agent waits until the agent is
// thawed (or the request's deadline), a request across a partition waits
// until its deadline (packets dropped, as iptables DROP does), and a
// request to a node whose agent is not running is refused at once.
type transport struct {
	w    *world
	from int
}

// RoundTrip implements http.RoundTripper.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	ctx := req.Context()
	to := t.w.nodeByName(req.URL.Hostname())
	if to < 0 {
		return nil, fmt.Errorf("sim: dial %s: no such host", req.URL.Host)
	}
	if err := t.w.nodes[t.from].gate.wait(ctx); err != nil {
		return nil, fmt.Errorf("sim: %s: %w", req.URL, err)
	}
	if t.w.partitioned(t.from, to) {
		<-ctx.Done()
		return nil, fmt.Errorf("sim: %s: partitioned: %w", req.URL, ctx.Err())
	}
	n := t.w.nodes[to]
	if err := sleep(ctx, t.w.nodes[t.from].lat+n.lat); err != nil {
		return nil, fmt.Errorf("sim: %s: %w", req.URL, err)
	}
	if err := n.gate.wait(ctx); err != nil {
		return nil, fmt.Errorf("sim: %s: %w", req.URL, err)
	}
	h := t.w.handler(to)
	if h == nil {
		return nil, fmt.Errorf("sim: dial %s: connection refused", req.URL.Host)
	}
	resp := inproc.Serve(h, req, t.w.nodes[t.from].name+":0")
	return resp, nil
}
