package testutil

import (
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// proxyMode is what a Proxy does with traffic.
type proxyMode int

const (
	modePass proxyMode = iota
	modeBlackhole
	modeRefuse
)

// proxyDialTimeout bounds the dial to the proxy's target.
const proxyDialTimeout = 5 * time.Second

// Proxy is a loopback TCP proxy in front of one target address whose
// behaviour can be switched at run time to inject network faults. It is safe
// for concurrent use. Its goroutines and connections are gone once Close (run
// by t.Cleanup) returns.
//
// Modes act as follows:
//   - Pass forwards bytes in both directions (the default).
//   - Blackhole accepts new connections and discards what they send without
//     ever dialing the target, and stalls open connections: their bytes are
//     held back (not lost) until the proxy passes again, like a network
//     partition under TCP retransmission. Connections accepted while
//     blackholed stay dead after Pass; CutConnections resets them.
//   - Refuse resets new connections as soon as they are accepted (the client
//     sees a reset or EOF); open connections are left alone.
//
// SetLatency delays every forwarded chunk in both directions and combines
// with the modes; CutConnections resets every open connection.
type Proxy struct {
	target string
	ln     net.Listener
	wg     sync.WaitGroup

	mu      sync.Mutex
	mode    proxyMode
	latency time.Duration
	changed chan struct{} // closed and replaced on every mode change
	conns   map[*proxyConn]struct{}
	closed  bool
}

// proxyConn is one client connection and, once dialed, its upstream.
type proxyConn struct {
	client net.Conn
	done   chan struct{} // closed by close

	mu       sync.Mutex
	upstream net.Conn
	closed   bool
}

// NewProxy starts a proxy listening on a free loopback port that forwards to
// target ("127.0.0.1:port"; any loopback address is accepted, nothing else).
// It is closed by t.Cleanup.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	host, port, err := net.SplitHostPort(target)
	if err != nil || port == "" {
		t.Fatalf("testutil.NewProxy: target %q is not host:port: %v", target, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		t.Fatalf("testutil.NewProxy: target %q is not a loopback address; tests only talk to loopback", target)
	}
	lport := FreePort(t)
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(lport)))
	if err != nil {
		t.Fatalf("testutil.NewProxy: listen on reserved port %d: %v", lport, err)
	}
	p := &Proxy{
		target:  target,
		ln:      ln,
		changed: make(chan struct{}),
		conns:   make(map[*proxyConn]struct{}),
	}
	p.wg.Add(1)
	go p.acceptLoop()
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's listen address, "127.0.0.1:port".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is "http://" + Addr().
func (p *Proxy) URL() string { return "http://" + p.Addr() }

// Target is the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// Pass makes the proxy forward traffic normally.
func (p *Proxy) Pass() { p.setMode(modePass) }

// Blackhole makes the proxy accept new connections and drop what they send,
// and stall open ones; nothing answers.
func (p *Proxy) Blackhole() { p.setMode(modeBlackhole) }

// Refuse makes the proxy reset new connections at once.
func (p *Proxy) Refuse() { p.setMode(modeRefuse) }

// SetLatency delays each forwarded chunk by d, in both directions; d <= 0
// removes the delay.
func (p *Proxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latency = max(d, 0)
}

// CutConnections closes every open connection now, with a reset towards the
// client; the mode is unchanged.
func (p *Proxy) CutConnections() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.close()
	}
}

// Close stops the proxy, closes all its connections and waits for its
// goroutines. It is idempotent.
func (p *Proxy) Close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		_ = p.ln.Close()
		for c := range p.conns {
			c.close()
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) setMode(m proxyMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = m
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Transient (e.g. out of file descriptors): back off briefly.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			resetConn(c)
			return
		}
		mode := p.mode
		if mode == modeRefuse {
			p.mu.Unlock()
			resetConn(c)
			continue
		}
		pc := &proxyConn{client: c, done: make(chan struct{})}
		p.conns[pc] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.handle(pc, mode)
	}
}

func (p *Proxy) handle(pc *proxyConn, mode proxyMode) {
	defer p.wg.Done()
	defer func() {
		pc.shutdown(false)
		p.mu.Lock()
		delete(p.conns, pc)
		p.mu.Unlock()
	}()
	if mode == modeBlackhole {
		_, _ = io.Copy(io.Discard, pc.client)
		pc.close()
		return
	}
	d := net.Dialer{Timeout: proxyDialTimeout}
	up, err := d.Dial("tcp", p.target)
	if err != nil {
		pc.close() // reset the client, as a refused connection would
		return
	}
	if !pc.setUpstream(up) {
		return
	}
	var pumps sync.WaitGroup
	pumps.Add(1)
	go func() {
		defer pumps.Done()
		p.pump(pc, up, pc.client)
	}()
	p.pump(pc, pc.client, up)
	pumps.Wait()
}

// pump copies src to dst, honouring blackhole stalls and latency. On EOF it
// half-closes dst so the other direction can finish; on any other error it
// closes the whole connection.
func (p *Proxy) pump(pc *proxyConn, dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.waitForward(pc) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				pc.close()
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
					return
				}
			}
			pc.close()
			return
		}
	}
}

// waitForward blocks while the proxy is blackholed, then for the configured
// latency. It returns false if the connection was closed meanwhile.
func (p *Proxy) waitForward(pc *proxyConn) bool {
	for {
		p.mu.Lock()
		mode, changed, latency := p.mode, p.changed, p.latency
		p.mu.Unlock()
		if mode == modeBlackhole {
			select {
			case <-changed:
				continue
			case <-pc.done:
				return false
			}
		}
		if latency <= 0 {
			return true
		}
		timer := time.NewTimer(latency)
		select {
		case <-timer.C:
			return true
		case <-pc.done:
			timer.Stop()
			return false
		}
	}
}

// setUpstream records the dialed upstream; it returns false (and closes up)
// if the connection was cut while dialing.
func (c *proxyConn) setUpstream(up net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		_ = up.Close()
		return false
	}
	c.upstream = up
	return true
}

// close resets both sides of the connection; it is idempotent.
func (c *proxyConn) close() { c.shutdown(true) }

// shutdown closes both sides, with a reset when reset is true (faults and
// errors) and an orderly close otherwise (both directions ended); it is
// idempotent.
func (c *proxyConn) shutdown(reset bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	close(c.done)
	for _, conn := range []net.Conn{c.client, c.upstream} {
		switch {
		case conn == nil:
		case reset:
			resetConn(conn)
		default:
			_ = conn.Close()
		}
	}
}

// resetConn closes c with SO_LINGER 0, so the peer sees a reset rather than
// an orderly EOF where the kernel allows it.
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}
