package fence

import (
	"errors"
	"math"
	"testing"
)

// The keeper's rule, one message at a time.
func TestArmStateApply(t *testing.T) {
	p := Process{PID: 10, StartTime: 100}
	q := Process{PID: 11, StartTime: 200}
	armed := armState{armed: true, target: p, deadline: 1000}
	arm := func(stamp int64, target Process, deadline int64) message {
		return message{kind: msgArm, stamp: stamp, target: target, deadline: deadline}
	}
	for _, tc := range []struct {
		name      string
		s         armState
		m         message
		wantDue   bool // the armed target is stopped before m applies
		want      armState
		newTarget bool
	}{
		{"first arm", armState{}, arm(0, p, 1000), false, armed, true},
		{"re-arm later", armed, arm(500, p, 2000), false, armState{true, p, 2000}, false},
		{"re-arm earlier is ignored", armed, arm(500, p, 800), false, armed, false},
		{"re-arm same deadline", armed, arm(500, p, 1000), false, armed, false},
		{"re-arm sent after the deadline comes too late", armed, arm(1000, p, 2000), true, armState{true, p, 2000}, true},
		{"another process: any deadline", armed, arm(500, q, 600), false, armState{true, q, 600}, true},
		{"same pid, other start time, is another process", armed, arm(500, Process{PID: 10, StartTime: 101}, 600),
			false, armState{true, Process{PID: 10, StartTime: 101}, 600}, true},
		{"disarm", armed, message{kind: msgDisarm, stamp: 500}, false, armState{}, false},
		{"disarm after the deadline", armed, message{kind: msgDisarm, stamp: 1500}, true, armState{}, false},
		{"disarm unarmed", armState{}, message{kind: msgDisarm, stamp: 1500}, false, armState{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s
			due := s.due(tc.m.stamp)
			if due != tc.wantDue {
				t.Errorf("due(%d) = %v, want %v", tc.m.stamp, due, tc.wantDue)
			}
			if due {
				s = armState{} // the keeper fires, which disarms
			}
			got, newTarget := s.apply(tc.m)
			if got != tc.want || newTarget != tc.newTarget {
				t.Errorf("apply = %+v, %v; want %+v, %v", got, newTarget, tc.want, tc.newTarget)
			}
		})
	}
}

func TestArmStateDue(t *testing.T) {
	s := armState{armed: true, target: Process{PID: 1, StartTime: 1}, deadline: 1000}
	if s.due(999) || !s.due(1000) || !s.due(1001) {
		t.Error("due must be true exactly from the deadline on")
	}
	if (armState{deadline: 0}).due(1) {
		t.Error("nothing armed is never due")
	}
}

func TestMessageRoundTrip(t *testing.T) {
	for _, m := range []message{
		{kind: msgArm, stamp: 123456789, target: Process{PID: 4194304, StartTime: math.MaxUint64}, deadline: math.MaxInt64},
		{kind: msgArm, stamp: 1, target: Process{PID: 1, StartTime: 0}, deadline: math.MinInt64},
		{kind: msgArm, stamp: 7, target: Process{}, deadline: 9}, // the data directory
		{kind: msgDisarm, stamp: 987654321},
	} {
		b := appendMessage(nil, m)
		if len(b) > maxLine {
			t.Errorf("%q longer than maxLine", b)
		}
		got, err := parseMessage(b[:len(b)-1])
		if err != nil || got != m {
			t.Errorf("parseMessage(%q) = %+v, %v; want %+v", b, got, err, m)
		}
	}
	for _, bad := range []string{"", "A", "D", "D x", "D 1 2", "A 1 2 3", "A 1 0 3 4", "A 1 -5 3 4", "A 1 -5 0 4",
		"A 1 2 -3 4", "A 1 99999999999 3 4", "X 1", "AA 1 2 3 4", "A 1 2 3 4 5"} {
		if _, err := parseMessage([]byte(bad)); !errors.Is(err, errBadMessage) {
			t.Errorf("parseMessage(%q) = %v, want errBadMessage", bad, err)
		}
	}
}

func FuzzParseMessage(f *testing.F) {
	f.Add([]byte("A 1 2 3 4"))
	f.Add([]byte("D 5"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMessage(b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to something that decodes the same.
		enc := appendMessage(nil, m)
		m2, err := parseMessage(enc[:len(enc)-1])
		if err != nil || m2 != m {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", b, m, enc, m2, err)
		}
	})
}

func TestParseStat(t *testing.T) {
	// Field 2 may contain spaces and parentheses; field 22 is the start time.
	line := "4242 (a) (b c)) S 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 12345 67 18446744073709551615\n"
	s, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if s != (procStat{state: 'S', ppid: 17, startTime: 987654}) {
		t.Errorf("parseStat = %+v", s)
	}
	for _, bad := range []string{"", "1 (x", "1 (x) S 2", "1 (x) SS 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) accepted", bad)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1 (init) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 99 1000 10"))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = parseStat(b) })
}

func TestParsePidFile(t *testing.T) {
	const pgFile = "4242\n/var/lib/postgresql/15/main\n1700000000\n5432\n/var/run/postgresql\n*\n  5432001         0\nready   \n"
	if pid, err := parsePidFile([]byte(pgFile)); err != nil || pid != 4242 {
		t.Errorf("parsePidFile(real file) = %d, %v", pid, err)
	}
	for _, bad := range []string{"", "\n", "abc\n", "-1\n", "0\n", "12abc\n", "99999999999999999999\n"} {
		if _, err := parsePidFile([]byte(bad)); !errors.Is(err, ErrBadPidFile) {
			t.Errorf("parsePidFile(%q) = %v, want ErrBadPidFile", bad, err)
		}
	}
}

func FuzzParsePidFile(f *testing.F) {
	f.Add([]byte("4242\n/data\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if pid, err := parsePidFile(b); err == nil && pid <= 0 {
			t.Fatalf("accepted pid %d", pid)
		}
	})
}
