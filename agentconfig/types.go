package agentconfig

import (
	"math"
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

func (s *Seconds) decodeNode(d *decoder, n *yaml.Node, path string) {
	v, ok := parseSeconds(n)
	if !ok {
		d.fail(path, n, "want a number of seconds or a duration such as \"500ms\", got %s", describe(n))
		return
	}
	*s = Seconds(v)
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

func (l *StringList) decodeNode(d *decoder, n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.ScalarNode:
		*l = splitList(n.Value)
	case yaml.SequenceNode:
		var out []string
		for i, item := range n.Content {
			p := indexPath(path, i)
			item = d.resolve(item, p)
			if item == nil {
				return
			}
			if item.Kind != yaml.ScalarNode || isNull(item) {
				d.fail(p, item, "want a string, got %s", describe(item))
				return
			}
			out = append(out, strings.TrimSpace(item.Value))
		}
		*l = out
	default:
		d.fail(path, n, "want a list or a comma-separated string, got %s", describe(n))
	}
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

func (m *SyncMode) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind == yaml.ScalarNode {
		switch strings.ToLower(strings.TrimSpace(n.Value)) {
		case "true", "on", "yes":
			*m = SyncOn
			return
		case "false", "off", "no":
			*m = SyncOff
			return
		case "quorum":
			*m = SyncQuorum
			return
		}
	}
	d.fail(path, n, "want true, false or quorum, got %s", describe(n))
}

// InitdbOption is one bootstrap.initdb entry: a switch ("data-checksums")
// or an option with a value ({encoding: UTF8}).
type InitdbOption struct {
	Name  string
	Value string
	// HasValue distinguishes {"locale": ""} from a bare switch.
	HasValue bool
}

// InitdbOptions is bootstrap.initdb.
type InitdbOptions []InitdbOption

func (o *InitdbOptions) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind != yaml.SequenceNode {
		d.fail(path, n, "want a list of options such as \"- data-checksums\" or \"- encoding: UTF8\", got %s", describe(n))
		return
	}
	var out InitdbOptions
	for i, item := range n.Content {
		p := indexPath(path, i)
		item = d.resolve(item, p)
		if item == nil {
			return
		}
		switch item.Kind {
		case yaml.ScalarNode:
			if isNull(item) {
				d.fail(p, item, "empty option")
				continue
			}
			out = append(out, InitdbOption{Name: item.Value})
		case yaml.MappingNode:
			for j := 0; j+1 < len(item.Content); j += 2 {
				k := d.resolve(item.Content[j], p)
				v := d.resolve(item.Content[j+1], p)
				if k == nil || v == nil {
					return
				}
				if k.Kind != yaml.ScalarNode || v.Kind != yaml.ScalarNode {
					d.fail(p, item, "want name: value with a scalar value")
					continue
				}
				out = append(out, InitdbOption{Name: k.Value, Value: v.Value, HasValue: true})
			}
		default:
			d.fail(p, item, "want an option name or name: value, got %s", describe(item))
		}
	}
	*o = out
}

// otherKey accepts the custom replica methods named in
// create_replica_methods as keys of the postgresql section.
func (p *Postgresql) otherKey(d *decoder, parent *yaml.Node, key string, val *yaml.Node, path string) bool {
	if !namesMethod(parent, key) || key == "basebackup" {
		return false
	}
	var m ReplicaMethod
	before := len(d.errs)
	d.value(val, path, reflectValue(&m))
	if len(d.errs) == before {
		if p.Methods == nil {
			p.Methods = map[string]ReplicaMethod{}
		}
		p.Methods[key] = m
	}
	return true
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
