package main

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/examples/internal/listing"
)

// listOptions are the flags of list and topology.
type listOptions struct {
	extended, timestamp, w bool
	watch                  float64
	format                 string
}

// outputMembers prints the member list of c in format f, with the service
// information under pretty tables.
func (a *App) outputMembers(c *dcs.Cluster, extended bool, f string) error {
	return listing.WriteMembers(a.Out, a.Scope, c, extended, f)
}

func (a *App) cmdList(ctx context.Context, clusters []string, o listOptions) error {
	for _, name := range clusters {
		if err := a.checkCluster(name); err != nil {
			return err
		}
	}
	f := o.format
	if a.JSON && f == fmtPretty {
		f = fmtJSON
	}
	if f != fmtTopology {
		var err error
		if f, err = checkFormat(f); err != nil {
			return err
		}
	}
	interval, err := watchInterval(o.w, o.watch)
	if err != nil {
		return err
	}
	return a.watching(ctx, interval, true, func() error {
		if o.timestamp {
			fmt.Fprintln(a.Out, a.Now().Format("2006-01-02 15:04:05"))
		}
		c, _, err := a.cluster(ctx)
		if err != nil {
			return err
		}
		return a.outputMembers(c, o.extended, f)
	})
}

// watchInterval is patronictl's -W (every 2 s) and -w N (every N
// seconds); 0 means once.
func watchInterval(w bool, seconds float64) (time.Duration, error) {
	switch {
	case seconds < 0 || math.IsNaN(seconds) || math.IsInf(seconds, 0):
		return 0, fmt.Errorf("%w: -w %v: want a positive number of seconds", ErrUsage, seconds)
	case seconds > 0:
		return time.Duration(seconds * float64(time.Second)), nil
	case w:
		return 2 * time.Second, nil
	}
	return 0, nil
}

// watching runs show once, or every interval until ctx ends (then it
// returns nil: ^C ends a watch normally). With clear, the screen is
// cleared before each round when Out is a terminal.
func (a *App) watching(ctx context.Context, interval time.Duration, clear bool, show func() error) error {
	for {
		if interval > 0 && clear && a.terminal() {
			fmt.Fprint(a.Out, "\033[H\033[2J")
		}
		if err := show(); err != nil {
			return err
		}
		if interval <= 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

func (a *App) cmdHistory(ctx context.Context, format string) error {
	if a.JSON && format == fmtPretty {
		format = fmtJSON
	}
	f, err := checkFormat(format)
	if err != nil {
		return err
	}
	c, _, err := a.cluster(ctx)
	if err != nil {
		return err
	}
	o := &listing.Table{Columns: []string{"TL", "LSN", "Reason", "Timestamp", "New Leader"}, Right: map[int]bool{0: true, 1: true}}
	for _, h := range c.History {
		o.Rows = append(o.Rows, []any{h.Timeline, h.LSN, h.Reason, h.Timestamp, h.NewLeader})
	}
	return o.Write(a.Out, f, "\t")
}
