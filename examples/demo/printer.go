package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// printer writes timestamped progress lines.
type printer struct {
	mu sync.Mutex
	w  io.Writer
	t0 time.Time
}

func newPrinter(w io.Writer) *printer { return &printer{w: w, t0: time.Now()} }

// say prints one line with the wall-clock time and the seconds since the
// start.
func (p *printer) say(format string, args ...any) {
	p.line(time.Now(), fmt.Sprintf(format, args...))
}

func (p *printer) line(at time.Time, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%s [%6.1fs] %s\n", at.Format("15:04:05.000"), at.Sub(p.t0).Seconds(), msg)
}

// raw prints text as it is (tables).
func (p *printer) raw(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	io.WriteString(p.w, s)
}

// logger returns an slog.Logger printing through p (the orchestration's
// progress).
func (p *printer) logger() *slog.Logger { return slog.New(&printHandler{p: p}) }

// printHandler is a minimal slog.Handler: "msg key=value ...".
type printHandler struct {
	p     *printer
	attrs []slog.Attr
}

func (h *printHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *printHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(strings.TrimPrefix(r.Message, "localcluster: "))
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value.Any())
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	h.p.line(r.Time, b.String())
	return nil
}

func (h *printHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &printHandler{p: h.p, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *printHandler) WithGroup(string) slog.Handler { return h }
