package fence

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgha/pgha/internal/testutil"
)

// (a) While the agent re-arms before each deadline nothing happens; once it
// stops, the target gets SIGQUIT, never before the last armed deadline.
func TestRearmedUntilItStops(t *testing.T) {
	k, _ := startKeeper(t, Options{})
	tg := startTarget(t, false)
	const lead = time.Second
	var bound int64
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	arms := 0
	for end := time.Now().Add(3 * lead); time.Now().Before(end); <-tick.C {
		bound = mustArmIn(t, k, tg.proc, lead)
		arms++
		if q, ok := tg.quit(); ok {
			t.Fatalf("target stopped while re-armed every 100 ms (deadline %v ahead); %v before the last deadline",
				lead, time.Duration(bound-q))
		}
	}
	quit := tg.waitQuit(t)
	assertNotBefore(t, quit, bound)
	t.Logf("re-armed %d times over %v; after the last, SIGQUIT came %v after its deadline",
		arms, 3*lead, time.Duration(quit-bound))
}

// (b) The agent is SIGKILLed (its whole process group) after arming: the
// keeper outlives it, stops the target at the deadline, then exits.
func TestAgentKilled(t *testing.T) {
	tg := startTarget(t, false)
	a := startAgent(t, tg, 2*time.Second)
	a.signalGroup(t, syscall.SIGKILL)
	<-a.done
	if now := boottime(); now >= a.bound {
		t.Logf("note: the agent died only %v after the deadline", time.Duration(now-a.bound))
	}
	quit := tg.waitQuit(t)
	assertNotBefore(t, quit, a.bound)
	waitExited(t, a.keeper) // armed and orphaned: it fired, so it leaves
	t.Logf("agent killed; target stopped %v after the deadline", time.Duration(quit-a.bound))
}

// (c) The agent is SIGSTOPped (its whole process group): the keeper, in a
// session of its own, still runs and stops the target at the deadline. It
// stays while the frozen agent's pipe is open, and leaves once the agent
// dies.
func TestAgentStopped(t *testing.T) {
	tg := startTarget(t, false)
	a := startAgent(t, tg, 2*time.Second)
	a.signalGroup(t, syscall.SIGSTOP)
	quit := tg.waitQuit(t)
	assertNotBefore(t, quit, a.bound)
	t.Logf("agent stopped; target stopped %v after the deadline", time.Duration(quit-a.bound))
	if !a.keeper.Running() {
		st, err := readStat(a.keeper.PID)
		agent := "running (stopped)"
		select {
		case <-a.done:
			agent = "exited: " + a.cmd.ProcessState.String()
		default:
		}
		t.Fatalf("keeper %v gone (stat %+v, %v) while its agent still holds the pipe; agent %s",
			a.keeper, st, err, agent)
	}
	// SIGKILL ends a stopped process too; no SIGCONT follows, because the
	// group may already be reaped by then (ESRCH failed CI once).
	a.signalGroup(t, syscall.SIGKILL)
	waitExited(t, a.keeper)
}

// (d) Disarm: the target is never stopped, and the keeper keeps running.
// A second keeper with a later deadline shows that the first deadline
// passed.
func TestDisarm(t *testing.T) {
	k, _ := startKeeper(t, Options{})
	tg := startTarget(t, false)
	bound := mustArmIn(t, k, tg.proc, 300*time.Millisecond)
	if err := k.Disarm(); err != nil {
		t.Fatalf("Disarm: %v", err)
	}
	witness(t, bound)
	if q, ok := tg.quit(); ok {
		t.Fatalf("disarmed target stopped (%v after the deadline it had)", time.Duration(q-bound))
	}
	if !k.Alive() {
		t.Fatal("keeper not alive after disarm")
	}
}

// witness waits until a separate keeper has stopped a target of its own
// with a deadline after bound: proof that keepers ran past bound.
func witness(t testing.TB, bound int64) {
	t.Helper()
	k, _ := startKeeper(t, Options{})
	tg := startTarget(t, false)
	d := time.Duration(bound-boottime()) + 300*time.Millisecond
	w := mustArmIn(t, k, tg.proc, max(d, 300*time.Millisecond))
	assertNotBefore(t, tg.waitQuit(t), w)
}

// After firing, Disarm does no harm and the keeper serves new armings.
func TestDisarmAfterFire(t *testing.T) {
	k, _ := startKeeper(t, Options{})
	tg := startTarget(t, false)
	bound := mustArmIn(t, k, tg.proc, 200*time.Millisecond)
	assertNotBefore(t, tg.waitQuit(t), bound)
	if err := k.Disarm(); err != nil {
		t.Fatalf("Disarm after fire: %v", err)
	}
	tg2 := startTarget(t, false)
	bound2 := mustArmIn(t, k, tg2.proc, 200*time.Millisecond)
	assertNotBefore(t, tg2.waitQuit(t), bound2)
}

