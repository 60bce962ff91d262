package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/aymanbagabas/go-udiff"
	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/jedib0t/go-pretty/v6/text"
	"go.yaml.in/yaml/v3"
)

// Output formats of list, topology, history and remove (-f), as
// patronictl names them. topology is pretty with the members in
// replication order.
const (
	fmtPretty   = "pretty"
	fmtTSV      = "tsv"
	fmtJSON     = "json"
	fmtYAML     = "yaml"
	fmtTopology = "topology"
)

// checkFormat accepts patronictl's -f values (yml is yaml).
func checkFormat(f string) (string, error) {
	switch f {
	case fmtPretty, fmtTSV, fmtJSON, fmtYAML:
		return f, nil
	case "yml":
		return fmtYAML, nil
	}
	return "", fmt.Errorf("%w: -f %q: want pretty, tsv, json or yaml", ErrUsage, f)
}

// output is a table as patronictl's print_output renders it: boxed
// (pretty, topology), tab-separated (tsv), or a list of objects (json,
// yaml). Cells are strings, int64s, maps (tags) or nil.
type output struct {
	// title, when set, is written into the top border ("+ Cluster: ...").
	// A titled table also drops empty cells from json and yaml objects.
	title   string
	columns []string
	// right holds the indexes of right-aligned columns.
	right map[int]bool
	rows  [][]any
	// listCluster marks the member list, whose first column (Cluster) is
	// left out of pretty tables and whose tags are rendered as YAML.
	listCluster bool
}

func (o *output) write(w io.Writer, format, delimiter string) error {
	switch format {
	case fmtJSON, fmtYAML:
		return o.writeObjects(w, format)
	case fmtTSV:
		var b strings.Builder
		for i, r := range append([][]any{anyRow(o.columns)}, o.rows...) {
			cells := make([]string, len(r))
			for j, c := range r {
				cells[j] = cleanCell(o.cell(c, i > 0 && o.listCluster && o.columns[j] == "Tags", true))
			}
			b.WriteString(strings.Join(cells, delimiter) + "\n")
		}
		_, err := io.WriteString(w, b.String())
		return err
	}
	skip := 0
	if o.listCluster {
		skip = 1
	}
	tw := table.NewWriter()
	style := table.StyleDefault
	style.Format.Header = text.FormatDefault
	style.Format.Footer = text.FormatDefault
	multiline := false
	var rows []table.Row
	for _, r := range o.rows {
		row := table.Row{}
		for j, c := range r[skip:] {
			col := o.columns[j+skip]
			s := o.cell(c, o.listCluster && col == "Tags", false)
			if !o.listCluster || (col != "Tags" && col != "Pending restart reason") {
				row = append(row, cleanCell(s))
				continue
			}
			// Tags and restart reasons span lines.
			lines := strings.Split(s, "\n")
			for k := range lines {
				lines[k] = cleanCell(lines[k])
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
	for j, c := range o.columns[skip:] {
		header = append(header, cleanCell(c))
		align := text.AlignLeft
		if o.right[j+skip] {
			align = text.AlignRight
		}
		configs = append(configs, table.ColumnConfig{Number: j + 1, Align: align, AlignHeader: align})
	}
	tw.AppendHeader(header)
	tw.AppendRows(rows)
	tw.SetColumnConfigs(configs)
	rendered := tw.Render()
	if o.title != "" {
		first, rest, _ := strings.Cut(rendered, "\n")
		line := []rune(first)
		title := []rune(cleanCell(o.title))
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
func (o *output) cell(v any, tags, flow bool) string {
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
func (o *output) writeObjects(w io.Writer, format string) error {
	objs := make([]orderedObject, 0, len(o.rows))
	for _, r := range o.rows {
		var obj orderedObject
		for j, c := range r {
			if o.title != "" && (c == nil || c == "") {
				continue
			}
			obj = append(obj, field{o.columns[j], c})
		}
		objs = append(objs, obj)
	}
	if format == fmtJSON {
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
	if err := node.Encode(plain(v)); err != nil {
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

// unifiedDiff renders a line diff of a and b in the unified format, with
// three lines of context, as patronictl's edit-config shows changes.
func unifiedDiff(nameA, nameB, a, b string) string {
	return udiff.Unified(nameA, nameB, a, b)
}
