package pg

import (
	"fmt"
	"strings"
)

// String renders the synchronous_standby_names value, e.g.
// `FIRST 1 ("node2","node3")`; empty when Names is empty.
func (s SyncStandbys) String() string {
	if len(s.Names) == 0 {
		return ""
	}
	m := s.Method
	if m == "" {
		m = SyncFirst
	}
	q := make([]string, len(s.Names))
	for i, n := range s.Names {
		q[i] = `"` + strings.ReplaceAll(n, `"`, `""`) + `"` // an SQL identifier
	}
	return fmt.Sprintf("%s %d (%s)", m, s.Num, strings.Join(q, ","))
}

// Validate reports why s cannot be set as synchronous_standby_names
// (ErrInvalidConfig), or nil.
func (s SyncStandbys) Validate() error {
	if len(s.Names) == 0 {
		return nil
	}
	if s.Method != "" && s.Method != SyncFirst && s.Method != SyncAny {
		return fmt.Errorf("%w: SyncStandbys.Method must be FIRST or ANY, got %q", ErrInvalidConfig, s.Method)
	}
	if s.Num < 1 || s.Num > len(s.Names) {
		return fmt.Errorf("%w: SyncStandbys.Num must be 1..%d, got %d", ErrInvalidConfig, len(s.Names), s.Num)
	}
	for i, n := range s.Names {
		if n == "" || len(n) > maxIdentifierLen || strings.ContainsFunc(n, isControl) {
			return fmt.Errorf("%w: SyncStandbys.Names[%d] %q must be 1 to 63 printable bytes", ErrInvalidConfig, i, n)
		}
	}
	return nil
}

// isControl matches the control characters that would break the line-based
// configuration files a name ends up in.
func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