// (d) Close disarms and ends the keeper; the Keeper is unusable afterwards.
func TestClose(t *testing.T) {
	k, _ := startKeeper(t, Options{})
	tg := startTarget(t, false)
	bound := mustArmIn(t, k, tg.proc, 300*time.Millisecond)
	kp, err := Identify(k.PID())
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if kp.Running() || k.Alive() {
		t.Fatal("keeper still running after Close returned")
	}
	if err := k.Arm(tg.proc, time.Now().Add(time.Hour)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Arm after Close = %v, want ErrClosed", err)
	}
	if err := k.Disarm(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Disarm after Close = %v, want ErrClosed", err)
	}
	if err := k.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	witness(t, bound)
	if _, ok := tg.quit(); ok {
		t.Fatal("target stopped after Close")
	}
}

// (d) A keeper whose agent dies with nothing armed exits at once.
func TestUnarmedKeeperExitsWithAgent(t *testing.T) {
	a := startAgent(t, nil, 0)
	if !a.keeper.Running() {
		t.Fatal("keeper not running")
	}
	a.signalGroup(t, syscall.SIGKILL)
	waitExited(t, a.keeper)
}

// (e) A Process whose start time does not match (its pid was reused) is
// never signalled: Arm refuses it, and so does the keeper when told
// directly.
func TestWrongStartTimeNeverSignalled(t *testing.T) {
	k, logPath := startKeeper(t, Options{})
	tg := startTarget(t, false)
	wrong := Process{PID: tg.proc.PID, StartTime: tg.proc.StartTime + 1}
	if err := k.Arm(wrong, time.Now().Add(200*time.Millisecond)); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Arm(wrong start time) = %v, want ErrNotRunning", err)
	}
	// Past Arm's own check, straight to the keeper.
	bound := boottime() + int64(200*time.Millisecond)
	k.mu.Lock()
	err := k.send(message{kind: msgArm, stamp: boottime(), target: wrong, deadline: bound}, false)
	k.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	waitLog(t, logPath, "not arming")
	witness(t, bound)
	if _, ok := tg.quit(); ok {
		t.Fatal("a process with another start time was signalled")
	}
}

// An earlier deadline for the armed process is ignored: deadlines only
// move later within one arming.
func TestEarlierDeadlineIgnored(t *testing.T) {
	k, _ := startKeeper(t, Options{})
	tg := startTarget(t, false)
	later := mustArmIn(t, k, tg.proc, 5*time.Second)
	earlier := mustArmIn(t, k, tg.proc, 200*time.Millisecond)
	witness(t, earlier)
	if q, ok := tg.quit(); ok && q < later {
		t.Fatalf("stopped at the earlier deadline (%v before the later one)", time.Duration(later-q))
	}
	// Arming another process does set an earlier deadline.
	tg2 := startTarget(t, false)
	bound := mustArmIn(t, k, tg2.proc, 200*time.Millisecond)
	assertNotBefore(t, tg2.waitQuit(t), bound)
	if _, ok := tg.quit(); ok {
		t.Fatal("the previous target was stopped after the keeper was re-targeted")
	}
}

// A keeper that dies is replaced by the next Arm.
func TestKeeperRestartedByArm(t *testing.T) {
	k, _ := startKeeper(t, Options{})
	tg := startTarget(t, false)
	mustArmIn(t, k, tg.proc, time.Hour)
	old, err := Identify(k.PID())
	if err != nil {
		t.Fatal(err)
	}
	killProcess(t, old)
	testutil.Eventually(t, waitTimeout, func() error {
		if k.Alive() {
			return errors.New("still alive")
		}
		return nil
	}, "Keeper notices its process died")
	bound := mustArmIn(t, k, tg.proc, 200*time.Millisecond)
	if k.PID() == old.PID || !k.Alive() {
		t.Fatalf("no new keeper: pid %d (old %d), alive %v", k.PID(), old.PID, k.Alive())
	}
	assertNotBefore(t, tg.waitQuit(t), bound)
}

