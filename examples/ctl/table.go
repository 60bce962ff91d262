package main

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// table renders rows the way patronictl's pretty format does: boxed, with
// an optional title inside the top border.
type table struct {
	title   string
	columns []string
	// right lists the columns aligned to the right (numbers).
	right map[string]bool
	rows  [][]string
}

func (t *table) write(w io.Writer) error {
	widths := make([]int, len(t.columns))
	for i, c := range t.columns {
		widths[i] = utf8.RuneCountInString(c)
	}
	for _, r := range t.rows {
		for i, cell := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	var sep strings.Builder
	for _, wd := range widths {
		sep.WriteString("+" + strings.Repeat("-", wd+2))
	}
	sep.WriteString("+")
	border := sep.String()
	top := border
	if t.title != "" {
		title := "+ " + t.title + " "
		if n := utf8.RuneCountInString(title); n < utf8.RuneCountInString(border)-1 {
			top = title + string([]rune(border)[n:])
		} else {
			top = title + "+"
		}
	}
	line := func(cells []string) string {
		var b strings.Builder
		for i, cell := range cells {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell))
			if t.right[t.columns[i]] {
				b.WriteString("| " + pad + cell + " ")
			} else {
				b.WriteString("| " + cell + pad + " ")
			}
		}
		return b.String() + "|"
	}
	out := []string{top, line(t.columns), border}
	for _, r := range t.rows {
		out = append(out, line(r))
	}
	out = append(out, border)
	_, err := fmt.Fprintln(w, strings.Join(out, "\n"))
	return err
}

// cleanCell keeps one cell on one line: control characters from the DCS
// could otherwise forge table rows or terminal escapes.
func cleanCell(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}
