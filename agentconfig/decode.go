package agentconfig

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// readFromDCS are the keys of bootstrap.dcs that the configuration types
// keep as raw values but that the Controller reads from the config key
// (failover's slot policy and the postgresql section it applies); the
// Controller names what it cannot use in them.
var readFromDCS = map[string]bool{
	"bootstrap.dcs.slots":               true,
	"bootstrap.dcs.ignore_slots":        true,
	"bootstrap.dcs.member_slots_ttl":    true,
	"bootstrap.dcs.postgresql.pg_ident": true,
	// Checked by checkStandbyCluster, acted on by the Controller.
	"bootstrap.dcs.standby_cluster": true,
}

// maxAliases bounds the alias dereferences the walker makes in one
// document. Values below the walker are expanded by yaml.v3, which bounds
// alias expansion itself ("document contains excessive aliasing").
const maxAliases = 1000

// decoder walks the YAML node tree along the Config struct types and does
// only what yaml.v3 cannot: it names every key that matches no field in a
// warning with its path and line (yaml.v3's KnownFields turns them into
// errors that name a Go type, not a path), records where each path was set
// so that later errors can point at it, names the path and line of a value
// of the wrong type (yaml.v3's type errors carry a line only), accepts
// Patroni's old key names (master_start_timeout), and reads the custom
// replica methods, whose keys are named by create_replica_methods (of
// postgresql or of bootstrap.dcs.standby_cluster). Every value that is not
// a struct is decoded by yaml.v3 itself, but integers (see leaf).
type decoder struct {
	errs     []error
	warnings []Warning
	where    map[string]string
	aliases  int
	// standbyMethods are the names in
	// bootstrap.dcs.standby_cluster.create_replica_methods, read before
	// the walk: their sections live under postgresql, which the document
	// may hold before bootstrap.
	standbyMethods []string
}

