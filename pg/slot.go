package pg

import (
	"fmt"
	"strings"
)

// maxIdentifierLen is PostgreSQL's NAMEDATALEN-1.
const maxIdentifierLen = 63

// SlotName derives the physical replication slot name of a member the way
// Patroni does, so slots created by either agree: lower-case the name,
// replace '-' and '.' with '_', encode any other character outside
// [a-z0-9_] as "u" followed by its code point in four or more decimal
// digits, and truncate to 63 bytes.
func SlotName(member string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(member) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		case r == '-', r == '.':
			b.WriteByte('_')
		default:
			fmt.Fprintf(&b, "u%04d", r)
		}
	}
	s := b.String()
	if len(s) > maxIdentifierLen {
		s = s[:maxIdentifierLen]
	}
	return s
}

// ValidSlotName checks PostgreSQL's rule for replication slot names: 1 to
// 63 characters of [a-z0-9_]. The error wraps ErrInvalidConfig.
func ValidSlotName(name string) error {
	if name == "" || len(name) > maxIdentifierLen {
		return fmt.Errorf("%w: slot name %q must be 1 to 63 characters", ErrInvalidConfig, name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return fmt.Errorf("%w: slot name %q may contain only [a-z0-9_]", ErrInvalidConfig, name)
		}
	}
	return nil
}