// A keeper that is alive but stopped (it cannot fence) is noticed by the
// messages it leaves unread, and replaced.
func TestStoppedKeeperReplaced(t *testing.T) {
	k, _ := startKeeper(t, Options{})
	k.mu.Lock()
	k.stallAfter = 500 * time.Millisecond
	k.mu.Unlock()
	tg := startTarget(t, false)
	mustArmIn(t, k, tg.proc, time.Hour)
	old, err := Identify(k.PID())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killProcess(t, old) })
	if err := syscall.Kill(old.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, waitTimeout, func() error {
		mustArmIn(t, k, tg.proc, time.Hour)
		if k.PID() == old.PID {
			return errors.New("same keeper")
		}
		return nil
	}, "a stopped keeper is replaced")
	waitExited(t, old)
	// The new keeper holds the one-hour arming: it works.
	if err := k.Disarm(); err != nil {
		t.Fatal(err)
	}
	bound := mustArmIn(t, k, tg.proc, 200*time.Millisecond)
	assertNotBefore(t, tg.waitQuit(t), bound)
}

// A postmaster that does not exit after SIGQUIT gets SIGKILL after
// KillAfter, and so do its children.
func TestEscalatesToSIGKILL(t *testing.T) {
	k, _ := startKeeper(t, Options{KillAfter: 300 * time.Millisecond})
	tg := startTarget(t, true)
	child, err := strconv.Atoi(tg.waitFile(t, "child"))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := Identify(child)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killProcess(t, cp) })
	bound := mustArmIn(t, k, tg.proc, 200*time.Millisecond)
	quit := tg.waitQuit(t)
	assertNotBefore(t, quit, bound)
	select {
	case <-tg.done:
	case <-time.After(waitTimeout):
		t.Fatal("stubborn target not killed")
	}
	ws := tg.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("target ended with %v, want SIGKILL", tg.cmd.ProcessState)
	}
	waitExited(t, cp)
}

// The keeper's cost: memory and CPU while re-armed every 100 ms, and the
// agent's cost of one Arm. Figures only.
func TestFootprint(t *testing.T) {
	k, _ := startKeeper(t, Options{})
	tg := startTarget(t, false)
	pid := k.PID()
	cpu0 := cpuTime(t, pid)
	var armTotal, armMax time.Duration
	arms := 0
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for end := start.Add(3 * time.Second); time.Now().Before(end); <-tick.C {
		t0 := time.Now()
		mustArmIn(t, k, tg.proc, time.Second)
		d := time.Since(t0)
		armTotal += d
		armMax = max(armMax, d)
		arms++
	}
	elapsed := time.Since(start)
	cpu := cpuTime(t, pid) - cpu0
	st := procStatus(t, pid)
	t.Logf("keeper pid %d over %v, %d re-arms: CPU %v (%.3f%% of a core); memory: RssAnon %s (private), RssFile %s (code, shared with the agent), VmRSS %s, VmHWM %s; threads %s; Arm in the agent (wall): mean %v, max %v",
		pid, elapsed.Round(time.Millisecond), arms, cpu, 100*float64(cpu)/float64(elapsed),
		st["RssAnon"], st["RssFile"], st["VmRSS"], st["VmHWM"], st["Threads"], armTotal/time.Duration(arms), armMax)
	if _, ok := tg.quit(); ok {
		t.Fatal("target stopped while re-armed")
	}
}

// cpuTime sums the CPU time of pid's threads from their schedstat
// (nanoseconds, unlike the clock ticks of stat).
func cpuTime(t testing.TB, pid int) time.Duration {
	t.Helper()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	var sum time.Duration
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, task.Name()))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			sum += time.Duration(n)
		}
	}
	return sum
}

// procStatus reads /proc/<pid>/status.
func procStatus(t testing.TB, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return m
}

// BenchmarkArm measures re-arming the armed process: the per-keepalive
// cost in the agent.
func BenchmarkArm(b *testing.B) {
	k, _ := startKeeper(b, Options{})
	tg := startTarget(b, false)
	for b.Loop() {
		if err := k.Arm(tg.proc, time.Now().Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
}

// Without pidfds (kernels before 5.3, or refused by seccomp) the start
// time is checked before each signal, and exit is polled.
func TestHandleWithoutPidfd(t *testing.T) {
	tg := startTarget(t, false)
	wrong := handle{p: Process{PID: tg.proc.PID, StartTime: tg.proc.StartTime + 1}, pidfd: -1}
	if err := wrong.signal(syscall.SIGQUIT); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("signal with a wrong start time = %v, want ESRCH", err)
	}
	if !wrong.waitExit(0) {
		t.Fatal("a process with another start time counts as exited")
	}
	h := handle{p: tg.proc, pidfd: -1}
	if h.waitExit(10 * time.Millisecond) {
		t.Fatal("running target reported exited")
	}
	if err := h.signal(syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	tg.waitQuit(t)
	if !h.waitExit(waitTimeout) {
		t.Fatal("target did not exit")
	}
}