// standbyMethodNames returns the scalar items of
// bootstrap.dcs.standby_cluster.create_replica_methods in root (nil when
// absent or not a list; the walk reports what is wrong with it).
func (d *decoder) standbyMethodNames(root *yaml.Node) []string {
	n := root
	for _, key := range []string{"bootstrap", "dcs", "standby_cluster", "create_replica_methods"} {
		if n = d.resolve(n, key); n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	if n = d.resolve(n, "create_replica_methods"); n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	var names []string
	for _, item := range n.Content {
		if item.Kind == yaml.ScalarNode {
			names = append(names, item.Value)
		}
	}
	return names
}

// otherKeyHandler is implemented by structs that accept keys beyond their
// fields (postgresql accepts the replica methods it names).
type otherKeyHandler interface {
	otherKey(d *decoder, parent *yaml.Node, key string, val *yaml.Node, path string) bool
}

func lineOf(n *yaml.Node) string {
	if n == nil || n.Line <= 0 {
		return ""
	}
	return "line " + strconv.Itoa(n.Line)
}

func (d *decoder) fail(path string, n *yaml.Node, format string, args ...any) {
	d.errs = append(d.errs, &FieldError{Path: path, Where: lineOf(n), Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) warn(path string, n *yaml.Node, msg string) {
	d.warnings = append(d.warnings, Warning{Path: path, Where: lineOf(n), Msg: msg})
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
		return strings.TrimPrefix(n.ShortTag(), "!!") + " " + quoteShort(n.Value)
	}
	return "a YAML node"
}

// value decodes n into v, which must be settable: structs (also as values
// of a map) field by field, integers by hand, anything else with yaml.v3.
func (d *decoder) value(n *yaml.Node, path string, v reflect.Value) {
	n = d.resolve(n, path)
	if isNull(n) {
		return
	}
	t := v.Type()
	switch {
	case t.Kind() == reflect.Pointer:
		p := reflect.New(t.Elem())
		d.value(n, path, p.Elem())
		v.Set(p)
	case t.Kind() == reflect.Struct:
		d.structure(n, path, v)
	case t.Kind() == reflect.Map && t.Elem().Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.fail(path, n, "want a mapping, got %s", describe(n))
			return
		}
		v.Set(reflect.MakeMap(t))
		d.entries(n, path, func(_, val *yaml.Node, key, p string) {
			elem := reflect.New(t.Elem()).Elem()
			d.value(val, p, elem)
			v.SetMapIndex(reflect.ValueOf(key), elem)
		})
	default:
		d.leaf(n, path, v)
	}
}

// leaf decodes n into v with yaml.v3 and turns its error into one naming
// the field. The keys of a mapping are recorded, so that errors about a
// tag or a parameter point at its line.
func (d *decoder) leaf(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind == yaml.MappingNode && v.Kind() == reflect.Map {
		before := len(d.errs)
		d.entries(n, path, func(_, _ *yaml.Node, _, _ string) {})
		if len(d.errs) > before {
			return
		}
	}
	if k := v.Kind(); k == reflect.Int || k == reflect.Int64 {
		// yaml.v3 truncates 1.5 to 1, and refuses "5", which Patroni
		// accepts.
		base := 10
		if n.ShortTag() == "!!int" {
			base = 0 // as yaml.v3 reads it: 0x1F, 0o17, 1_000
		}
		i, err := strconv.ParseInt(strings.TrimSpace(n.Value), base, 64)
		if tag := n.ShortTag(); (tag != "!!int" && tag != "!!str") || err != nil || v.OverflowInt(i) {
			d.fail(path, n, "want an integer, got %s", describe(n))
			return
		}
		v.SetInt(i)
		return
	}
	err := n.Decode(v.Addr().Interface())
	var item *itemError
	var te *yaml.TypeError
	switch {
	case err == nil:
	case errors.As(err, &item):
		d.fail(indexPath(path, item.index), item.node, "%s", item.msg)
	case errors.As(err, &te):
		d.fail(path, n, "want %s, got %s", wants(v.Type()), describe(n))
	default:
		d.fail(path, n, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
}

// wants names what a value of type t is written as.
func wants(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list of strings"
	case reflect.Map:
		return "a mapping"
	}
	return "a " + t.String()
}

// itemError is an UnmarshalYAML error about one item of a list, so that
// the decoder can name the item's path and line.
type itemError struct {
	index int
	node  *yaml.Node
	msg   string
}

func (e *itemError) Error() string {
	return fmt.Sprintf("item %d (%s): %s", e.index, lineOf(e.node), e.msg)
}

// entries calls fn with each key of mapping n (its node, its value, the
// key and its path), in order, and records where the key stands. A key
// that is not a string or stands twice is reported and skipped.
func (d *decoder) entries(n *yaml.Node, path string, fn func(k, val *yaml.Node, key, p string)) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := d.resolve(n.Content[i], path)
		if k == nil {
			return
		}
		if k.Kind != yaml.ScalarNode || isNull(k) {
			d.fail(path, k, "keys must be strings, got %s", describe(k))
			continue
		}
		p := joinPath(path, k.Value)
		if seen[k.Value] {
			d.fail(p, k, "duplicate key")
			continue
		}
		seen[k.Value] = true
		d.where[p] = lineOf(k)
		fn(k, n.Content[i+1], k.Value, p)
	}
}

// structure decodes a mapping into a struct by yaml tags; an alias tag
// names an old spelling of the key. Keys that match no field go to the
// struct's ",inline" map (with a warning: they are written to the DCS as
// they are), to its otherKey handler, or into a warning.
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
		switch tag := f.Tag.Get("yaml"); {
		case !f.IsExported() || tag == "-" || tag == "":
		case tag == ",inline":
			extra = i
		default:
			fields[tag] = i
			if a := f.Tag.Get("alias"); a != "" {
				fields[a] = i
			}
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
		if extra < 0 {
			if reason, ok := unsupported(path, key); ok {
				d.warn(p, k, reason)
			} else {
				d.warn(p, k, "unknown key, ignored")
			}
			return
		}
		rv := d.resolve(val, p)
		if rv == nil {
			return
		}
		var x any
		before := len(d.errs)
		if d.leaf(rv, p, reflect.ValueOf(&x).Elem()); len(d.errs) > before {
			return
		}
		m := v.Field(extra)
		if m.IsNil() {
			m.Set(reflect.MakeMap(m.Type()))
		}
		m.SetMapIndex(reflect.ValueOf(key), reflect.ValueOf(x))
		if !readFromDCS[p] {
			d.warn(p, k, "written to the DCS configuration as is; pgha does not interpret it")
		}
	})
}
