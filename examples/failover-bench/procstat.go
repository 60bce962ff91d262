package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// userHZ is the unit of the utime and stime fields of /proc/<pid>/stat.
// Linux exports them in USER_HZ, which is 100 on every architecture it
// supports (sysconf(_SC_CLK_TCK)), whatever the kernel's own HZ.
const userHZ = 100

// errBadProc reports a /proc file that could not be parsed.
var errBadProc = errors.New("unexpected /proc format")

// rssBytes returns VmRSS of a process from /proc/<pid>/status.
func rssBytes(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read status of pid %d: %w", pid, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest) // "12345 kB"
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("pid %d: VmRSS %q: %w", pid, rest, errBadProc)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("pid %d: VmRSS %q: %w", pid, rest, errBadProc)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("pid %d: no VmRSS line: %w", pid, errBadProc)
}

// cpuSeconds returns utime+stime of a process from /proc/<pid>/stat: the
// CPU time of the process itself, not of its children (PostgreSQL).
func cpuSeconds(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read stat of pid %d: %w", pid, err)
	}
	// The command name (field 2) is in parentheses and may contain spaces
	// and ')': the fields to parse follow the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("pid %d: stat: %w", pid, errBadProc)
	}
	f := strings.Fields(string(data[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("pid %d: stat has %d fields: %w", pid, len(f)+2, errBadProc)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("pid %d: utime %q stime %q: %w", pid, f[11], f[12], errBadProc)
	}
	return float64(utime+stime) / userHZ, nil
}

// Machine describes the host the figures came from.
type Machine struct {
	CPUs     int     `json:"cpus"`
	CPUModel string  `json:"cpu_model,omitempty"`
	MemoryGB float64 `json:"memory_gib"`
	Kernel   string  `json:"kernel"`
	Go       string  `json:"go"`
}

// machine reads the host facts from /proc; what cannot be read stays empty.
func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if f := strings.Fields(rest); len(f) == 2 {
					if kb, err := strconv.ParseFloat(f[0], 64); err == nil {
						m.MemoryGB = kb / (1024 * 1024)
					}
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}
