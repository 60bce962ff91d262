// Package listing renders tables as patronictl prints them (boxed,
// tsv, json, yaml) and computes the member list of `patronictl list` from
// a decoded cluster, so that pgha-ctl list and the demo print the same
// table.
package listing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/jedib0t/go-pretty/v6/text"
	"go.yaml.in/yaml/v3"
)

// Output formats of list, topology, history and remove (-f), as
// patronictl names them. topology is pretty with the members in
// replication order.
const (
	FormatPretty   = "pretty"
	FormatTSV      = "tsv"
	FormatJSON     = "json"
	FormatYAML     = "yaml"
	FormatTopology = "topology"
)

// Table is a table as patronictl's print_output renders it: boxed
// (pretty, topology), tab-separated (tsv), or a list of objects (json,
// yaml). Cells are strings, int64s, maps (tags) or nil.
type Table struct {
	// Title, when set, is written into the top border ("+ Cluster: ...").
	// A titled table also drops empty cells from json and yaml objects.
	Title   string
	Columns []string
	// Right holds the indexes of right-aligned columns.
	Right map[int]bool
	Rows  [][]any
	// ListCluster marks the member list, whose first column (Cluster) is
	// left out of pretty tables and whose tags are rendered as YAML.
	ListCluster bool
}

// Write renders the table in format (FormatPretty and FormatTopology
// boxed, FormatTSV with delimiter between cells, FormatJSON, FormatYAML).
func (o *Table) Write(w io.Writer, format, delimiter string) error {
	switch format {
	case FormatJSON, FormatYAML:
		return o.writeObjects(w, format)
	case FormatTSV:
		var b strings.Builder
		for i, r := range append([][]any{anyRow(o.Columns)}, o.Rows...) {
			cells := make([]string, len(r))
			for j, c := range r {
				cells[j] = CleanCell(o.cell(c, i > 0 && o.ListCluster && o.Columns[j] == "Tags", true))
			}
			b.WriteString(strings.Join(cells, delimiter) + "\n")
		}
		_, err := io.WriteString(w, b.String())
		return err
	}
	skip := 0
	if o.ListCluster {
		skip = 1
	}
	tw := table.NewWriter()
	style := table.StyleDefault
	style.Format.Header = text.FormatDefault
	style.Format.Footer = text.FormatDefault
	multiline := false
	var rows []table.Row
	for _, r := range o.Rows {
		row := table.Row{}
		for j, c := range r[skip:] {
			col := o.Columns[j+skip]
			s := o.cell(c, o.ListCluster && col == "Tags", false)
			if !o.ListCluster || (col != "Tags" && col != "Pending restart reason") {
				row = append(row, CleanCell(s))
				continue
			}
			// Tags and restart reasons span lines.
			lines := strings.Split(s, "\n")
			for k := range lines {
				lines[k] = CleanCell(lines[k])
			}
			multiline = multiline || len(lines) > 1
			row = append(row, strings.Join(lines, "\n"))
		}
		rows = append(rows, row)
	}
	// As patronictl: lines between rows once a cell spans several.
	style.Options.SeparateRows = multiline
	tw.SetStyle(style)
	header := table.Row{}
	var configs []table.ColumnConfig
	for j, c := range o.Columns[skip:] {
		header = append(header, CleanCell(c))
		align := text.AlignLeft
		if o.Right[j+skip] {
			align = text.AlignRight
		}
		configs = append(configs, table.ColumnConfig{Number: j + 1, Align: align, AlignHeader: align})
	}
	tw.AppendHeader(header)
	tw.AppendRows(rows)
	tw.SetColumnConfigs(configs)
	rendered := tw.Render()
	if o.Title != "" {
		first, rest, _ := strings.Cut(rendered, "\n")
		line := []rune(first)
		title := []rune(CleanCell(o.Title))
		if n := len(line) - 2; len(title) > n {
			title = title[:max(0, n)]
		}
		if len(line) >= 2 {
			first = string(line[:1]) + string(title) + string(line[1+len(title):])
		}
		rendered = first + "\n" + rest
	}
	_, err := io.WriteString(w, rendered+"\n")
	return err
}

