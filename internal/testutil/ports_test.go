package testutil

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFreePortsDistinctAndBindable(t *testing.T) {
	ports := FreePorts(t, 50)
	seen := make(map[int]bool)
	for _, p := range ports {
		if seen[p] {
			t.Fatalf("port %d returned twice in %v", p, ports)
		}
		seen[p] = true
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d not bindable: %v", p, err)
		}
		_ = l.Close()
	}
}

func TestFreePortParallelTests(t *testing.T) {
	// Tracks the ports each running subtest holds; a reservation is released
	// when its test ends, so only overlapping holders would be a bug.
	var mu sync.Mutex
	owner := make(map[int]string)
	for i := range 8 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			ports := FreePorts(t, 10)
			mu.Lock()
			defer mu.Unlock()
			for _, p := range ports {
				if o, ok := owner[p]; ok {
					t.Fatalf("port %d held by both %s and %s", p, o, t.Name())
				}
				owner[p] = t.Name()
			}
			// Runs before the reservations are released (cleanups are LIFO).
			t.Cleanup(func() {
				mu.Lock()
				defer mu.Unlock()
				for _, p := range ports {
					delete(owner, p)
				}
			})
		})
	}
}

func TestFreePortsBadInput(t *testing.T) {
	for _, n := range []int{0, -3} {
		if failed, msg := newFakeTB(t).run(func(tb testing.TB) { FreePorts(tb, n) }); !failed {
			t.Errorf("FreePorts(%d) did not fail the test", n)
		} else {
			t.Logf("FreePorts(%d): %s", n, msg)
		}
	}
}

// envPortHelper makes the test binary act as another test process holding
// port reservations.
const envPortHelper = "PGHA_TESTUTIL_PORT_HELPER"

func TestPortHelperProcess(t *testing.T) {
	if os.Getenv(envPortHelper) == "" {
		return // only meaningful as the child of TestFreePortAcrossProcesses
	}
	fmt.Println(strings.Trim(fmt.Sprint(FreePorts(t, 5)), "[]"))
	// Hold the reservations until the parent closes our stdin.
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
}

func TestFreePortAcrossProcesses(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestPortHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envPortHelper+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(30 * time.Second):
		t.Fatal("helper process reported no ports")
	}
	fields := strings.Fields(line)
	if len(fields) != 5 {
		t.Fatalf("helper process printed %q, want 5 ports", line)
	}
	for _, f := range fields {
		port, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("helper process printed %q: %v", line, err)
		}
		// The only candidate is the port the other process holds.
		if got, lock, err := reservePort(port, port); err == nil {
			_ = lock.Close()
			t.Fatalf("reserved port %d while another process holds it", got)
		}
	}
}
