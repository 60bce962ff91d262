package failovertest

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/pgha/pgha/internal/inproc"
)

// router is an http.RoundTripper that serves each request with the
// handler registered for its URL's host name: the nodes' health APIs are
// reached in process, as if over a network, without listening sockets
// (which would make the harness depend on free ports and slow teardown).
type router struct {
	mu       sync.RWMutex
	handlers map[string]http.Handler
}

// set registers h for host; nil removes it.
func (r *router) set(host string, h http.Handler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h == nil {
		delete(r.handlers, host)
		return
	}
	r.handlers[host] = h
}

// RoundTrip implements http.RoundTripper. An unknown host fails like a
// refused connection, which is how a Controller sees a dead peer.
func (r *router) RoundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Hostname()
	r.mu.RLock()
	h := r.handlers[host]
	r.mu.RUnlock()
	if req.Body != nil {
		// A RoundTripper must close the body, even on error; the server
		// side reads its own copy through the cloned request.
		defer req.Body.Close()
	}
	if h == nil {
		return nil, fmt.Errorf("failovertest: dial %s: connection refused", req.URL.Host)
	}
	if err := req.Context().Err(); err != nil {
		return nil, fmt.Errorf("failovertest: %s: %w", req.URL, err)
	}
	resp := inproc.Serve(h, req, "failovertest:0")
	return resp, nil
}
