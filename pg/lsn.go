package pg

import (
	"fmt"
	"strconv"
	"strings"
)

// LSN is a PostgreSQL write-ahead log location (pg_lsn): a byte position in
// the WAL stream. Its text form is two hexadecimal halves, "0/3000060".
type LSN uint64

// ParseLSN parses the text form "X/Y" of a pg_lsn.
func ParseLSN(s string) (LSN, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok || hi == "" || lo == "" || len(hi) > 8 || len(lo) > 8 {
		return 0, fmt.Errorf("pg: invalid LSN %q: want X/Y with hexadecimal halves", s)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("pg: invalid LSN %q: %w", s, err)
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("pg: invalid LSN %q: %w", s, err)
	}
	return LSN(h<<32 | l), nil
}

// String formats the LSN the way PostgreSQL does, e.g. "0/3000060".
func (l LSN) String() string {
	return fmt.Sprintf("%X/%X", uint64(l)>>32, uint64(l)&0xFFFFFFFF)
}

// Int64 returns the LSN as a byte position, the integer form Patroni
// publishes in member keys (xlog_location, receive_lsn, replay_lsn).
func (l LSN) Int64() int64 { return int64(l) }