// cell renders one value as text. Tags are YAML: block style in pretty
// tables, flow style in tsv, as patronictl does.
func (o *Table) cell(v any, tags, flow bool) string {
	switch x := v.(type) {
	case nil:
		// A NULL from query, as patronictl prints Python's None.
		return "None"
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case bool:
		// As Python prints a boolean from query.
		if x {
			return "True"
		}
		return "False"
	}
	if tags {
		return strings.TrimSpace(formatYAML(v, flow))
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// writeObjects writes the rows as a list of objects keyed by column name:
// JSON keeps the column order; YAML sorts the keys, as PyYAML's safe_dump.
func (o *Table) writeObjects(w io.Writer, format string) error {
	objs := make([]orderedObject, 0, len(o.Rows))
	for _, r := range o.Rows {
		var obj orderedObject
		for j, c := range r {
			if o.Title != "" && (c == nil || c == "") {
				continue
			}
			obj = append(obj, field{o.Columns[j], c})
		}
		objs = append(objs, obj)
	}
	if format == FormatJSON {
		var b bytes.Buffer
		b.WriteByte('[')
		for i, obj := range objs {
			if i > 0 {
				b.WriteString(", ")
			}
			if err := obj.writeJSON(&b); err != nil {
				return err
			}
		}
		b.WriteString("]\n")
		_, err := w.Write(b.Bytes())
		return err
	}
	list := make([]map[string]any, 0, len(objs))
	for _, obj := range objs {
		m := map[string]any{}
		for _, f := range obj {
			m[f.key] = f.value
		}
		list = append(list, m)
	}
	_, err := io.WriteString(w, formatYAML(list, false))
	return err
}

type field struct {
	key   string
	value any
}

// orderedObject is a JSON object that keeps its keys' order, written as
// Python's json.dumps writes one (", " and ": " separators), so that
// pgha-ctl's -f json reads like patronictl's.
type orderedObject []field

func (o orderedObject) writeJSON(b *bytes.Buffer) error {
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteString(", ")
		}
		if err := writePyJSON(b, f.key); err != nil {
			return err
		}
		b.WriteString(": ")
		if err := writePyJSON(b, f.value); err != nil {
			return err
		}
	}
	b.WriteByte('}')
	return nil
}

// writePyJSON writes v as JSON with Python's separators, maps with sorted
// keys, and without escaping <, > and &.
func writePyJSON(b *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case map[string]any:
		b.WriteByte('{')
		for i, k := range sortedKeys(x) {
			if i > 0 {
				b.WriteString(", ")
			}
			if err := writePyJSON(b, k); err != nil {
				return err
			}
			b.WriteString(": ")
			if err := writePyJSON(b, x[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
		return nil
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			if err := writePyJSON(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	b.Write(bytes.TrimRight(buf.Bytes(), "\n"))
	return nil
}

// formatYAML renders v as YAML, in flow style when flow is set ("{a: 1}").
func formatYAML(v any, flow bool) string {
	var node yaml.Node
	if err := node.Encode(Plain(v)); err != nil {
		return fmt.Sprintf("# cannot render: %v", err)
	}
	if flow {
		setFlow(&node)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&node); err != nil {
		return fmt.Sprintf("# cannot render: %v", err)
	}
	s := buf.String()
	if flow {
		s = strings.TrimSpace(s)
	}
	return s
}

func setFlow(n *yaml.Node) {
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		n.Style = yaml.FlowStyle
	}
	for _, c := range n.Content {
		setFlow(c)
	}
}

func anyRow(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// CleanCell keeps one cell on one line: control characters from the DCS
// could otherwise forge table rows or terminal escapes.
func CleanCell(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}

// Plain replaces json.Number with int64 or float64, recursively.
func Plain(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = Plain(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = Plain(e)
		}
		return out
	}
	return v
}
