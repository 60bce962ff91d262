package testutil

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"
)

// headerServerFrom is the header in which etcd's raft transport names the
// sending member (hex member ID) on every stream, message and snapshot
// request.
const headerServerFrom = "X-Server-From"

// peerProxy is an HTTP reverse proxy in front of one etcd member's peer
// listener; the member advertises the proxy's URL as its peer URL, so every
// peer request to the member passes through it.
//
// It works at the HTTP level rather than TCP because etcd's raft transport
// carries messages in both directions over connections opened by either
// side, and pools connections between requests: to cut member i from its
// peers, the proxy of i holds every request (traffic to i) and the proxies of
// the other members hold the requests whose X-Server-From names i (traffic
// from i), whichever connection they travel on.
type peerProxy struct {
	ln   net.Listener
	srv  *http.Server
	tr   *http.Transport
	rp   *httputil.ReverseProxy
	done chan struct{}
	wg   sync.WaitGroup

	mu          sync.Mutex
	down        bool            // member not running: close connections at once
	isolated    bool            // member cut off: hold every request
	blockedFrom map[string]bool // sender IDs whose requests are held
	changed     chan struct{}   // closed and replaced on every policy change
	active      map[*peerRequest]struct{}
	closed      bool
}

// peerRequest is one request being forwarded.
type peerRequest struct {
	from   string
	cancel context.CancelFunc
}

// newPeerProxy starts a peer proxy on a free loopback port forwarding to
// target ("127.0.0.1:port"); it is closed by t.Cleanup.
func newPeerProxy(t testing.TB, target string) *peerProxy {
	t.Helper()
	port := FreePort(t)
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("testutil: peer proxy: listen on reserved port %d: %v", port, err)
	}
	quiet := log.New(io.Discard, "", 0)
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: proxyDialTimeout}).DialContext,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	targetURL := &url.URL{Scheme: "http", Host: target}
	p := &peerProxy{
		ln:          ln,
		tr:          tr,
		done:        make(chan struct{}),
		blockedFrom: make(map[string]bool),
		changed:     make(chan struct{}),
		active:      make(map[*peerRequest]struct{}),
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:       func(pr *httputil.ProxyRequest) { pr.SetURL(targetURL) },
		Transport:     tr,
		FlushInterval: -1, // raft streams must not be buffered
		ErrorLog:      quiet,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	p.srv = &http.Server{Handler: p, ErrorLog: quiet, ReadHeaderTimeout: 10 * time.Second}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		_ = p.srv.Serve(ln)
	}()
	t.Cleanup(p.close)
	return p
}

// url is the URL the member advertises to its peers.
func (p *peerProxy) url() string { return "http://" + p.ln.Addr().String() }

// ServeHTTP forwards r unless the policy holds it; a held request waits for
// the policy to change, the client to go away, or the proxy to close.
func (p *peerProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		abortRequest(w)
		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	defer p.wg.Done()

	from := r.Header.Get(headerServerFrom)
	for {
		p.mu.Lock()
		if p.closed || p.down {
			p.mu.Unlock()
			abortRequest(w)
			return
		}
		if !p.isolated && !p.blockedFrom[from] {
			ctx, cancel := context.WithCancel(r.Context())
			req := &peerRequest{from: from, cancel: cancel}
			p.active[req] = struct{}{}
			p.mu.Unlock()
			p.forward(w, r.WithContext(ctx), req)
			return
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		case <-p.done:
			abortRequest(w)
			return
		}
	}
}

// forward proxies one allowed request; req.cancel aborts it.
func (p *peerProxy) forward(w http.ResponseWriter, r *http.Request, req *peerRequest) {
	defer func() {
		p.mu.Lock()
		delete(p.active, req)
		p.mu.Unlock()
		req.cancel()
	}()
	p.rp.ServeHTTP(w, r)
}

// setDown marks the member as stopped (connections closed at once, requests
// in flight aborted) or running again.
func (p *peerProxy) setDown(down bool) {
	p.update(func() { p.down = down }, func(*peerRequest) bool { return down })
}

// setIsolated holds (or releases) every request to the member.
func (p *peerProxy) setIsolated(isolated bool) {
	p.update(func() { p.isolated = isolated }, func(*peerRequest) bool { return isolated })
}

// setBlockedFrom holds (or releases) every request sent by member id.
func (p *peerProxy) setBlockedFrom(id string, blocked bool) {
	p.update(func() {
		if blocked {
			p.blockedFrom[id] = true
		} else {
			delete(p.blockedFrom, id)
		}
	}, func(r *peerRequest) bool { return blocked && r.from == id })
}

// update applies a policy change, aborts the requests in flight that the new
// policy no longer allows, and wakes held requests to re-check.
func (p *peerProxy) update(apply func(), abort func(*peerRequest) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	apply()
	for r := range p.active {
		if abort(r) {
			r.cancel()
		}
	}
	close(p.changed)
	p.changed = make(chan struct{})
}

// close stops the proxy and waits for its handlers; it is idempotent.
func (p *peerProxy) close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.done)
		for r := range p.active {
			r.cancel()
		}
	}
	p.mu.Unlock()
	_ = p.srv.Close()
	p.wg.Wait()
	p.tr.CloseIdleConnections()
}

// abortRequest drops the client connection without a response, as a dead or
// unreachable member would.
func abortRequest(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			resetConn(conn)
			return
		}
	}
	panic(http.ErrAbortHandler)
}
