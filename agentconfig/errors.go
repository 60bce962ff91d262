package agentconfig

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrInvalid is wrapped by every error about the configuration's content:
// a wrong type, a bad value, a missing required field.
var ErrInvalid = errors.New("config: invalid configuration")

// FieldError is one problem with one field.
type FieldError struct {
	// Path is the dotted path of the field, e.g. "postgresql.data_dir".
	Path string
	// Where says where the value came from: "line 12", an environment
	// variable name, or "" when the field was not set at all.
	Where string
	// Msg says what is wrong.
	Msg string
}

// Error says "config: <path> (<where>): <what is wrong>".
func (e *FieldError) Error() string {
	if e.Where == "" {
		return fmt.Sprintf("config: %s: %s", e.Path, e.Msg)
	}
	return fmt.Sprintf("config: %s (%s): %s", e.Path, e.Where, e.Msg)
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// Warning is a key that was accepted but is not used: unknown, or a
// Patroni setting pgha does not support.
type Warning struct {
	// Path is the dotted path of the key.
	Path string
	// Where is "line N" or an environment variable name.
	Where string
	// Msg says why it is not used.
	Msg string
}

// String says "<path> (<where>): <why it is not used>".
func (w Warning) String() string {
	if w.Where == "" {
		return w.Path + ": " + w.Msg
	}
	return w.Path + " (" + w.Where + "): " + w.Msg
}

// joinPath appends key to a dotted path. Keys that are not plain names are
// quoted, so a hostile key cannot forge a path or a log line.
func joinPath(path, key string) string {
	if !plainKey(key) {
		key = strconv.Quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func indexPath(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func plainKey(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
		default:
			return false
		}
	}
	return true
}
