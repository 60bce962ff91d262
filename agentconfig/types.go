package agentconfig

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Seconds is a duration written as a number of seconds (Patroni's form,
// fractions allowed: 0.5) or as a Go duration string ("500ms", "2s").
type Seconds float64

// Duration returns s as a time.Duration.
func (s Seconds) Duration() time.Duration { return time.Duration(float64(s) * float64(time.Second)) }

// UnmarshalYAML reads a number of seconds or a duration string.
func (s *Seconds) UnmarshalYAML(n *yaml.Node) error {
	v, ok := parseSeconds(n)
	if !ok {
		return fmt.Errorf("want a number of seconds or a duration such as \"500ms\", got %s", describe(n))
	}
	*s = Seconds(v)
	return nil
}

func parseSeconds(n *yaml.Node) (float64, bool) {
	if n.Kind != yaml.ScalarNode {
		return 0, false
	}
	text := strings.TrimSpace(n.Value)
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		if n.ShortTag() != "!!str" {
			return 0, false
		}
		dur, derr := time.ParseDuration(text)
		if derr != nil {
			return 0, false
		}
		f = dur.Seconds()
	}
	// Bound the value so Duration cannot overflow (about 292 years).
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e9 {
		return 0, false
	}
	return f, true
}

// StringList is a list of strings written as a YAML list or as one
// comma-separated string, as Patroni accepts for etcd hosts.
type StringList []string

// UnmarshalYAML reads a list of strings or one comma-separated string.
func (l *StringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = splitList(n.Value)
		return nil
	}
	var items []string
	if n.Kind != yaml.SequenceNode || n.Decode(&items) != nil {
		return fmt.Errorf("want a list of strings or a comma-separated string, got %s", describe(n))
	}
	for i := range items {
		items[i] = strings.TrimSpace(items[i])
	}
	*l = items
	return nil
}

// splitList splits "a,b", "'a','b'" and "[a, b]" (the forms Patroni's
// environment variables use) into their items.
func splitList(s string) []string {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	var out []string
	for _, item := range strings.Split(s, ",") {
		item = strings.Trim(strings.TrimSpace(item), `'"`)
		if item != "" {
			out = append(out, item)
		}
	}
	return out
}

// SyncMode is synchronous_mode: off, on or quorum. YAML booleans map to off
// and on.
type SyncMode string

// Synchronous modes.
const (
	SyncOff    SyncMode = "off"
	SyncOn     SyncMode = "on"
	SyncQuorum SyncMode = "quorum"
)

// UnmarshalYAML reads off, on (or a YAML boolean) or quorum.
func (m *SyncMode) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		switch strings.ToLower(strings.TrimSpace(n.Value)) {
		case "true", "on", "yes":
			*m = SyncOn
			return nil
		case "false", "off", "no":
			*m = SyncOff
			return nil
		case "quorum":
			*m = SyncQuorum
			return nil
		}
	}
	return fmt.Errorf("want true, false or quorum, got %s", describe(n))
}

// InitdbOption is one bootstrap.initdb entry: a switch ("data-checksums")
// or an option with a value ({encoding: UTF8}).
type InitdbOption struct {
	// Name is the initdb option without its dashes.
	Name string
	// Value is the option's value, if it has one.
	Value string
	// HasValue distinguishes {"locale": ""} from a bare switch.
	HasValue bool
}

// InitdbOptions is bootstrap.initdb.
type InitdbOptions []InitdbOption

// UnmarshalYAML reads a list of switches and name: value mappings.
func (o *InitdbOptions) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return fmt.Errorf("want a list of options such as \"- data-checksums\" or \"- encoding: UTF8\", got %s", describe(n))
	}
	var out InitdbOptions
	for i, item := range n.Content {
		var opt string
		switch {
		case item.Kind == yaml.MappingNode: // name: value pairs, in order
			for j := 0; j+1 < len(item.Content); j += 2 {
				var name, value string
				if item.Content[j].Decode(&name) != nil || item.Content[j+1].Decode(&value) != nil {
					return &itemError{i, item, "want name: value with a scalar value"}
				}
				out = append(out, InitdbOption{Name: name, Value: value, HasValue: true})
			}
		case item.Decode(&opt) == nil && opt != "":
			out = append(out, InitdbOption{Name: opt})
		default:
			return &itemError{i, item, "want an option name or name: value, got " + describe(item)}
		}
	}
	*o = out
	return nil
}

// otherKey accepts the custom replica methods named in
// create_replica_methods (this section's, or
// bootstrap.dcs.standby_cluster's) as keys of the postgresql section.
func (p *Postgresql) otherKey(d *decoder, parent *yaml.Node, key string, val *yaml.Node, path string) bool {
	if !namesMethod(parent, key) && !slices.Contains(d.standbyMethods, key) || key == "basebackup" {
		return false
	}
	var m ReplicaMethod
	before := len(d.errs)
	d.value(val, path, reflect.ValueOf(&m).Elem())
	if len(d.errs) == before {
		if p.Methods == nil {
			p.Methods = map[string]ReplicaMethod{}
		}
		p.Methods[key] = m
	}
	return true
}

// otherKey accepts the custom bootstrap method that bootstrap.method
// names as a key of the bootstrap section, and names in a warning a
// method section that is not the one in use.
func (b *Bootstrap) otherKey(d *decoder, parent *yaml.Node, key string, val *yaml.Node, path string) bool {
	if key == "initdb" {
		return false
	}
	if scalarValue(parent, "method") != key {
		if rv := d.resolve(val, path); rv != nil && rv.Kind == yaml.MappingNode && scalarValue(rv, "command") != "" {
			d.warn(path, val, "a bootstrap method that bootstrap.method does not name, ignored")
			return true
		}
		return false
	}
	var m BootstrapMethod
	before := len(d.errs)
	d.value(val, path, reflect.ValueOf(&m).Elem())
	if len(d.errs) == before {
		if b.Methods == nil {
			b.Methods = map[string]BootstrapMethod{}
		}
		b.Methods[key] = m
	}
	return true
}

// otherKey takes the method section's other keys as options of its
// command (Patroni passes them as --name=value).
func (m *BootstrapMethod) otherKey(d *decoder, _ *yaml.Node, key string, val *yaml.Node, path string) bool {
	rv := d.resolve(val, path)
	if rv == nil {
		return true
	}
	if rv.Kind != yaml.ScalarNode || isNull(rv) {
		d.fail(path, rv, "want a scalar, passed to the command as --%s=value; got %s", key, describe(rv))
		return true
	}
	if m.Options == nil {
		m.Options = map[string]string{}
	}
	m.Options[key] = rv.Value
	return true
}

// scalarValue returns the scalar value of key in mapping n, or "".
func scalarValue(n *yaml.Node, key string) string {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key && n.Content[i+1].Kind == yaml.ScalarNode {
			return n.Content[i+1].Value
		}
	}
	return ""
}

// namesMethod reports whether the mapping's create_replica_methods list
// contains name.
func namesMethod(parent *yaml.Node, name string) bool {
	for i := 0; i+1 < len(parent.Content); i += 2 {
		if parent.Content[i].Value != "create_replica_methods" {
			continue
		}
		list := parent.Content[i+1]
		if list.Kind != yaml.SequenceNode {
			return false
		}
		for _, item := range list.Content {
			if item.Kind == yaml.ScalarNode && item.Value == name {
				return true
			}
		}
	}
	return false
}
