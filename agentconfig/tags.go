package agentconfig

import (
	"fmt"
	"strconv"
	"strings"
)

// normalizeTags gives Patroni's tags their types: booleans may be written
// as "yes" or "true", priorities as quoted numbers. Values of the wrong
// type are reported; custom tags keep their value (integers as int64).
func (c *Config) normalizeTags(d *decoder) {
	for name, v := range c.Tags {
		p := joinPath("tags", name)
		fail := func(format string, args ...any) {
			d.errs = append(d.errs, &FieldError{Path: p, Where: d.where[p], Msg: fmt.Sprintf(format, args...)})
		}
		switch tagKind(name) {
		case "bool":
			switch x := v.(type) {
			case bool:
			case string:
				var b bool
				if setBool(&b, x) != nil {
					fail("want true or false, got %s", quoteShort(x))
					continue
				}
				c.Tags[name] = b
			default:
				fail("want true or false")
			}
		case "int":
			switch x := v.(type) {
			case int:
				c.Tags[name] = int64(x)
			case string:
				n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
				if err != nil {
					fail("want an integer, got %s", quoteShort(x))
					continue
				}
				c.Tags[name] = n
			default:
				fail("want an integer")
			}
		default:
			if x, ok := v.(int); ok {
				c.Tags[name] = int64(x)
			}
		}
	}
	if len(c.Tags) == 0 {
		c.Tags = nil
	}
}
