package agentconfig

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxAliases bounds alias dereferences during one decode, so a document
// built of nested aliases ("billion laughs") cannot make decoding explode.
const maxAliases = 1000

// decoder walks a YAML node tree into the Config structs, field by field,
// so that unknown keys are collected and type errors name the field and its
// line.
type decoder struct {
	errs     []error
	warnings []Warning
	where    map[string]string
	aliases  int
}

// nodeDecoder is implemented by types that decode themselves from a node.
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, path string)
}

// otherKeyHandler is implemented by structs that accept keys beyond their
// fields (postgresql accepts the replica methods it names).
type otherKeyHandler interface {
	otherKey(d *decoder, parent *yaml.Node, key string, val *yaml.Node, path string) bool
}

func (d *decoder) fail(path string, n *yaml.Node, format string, args ...any) {
	where := ""
	if n != nil && n.Line > 0 {
		where = "line " + strconv.Itoa(n.Line)
	}
	d.errs = append(d.errs, &FieldError{Path: path, Where: where, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) warn(path string, n *yaml.Node, msg string) {
	where := ""
	if n != nil && n.Line > 0 {
		where = "line " + strconv.Itoa(n.Line)
	}
	d.warnings = append(d.warnings, Warning{Path: path, Where: where, Msg: msg})
}

// resolve follows aliases, bounded by maxAliases.
func (d *decoder) resolve(n *yaml.Node, path string) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		d.aliases++
		if d.aliases > maxAliases {
			d.fail(path, n, "too many aliases")
			return nil
		}
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// describe names a node's kind for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		return fmt.Sprintf("%s %q", strings.TrimPrefix(n.ShortTag(), "!!"), v)
	}
	return "a YAML node"
}

// value decodes n into v, which must be settable.
func (d *decoder) value(n *yaml.Node, path string, v reflect.Value) {
	n = d.resolve(n, path)
	if n == nil || isNull(n) {
		return
	}
	if v.CanAddr() {
		if nd, ok := v.Addr().Interface().(nodeDecoder); ok {
			nd.decodeNode(d, n, path)
			return
		}
	}
	switch v.Kind() {
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		before := len(d.errs)
		d.value(n, path, p.Elem())
		if len(d.errs) == before {
			v.Set(p)
		}
	case reflect.Struct:
		d.structure(n, path, v)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.fail(path, n, "want a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
			d.fail(path, n, "want true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		i, ok := scalarInt(n)
		if !ok {
			d.fail(path, n, "want an integer, got %s", describe(n))
			return
		}
		v.SetInt(i)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			d.fail(path, n, "unsupported list type %s", v.Type())
			return
		}
		d.stringList(n, path, v)
	case reflect.Map:
		d.mapping(n, path, v)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			d.fail(path, n, "%v", err)
			return
		}
		v.Set(reflect.ValueOf(&x).Elem())
	default:
		d.fail(path, n, "unsupported type %s", v.Type())
	}
}

// scalarInt accepts an integer, or a string holding one (Patroni's
// validators do, and environment values are strings).
func scalarInt(n *yaml.Node) (int64, bool) {
	if n.Kind != yaml.ScalarNode {
		return 0, false
	}
	switch n.ShortTag() {
	case "!!int":
		var i int64
		if n.Decode(&i) != nil {
			return 0, false
		}
		return i, true
	case "!!str":
		i, err := strconv.ParseInt(strings.TrimSpace(n.Value), 10, 64)
		return i, err == nil
	}
	return 0, false
}

func (d *decoder) stringList(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.fail(path, n, "want a list of strings, got %s", describe(n))
		return
	}
	out := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	for i, item := range n.Content {
		p := indexPath(path, i)
		item = d.resolve(item, p)
		if item == nil {
			return
		}
		if item.Kind != yaml.ScalarNode || isNull(item) {
			d.fail(p, item, "want a string, got %s", describe(item))
			continue
		}
		out = reflect.Append(out, reflect.ValueOf(item.Value).Convert(v.Type().Elem()))
	}
	v.Set(out)
}

// mapping decodes a mapping with string keys into a map.
func (d *decoder) mapping(n *yaml.Node, path string, v reflect.Value) {
	if v.Type().Key().Kind() != reflect.String {
		d.fail(path, n, "unsupported map type %s", v.Type())
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(path, n, "want a mapping, got %s", describe(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	d.entries(n, path, func(k, val *yaml.Node, key, p string) {
		elem := reflect.New(v.Type().Elem()).Elem()
		before := len(d.errs)
		d.value(val, p, elem)
		if len(d.errs) == before {
			v.SetMapIndex(reflect.ValueOf(key).Convert(v.Type().Key()), elem)
		}
	})
}

// entries calls fn with each key of mapping n (its node, its value, the
// key and its path), in order, and records where the key stands. A key
// that is not a string or stands twice is reported and skipped.
func (d *decoder) entries(n *yaml.Node, path string, fn func(k, val *yaml.Node, key, p string)) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key, ok := d.key(k, path)
		if !ok {
			continue
		}
		p := joinPath(path, key)
		if seen[key] {
			d.fail(p, k, "duplicate key")
			continue
		}
		seen[key] = true
		d.where[p] = "line " + strconv.Itoa(k.Line)
		fn(k, val, key, p)
	}
}

func (d *decoder) key(k *yaml.Node, path string) (string, bool) {
	k = d.resolve(k, path)
	if k == nil {
		return "", false
	}
	if k.Kind != yaml.ScalarNode || isNull(k) {
		d.fail(path, k, "keys must be strings, got %s", describe(k))
		return "", false
	}
	return k.Value, true
}

// structure decodes a mapping into a struct by yaml tags. Keys that match
// no field go to the struct's ",extra" map (with a warning), to its
// otherKey handler, or into a warning.
func (d *decoder) structure(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, n, "want a mapping, got %s", describe(n))
		return
	}
	t := v.Type()
	fields := map[string]int{}
	extra := -1
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		switch {
		case tag == ",extra":
			extra = i
			continue
		case tag == "-" || tag == "":
			continue
		}
		fields[tag] = i
		if a := f.Tag.Get("alias"); a != "" {
			fields[a] = i
		}
	}
	seen := map[int]string{}
	d.entries(n, path, func(k, val *yaml.Node, key, p string) {
		if idx, ok := fields[key]; ok {
			if prev, dup := seen[idx]; dup {
				d.fail(p, k, "set twice (also as %s)", prev)
				return
			}
			seen[idx] = key
			d.value(val, p, v.Field(idx))
			return
		}
		if h, ok := v.Addr().Interface().(otherKeyHandler); ok && h.otherKey(d, n, key, val, p) {
			return
		}
		if extra >= 0 {
			var x any
			rv := d.resolve(val, p)
			if rv == nil {
				return
			}
			if err := rv.Decode(&x); err != nil {
				d.fail(p, k, "%v", err)
				return
			}
			m := v.Field(extra)
			if m.IsNil() {
				m.Set(reflect.MakeMap(m.Type()))
			}
			m.SetMapIndex(reflect.ValueOf(key), reflect.ValueOf(&x).Elem())
			d.warn(p, k, "written to the DCS configuration as is; pgha does not interpret it")
			return
		}
		if reason, ok := unsupported(path, key); ok {
			d.warn(p, k, reason)
		} else {
			d.warn(p, k, "unknown key, ignored")
		}
	})
}

// reflectValue returns the settable value p points to.
func reflectValue(p any) reflect.Value { return reflect.ValueOf(p).Elem() }
