package haproxycfg

import (
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by every error about an input that cannot be put
// into a configuration.
var ErrInvalid = errors.New("haproxycfg: invalid input")

// FieldError reports an invalid input value. Member is empty for options.
type FieldError struct {
	// Member is the member (server) name the value belongs to, "" for options.
	Member string
	// Field names the offending field, for example "host" or "CheckCAFile".
	Field string
	// Reason says what is wrong.
	Reason string
}

// Error names the member and field and says what is wrong.
func (e *FieldError) Error() string {
	if e.Member != "" {
		return fmt.Sprintf("haproxycfg: member %s: field %s: %s", quoteShort(e.Member), e.Field, e.Reason)
	}
	return fmt.Sprintf("haproxycfg: option %s: %s", e.Field, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func fieldErr(member, field, format string, args ...any) *FieldError {
	return &FieldError{Member: member, Field: field, Reason: fmt.Sprintf(format, args...)}
}

// quoteShort quotes s for an error message, truncated so hostile values
// cannot flood logs.
func quoteShort(s string) string {
	const max = 64
	if len(s) > max {
		return fmt.Sprintf("%q...", s[:max])
	}
	return fmt.Sprintf("%q", s)
}
