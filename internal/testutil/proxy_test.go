package testutil

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

// roundTrip writes msg through conn and reads the echo back within timeout.
func roundTrip(conn net.Conn, msg string, timeout time.Duration) (string, error) {
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return "", err
	}
	if _, err := conn.Write([]byte(msg)); err != nil {
		return "", err
	}
	buf := make([]byte, len(msg))
	_, err := io.ReadFull(conn, buf)
	return string(buf), err
}

func TestProxyModes(t *testing.T) {
	const latency = 100 * time.Millisecond
	tests := []struct {
		name        string
		setup       func(*Proxy)
		mayFailDial bool
		check       func(t *testing.T, conn net.Conn) // conn is nil if the dial failed
	}{
		{
			name:  "pass echoes",
			setup: (*Proxy).Pass,
			check: func(t *testing.T, conn net.Conn) {
				got, err := roundTrip(conn, "hello", 5*time.Second)
				if err != nil || got != "hello" {
					t.Fatalf("round trip = %q, %v; want hello", got, err)
				}
			},
		},
		{
			name:  "blackhole times out",
			setup: (*Proxy).Blackhole,
			check: func(t *testing.T, conn net.Conn) {
				_, err := roundTrip(conn, "hello", 300*time.Millisecond)
				if !isTimeout(err) {
					t.Fatalf("read error = %v; want a timeout", err)
				}
			},
		},
		{
			name:        "refuse closes at once",
			setup:       (*Proxy).Refuse,
			mayFailDial: true,
			check: func(t *testing.T, conn net.Conn) {
				if conn == nil {
					return // reset while connecting: refused too
				}
				_, err := roundTrip(conn, "hello", 5*time.Second)
				if err == nil || isTimeout(err) {
					t.Fatalf("error = %v; want EOF or reset", err)
				}
				t.Logf("refused connection: %v", err)
			},
		},
		{
			name:  "latency delays",
			setup: func(p *Proxy) { p.SetLatency(latency) },
			check: func(t *testing.T, conn net.Conn) {
				start := time.Now()
				got, err := roundTrip(conn, "hello", 10*time.Second)
				took := time.Since(start)
				if err != nil || got != "hello" {
					t.Fatalf("round trip = %q, %v; want hello", got, err)
				}
				t.Logf("round trip with %v latency each way took %v", latency, took)
				if took < latency {
					t.Fatalf("round trip took %v, less than the configured latency %v", took, latency)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			echo := startEcho(t)
			p := NewProxy(t, echo.addr())
			tt.setup(p)
			conn, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second)
			if err != nil {
				if !tt.mayFailDial {
					t.Fatalf("dial proxy: %v", err)
				}
				t.Logf("dial: %v", err)
				tt.check(t, nil)
				return
			}
			defer conn.Close()
			tt.check(t, conn)
		})
	}
}

func TestProxyCutConnections(t *testing.T) {
	p := NewProxy(t, startEcho(t).addr())
	conn, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got, err := roundTrip(conn, "one", 5*time.Second); err != nil || got != "one" {
		t.Fatalf("round trip = %q, %v", got, err)
	}
	p.CutConnections()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("read after cut = %v; want EOF or reset", err)
	}
	// The mode is unchanged: new connections pass.
	conn2, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	if got, err := roundTrip(conn2, "two", 5*time.Second); err != nil || got != "two" {
		t.Fatalf("round trip after cut = %q, %v", got, err)
	}
}

func TestProxyBlackholeStallsOpenConnection(t *testing.T) {
	p := NewProxy(t, startEcho(t).addr())
	conn, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got, err := roundTrip(conn, "a", 5*time.Second); err != nil || got != "a" {
		t.Fatalf("round trip = %q, %v", got, err)
	}
	p.Blackhole()
	if _, err := roundTrip(conn, "b", 200*time.Millisecond); !isTimeout(err) {
		t.Fatalf("read while blackholed = %v; want a timeout", err)
	}
	p.Pass()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "b" {
		t.Fatalf("held byte after Pass = %q, %v; want b", buf, err)
	}
}

func TestProxyLargeTransferAndHalfClose(t *testing.T) {
	p := NewProxy(t, startEcho(t).addr())
	conn, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	payload := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	writeErr := make(chan error, 1)
	go func() {
		_, err := conn.Write(payload)
		if err == nil {
			err = conn.(*net.TCPConn).CloseWrite()
		}
		writeErr <- err
	}()
	got, err := io.ReadAll(conn) // ends when the echo server sees our EOF
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := <-writeErr; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("echoed %d bytes, want the %d sent", len(got), len(payload))
	}
}

func TestProxyConcurrentModeChanges(t *testing.T) {
	p := NewProxy(t, startEcho(t).addr())
	stop := make(chan struct{})
	var flipper sync.WaitGroup
	flipper.Go(func() {
		modes := []func(){p.Pass, p.Blackhole, p.Refuse, p.CutConnections,
			func() { p.SetLatency(time.Millisecond) }, func() { p.SetLatency(0) }}
		for i := 0; ; i++ {
			select {
			case <-stop:
				p.Pass()
				return
			case <-time.After(2 * time.Millisecond):
				modes[i%len(modes)]()
			}
		}
	})
	var clients sync.WaitGroup
	for range 8 {
		clients.Go(func() {
			for range 20 {
				conn, err := net.DialTimeout("tcp", p.Addr(), time.Second)
				if err != nil {
					continue
				}
				_, _ = roundTrip(conn, "x", 50*time.Millisecond)
				_ = conn.Close()
			}
		})
	}
	clients.Wait()
	close(stop)
	flipper.Wait()
}

func TestProxyNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("use", func(t *testing.T) {
		echo := startEcho(t)
		p := NewProxy(t, echo.addr())
		var conns []net.Conn
		for _, mode := range []func(){p.Pass, p.Blackhole, p.Pass} {
			mode()
			conn, err := net.Dial("tcp", p.Addr())
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, conn)
			_, _ = roundTrip(conn, "x", 100*time.Millisecond)
		}
		p.Blackhole() // leave one connection stalled mid-flight
		_, _ = conns[2].Write([]byte("y"))
		// Connections are left open on purpose: Close must reap them.
	})
	Eventually(t, 5*time.Second, func() error {
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			return fmt.Errorf("%d goroutines, %d before:\n%s", n, before, buf)
		}
		return nil
	}, "goroutines after proxy cleanup")
}

func TestNewProxyBadTarget(t *testing.T) {
	for _, target := range []string{"", "nonsense", "127.0.0.1", "10.1.2.3:80", "example.com:80"} {
		failed, msg := newFakeTB(t).run(func(tb testing.TB) { NewProxy(tb, target) })
		if !failed {
			t.Errorf("NewProxy(%q) did not fail the test", target)
		} else {
			t.Logf("NewProxy(%q): %s", target, msg)
		}
	}
}
