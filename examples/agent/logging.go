package main

import (
	"io"
	"log/slog"
	"strings"

	"github.com/pgha/pgha/agentconfig"
)

// logging is the agent's logger with a level that SIGHUP can change.
type logging struct {
	level  *slog.LevelVar
	logger *slog.Logger
	json   bool
	// out is where the log goes; the fence keeper process writes its own
	// lines there too.
	out io.Writer
}

// newLogging builds the logger that log.type and log.level ask for.
func newLogging(cfg *agentconfig.Config, w io.Writer) *logging {
	l := &logging{level: new(slog.LevelVar), json: strings.EqualFold(cfg.Log.Type, "json"), out: w}
	l.level.Set(cfg.LogLevel())
	opts := &slog.HandlerOptions{Level: l.level}
	if l.json {
		l.logger = slog.New(slog.NewJSONHandler(w, opts))
	} else {
		l.logger = slog.New(slog.NewTextHandler(w, opts))
	}
	return l
}
