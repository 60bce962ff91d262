package testutil

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgha/pgha/dcs"
)

// FakeNode stands in for one cluster member where a test needs only its
// network face, as the proxy tests do: a TCP server in place of PostgreSQL
// that greets with the node's name and echoes lines (recording them), and
// a health API answering /primary, /replica and /sync from a role the test
// sets ("primary", "replica", or "sync" for a synchronous replica).
type FakeNode struct {
	Name            string
	Host            string
	PGPort, APIPort int

	role     atomic.Value // string
	mu       sync.Mutex
	received []string
}

// StartFakeNode starts a FakeNode on host's pgPort and apiPort, listening
// with listen (nil: net.Listen; or one that creates the socket in a
// network namespace). It stops when the test ends.
func StartFakeNode(t testing.TB, name, role, host string, pgPort, apiPort int, listen func(addr string) (net.Listener, error)) *FakeNode {
	t.Helper()
	if listen == nil {
		listen = func(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
	}
	n := &FakeNode{Name: name, Host: host, PGPort: pgPort, APIPort: apiPort}
	n.SetRole(role)
	ln, err := listen(net.JoinHostPort(host, strconv.Itoa(pgPort)))
	if err != nil {
		t.Fatal(err)
	}
	apiLn, err := listen(net.JoinHostPort(host, strconv.Itoa(apiPort)))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var cmu sync.Mutex
	conns := map[net.Conn]struct{}{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			cmu.Lock()
			conns[c] = struct{}{}
			cmu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				n.serve(c)
			}()
		}
	}()
	api := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(n.health)}
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = api.Serve(apiLn)
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		_ = api.Close()
		cmu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		cmu.Unlock()
		wg.Wait()
	})
	return n
}

// serve greets a client with the node's name and echoes its lines.
func (n *FakeNode) serve(c net.Conn) {
	if _, err := fmt.Fprintf(c, "%s\n", n.Name); err != nil {
		return
	}
	r := bufio.NewReader(c)
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return
		}
		n.mu.Lock()
		n.received = append(n.received, strings.TrimSpace(l))
		n.mu.Unlock()
		if _, err := c.Write([]byte(l)); err != nil {
			return
		}
	}
}

// health answers Patroni's role checks from the role the test set.
func (n *FakeNode) health(w http.ResponseWriter, r *http.Request) {
	code := http.StatusServiceUnavailable
	role := n.Role()
	switch r.URL.Path {
	case "/primary":
		if role == "primary" {
			code = http.StatusOK
		}
	case "/replica":
		if role == "replica" || role == "sync" {
			code = http.StatusOK
		}
	case "/sync":
		if role == "sync" {
			code = http.StatusOK
		}
	}
	w.WriteHeader(code)
}

// SetRole sets the role the health API answers for.
func (n *FakeNode) SetRole(role string) { n.role.Store(role) }

// Role is the role the health API answers for.
func (n *FakeNode) Role() string { return n.role.Load().(string) }

// Received reports whether a client sent line (without its newline).
func (n *FakeNode) Received(line string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Contains(n.received, line)
}

// Member is the node's member key ("sync" is a replica there).
func (n *FakeNode) Member() *dcs.Member {
	role := n.Role()
	if role == "sync" {
		role = dcs.RoleReplica
	}
	return &dcs.Member{
		Name:    n.Name,
		ConnURL: fmt.Sprintf("postgres://%s/postgres", net.JoinHostPort(n.Host, strconv.Itoa(n.PGPort))),
		APIURL:  fmt.Sprintf("http://%s/patroni", net.JoinHostPort(n.Host, strconv.Itoa(n.APIPort))),
		State:   dcs.StateRunning,
		Role:    role,
	}
}
