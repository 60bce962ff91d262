package main

import (
	"context"
	"strconv"
)

// historyRow is one line of `history`, with patronictl's column names.
type historyRow struct {
	TL        int64  `json:"TL"`
	LSN       int64  `json:"LSN"`
	Reason    string `json:"Reason"`
	Timestamp string `json:"Timestamp"`
	NewLeader string `json:"New Leader"`
}

func (a *App) cmdHistory(ctx context.Context, args []string) error {
	fs := a.flags("history")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	c, _, err := a.cluster(ctx)
	if err != nil {
		return err
	}
	rows := make([]historyRow, 0, len(c.History))
	for _, h := range c.History {
		rows = append(rows, historyRow{TL: h.Timeline, LSN: h.LSN, Reason: h.Reason, Timestamp: h.Timestamp, NewLeader: h.NewLeader})
	}
	if a.JSON {
		return a.printJSON(rows)
	}
	t := &table{columns: []string{"TL", "LSN", "Reason", "Timestamp", "New Leader"}, right: map[string]bool{"TL": true, "LSN": true}}
	for _, r := range rows {
		t.rows = append(t.rows, []string{strconv.FormatInt(r.TL, 10), strconv.FormatInt(r.LSN, 10),
			cleanCell(r.Reason), cleanCell(r.Timestamp), cleanCell(r.NewLeader)})
	}
	return t.write(a.Out)
}
