package etcd

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/zap"
)

// TestZapToSlog checks that the etcd client's zap logs reach the slog
// handler with their fields, one level lower, and that disabled levels are
// dropped.
func TestZapToSlog(t *testing.T) {
	var buf bytes.Buffer
	l := newZapLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	l.Named("etcd-client").With(zap.String("endpoint", "127.0.0.1:1")).Warn("retrying", zap.Int("attempt", 3), zap.Error(errTest))
	l.Info("chatty")
	l.Error("bad")
	got := buf.String()
	for _, want := range []string{
		`level=INFO msg=retrying logger=etcd-client attempt=3 endpoint=127.0.0.1:1 error=boom`,
		`level=WARN msg=bad`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("log output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "chatty") {
		t.Errorf("a debug-level entry was logged:\n%s", got)
	}
}

var errTest = errString("boom")

type errString string

func (e errString) Error() string { return string(e) }
