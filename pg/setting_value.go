package pg

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
)

// SettingValue renders a parameter value from YAML or JSON (a string, a
// boolean or a number of any Go type) as postgresql.conf takes it: true
// and false as on and off, whole numbers without an exponent. It reports
// false for any other value (a list, a mapping, nil).
func SettingValue(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		if v {
			return "on", true
		}
		return "off", true
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1e15 {
			return strconv.FormatInt(int64(v), 10), true
		}
		return strconv.FormatFloat(v, 'g', -1, 64), true
	case float32:
		return SettingValue(float64(v))
	case json.Number:
		return v.String(), true
	}
	// A configuration built in Go (a bootstrap configuration from YAML)
	// holds integers of any width.
	switch r := reflect.ValueOf(v); r.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(r.Int(), 10), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(r.Uint(), 10), true
	}
	return "", false
}
