package testutil

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Ports are reserved outside the kernel's ephemeral range, so that the
// source ports of outgoing connections never collide with them, and are
// guarded by a flock(2) on a per-port file shared by every test process on
// the machine. The lock lives as long as the file descriptor, i.e. until the
// test's cleanup closes it or the process dies.
const (
	portLockDirName = "pgha-ports"
	// lowestPort is the bottom of the range we allocate from when the
	// ephemeral range starts above it.
	lowestPort = 20000
	// minPoolSize is the smallest range worth using below the ephemeral range.
	minPoolSize = 2000
	// maxPortAttempts bounds the random search for a free port.
	maxPortAttempts = 500
)

// ErrNoFreePort is returned when no port could be reserved.
var ErrNoFreePort = errors.New("testutil: no free port")

// FreePort returns a loopback TCP port that is bindable on 127.0.0.1 and
// reserved for this test against every other test in this or any other test
// process; the reservation is released by t.Cleanup. The port is not held
// open: the caller binds it.
func FreePort(t testing.TB) int {
	t.Helper()
	return FreePorts(t, 1)[0]
}

// FreePorts returns n distinct ports as FreePort does.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	if n < 1 {
		t.Fatalf("testutil.FreePorts: n must be at least 1, got %d", n)
	}
	lo, hi, err := portPool()
	if err != nil {
		t.Fatalf("testutil.FreePorts: %v", err)
	}
	ports := make([]int, 0, n)
	for range n {
		port, f, err := reservePort(lo, hi)
		if err != nil {
			t.Fatalf("testutil.FreePorts: %v", err)
		}
		t.Cleanup(func() { _ = f.Close() })
		ports = append(ports, port)
	}
	return ports
}

// portPool returns the inclusive range ports are drawn from: below the
// ephemeral range when there is room, else above it.
func portPool() (lo, hi int, err error) {
	ephLo, ephHi := 32768, 60999 // Linux default
	if b, rerr := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); rerr == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			l, e1 := strconv.Atoi(f[0])
			h, e2 := strconv.Atoi(f[1])
			if e1 == nil && e2 == nil && l <= h {
				ephLo, ephHi = l, h
			}
		}
	}
	if ephLo-1-lowestPort >= minPoolSize {
		return lowestPort, ephLo - 1, nil
	}
	if 65535-(ephHi+1) >= minPoolSize {
		return ephHi + 1, 65535, nil
	}
	if ephLo-1-1024 >= minPoolSize {
		return 1024, ephLo - 1, nil
	}
	return 0, 0, fmt.Errorf("%w: ephemeral range %d-%d leaves no room for a port pool", ErrNoFreePort, ephLo, ephHi)
}

// reservePort picks random ports in [lo, hi] until one can be locked and
// bound; it returns the port and the open lock file that holds the
// reservation.
func reservePort(lo, hi int) (int, *os.File, error) {
	dir := filepath.Join(os.TempDir(), portLockDirName)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return 0, nil, fmt.Errorf("create port lock directory: %w", err)
	}
	// Let test processes running as other users share the directory.
	_ = os.Chmod(dir, 0o1777)
	for range maxPortAttempts {
		port := lo + rand.IntN(hi-lo+1)
		f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)+".lock"), os.O_RDWR|os.O_CREATE, 0o666)
		if err != nil {
			continue // e.g. a file left by another user; try another port
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			_ = f.Close()
			continue
		}
		if !bindable(port) {
			_ = f.Close()
			continue
		}
		return port, f, nil
	}
	return 0, nil, fmt.Errorf("%w in %d-%d after %d attempts", ErrNoFreePort, lo, hi, maxPortAttempts)
}

// bindable reports whether a listener can be opened on 127.0.0.1:port now.
func bindable(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}
