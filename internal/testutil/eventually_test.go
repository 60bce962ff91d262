package testutil

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestEventually(t *testing.T) {
	tests := []struct {
		name     string
		okAfter  int // calls before cond succeeds; -1 never
		wantFail bool
	}{
		{"at once", 0, false},
		{"after a few polls", 3, false},
		{"never", -1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			cond := func() error {
				calls++
				if tt.okAfter >= 0 && calls > tt.okAfter {
					return nil
				}
				return errors.New("not yet")
			}
			failed, msg := newFakeTB(t).run(func(tb testing.TB) {
				Eventually(tb, 200*time.Millisecond, cond, "thing %d", 7)
			})
			if failed != tt.wantFail {
				t.Fatalf("failed = %v (%s), want %v", failed, msg, tt.wantFail)
			}
			if failed && (!strings.Contains(msg, "thing 7") || !strings.Contains(msg, "not yet")) {
				t.Fatalf("message %q lacks the formatted msg or the last error", msg)
			}
		})
	}
}
