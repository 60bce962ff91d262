package fence

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// The agent talks to the keeper over the keeper's stdin, one message per
// line, each written with a single write(2) far below PIPE_BUF so that it
// arrives whole. Times are CLOCK_BOOTTIME readings in nanoseconds, a clock
// the two processes share:
//
//	A <stamp> <pid> <starttime> <deadline>   arm
//	D <stamp>                                disarm
//
// An arm of pid 0 (start 0) arms the data directory the keeper was
// started with: whatever postmaster runs there at the deadline.
//
// stamp is the agent's clock reading when it made the message.

type msgKind byte

const (
	msgArm    msgKind = 'A'
	msgDisarm msgKind = 'D'
)

// message is one decoded line.
type message struct {
	kind     msgKind
	stamp    int64
	target   Process // msgArm only
	deadline int64   // msgArm only
}

// maxLine bounds a message line; longer input is garbage.
const maxLine = 128

// appendMessage appends the encoded line of m to b.
func appendMessage(b []byte, m message) []byte {
	b = append(b, byte(m.kind), ' ')
	b = strconv.AppendInt(b, m.stamp, 10)
	if m.kind == msgArm {
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(m.target.PID), 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, m.target.StartTime, 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, m.deadline, 10)
	}
	return append(b, '\n')
}

var errBadMessage = errors.New("fence: malformed message")

// parseMessage decodes one line, without its newline.
func parseMessage(line []byte) (message, error) {
	f := bytes.Fields(line)
	if len(f) == 0 || len(f[0]) != 1 {
		return message{}, fmt.Errorf("%w: %q", errBadMessage, line)
	}
	var m message
	var err error
	switch msgKind(f[0][0]) {
	case msgDisarm:
		if len(f) != 2 {
			return message{}, fmt.Errorf("%w: %q", errBadMessage, line)
		}
		m.kind = msgDisarm
		m.stamp, err = strconv.ParseInt(string(f[1]), 10, 64)
	case msgArm:
		if len(f) != 5 {
			return message{}, fmt.Errorf("%w: %q", errBadMessage, line)
		}
		m.kind = msgArm
		var pid int64
		var errs [4]error
		m.stamp, errs[0] = strconv.ParseInt(string(f[1]), 10, 64)
		pid, errs[1] = strconv.ParseInt(string(f[2]), 10, 32)
		m.target.StartTime, errs[2] = strconv.ParseUint(string(f[3]), 10, 64)
		m.deadline, errs[3] = strconv.ParseInt(string(f[4]), 10, 64)
		m.target.PID = int(pid)
		err = errors.Join(errs[:]...)
		if err == nil && (pid < 0 || pid == 0 && m.target.StartTime != 0) {
			err = errors.New("pid must be positive, or 0 with start 0 (the data directory)")
		}
	default:
		return message{}, fmt.Errorf("%w: unknown kind %q", errBadMessage, f[0])
	}
	if err != nil {
		return message{}, fmt.Errorf("%w: %q: %v", errBadMessage, line, err)
	}
	return m, nil
}

// armState is what the keeper has armed. Its two methods are the whole
// rule; the keeper loop adds only I/O.
type armState struct {
	armed    bool
	target   Process
	deadline int64 // CLOCK_BOOTTIME, ns
}

// due reports whether the armed deadline has passed at clock reading t:
// the target must be stopped.
func (s armState) due(t int64) bool { return s.armed && t >= s.deadline }

// apply returns the state after m, and whether m names a target other than
// the armed one (which the keeper must then verify and open before arming
// it). Callers stop the target first if s.due(m.stamp): a message the agent
// sent after the deadline comes too late to change it.
//
//   - Disarm: nothing is armed.
//   - Arm of the armed process: the deadline only moves later. Within one
//     arming the agent's deadlines only move forward; a smaller one can only
//     be a stale message and must not stop a healthy primary early.
//   - Arm of another process (or when nothing is armed): that process and
//     that deadline, whatever it is.
func (s armState) apply(m message) (next armState, newTarget bool) {
	switch m.kind {
	case msgArm:
		if s.armed && s.target == m.target {
			s.deadline = max(s.deadline, m.deadline)
			return s, false
		}
		return armState{armed: true, target: m.target, deadline: m.deadline}, true
	default:
		return armState{}, false
	}
}

// procStat is the part of /proc/<pid>/stat the package uses.
type procStat struct {
	state     byte   // field 3: R, S, D, Z, T, X, ...
	ppid      int    // field 4
	startTime uint64 // field 22, clock ticks since boot
}

// exited reports whether the process has exited (a zombie waiting for its
// parent, or dead): it takes no more writes.
func (s procStat) exited() bool { return s.state == 'Z' || s.state == 'X' || s.state == 'x' }

// parseStat decodes /proc/<pid>/stat. The command name (field 2) is in
// parentheses and may itself contain spaces and parentheses, so fields are
// counted from the last ')'.
func parseStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("fence: malformed stat: no ')'")
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("fence: malformed stat: %d fields after the command name", len(f))
	}
	var s procStat
	if len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("fence: malformed stat: state %q", f[0])
	}
	s.state = f[0][0]
	ppid, err := strconv.Atoi(string(f[1]))
	if err != nil {
		return procStat{}, fmt.Errorf("fence: malformed stat: ppid: %w", err)
	}
	s.ppid = ppid
	s.startTime, err = strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("fence: malformed stat: start time: %w", err)
	}
	return s, nil
}

// parsePidFile returns the pid on the first line of postmaster.pid.
func parsePidFile(b []byte) (int, error) {
	line, _, _ := bytes.Cut(b, []byte{'\n'})
	pid, err := strconv.Atoi(string(bytes.TrimSpace(line)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%w: first line %q", ErrBadPidFile, truncate(line, 40))
	}
	return pid, nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
