package dcs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
)

// objWriter writes a compact JSON object with keys in the order they are
// added, which is how Patroni (Python dicts, separators=(',',':')) writes its
// values. Go maps and structs would reorder or reformat them.
type objWriter struct {
	buf bytes.Buffer
	n   int
}

func (w *objWriter) raw(key string, v []byte) {
	if w.n == 0 {
		w.buf.WriteByte('{')
	} else {
		w.buf.WriteByte(',')
	}
	w.n++
	k, _ := json.Marshal(key)
	w.buf.Write(k)
	w.buf.WriteByte(':')
	w.buf.Write(v)
}

func (w *objWriter) value(key string, v any) {
	b, err := marshalCompact(v)
	if err != nil {
		// Only values of our own types reach here; they always marshal.
		panic(fmt.Sprintf("dcs: encoding %s: %v", key, err))
	}
	w.raw(key, b)
}

func (w *objWriter) extra(extra map[string]json.RawMessage) {
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var c bytes.Buffer
		if err := json.Compact(&c, extra[k]); err != nil {
			continue
		}
		w.raw(k, c.Bytes())
	}
}

func (w *objWriter) bytes() []byte {
	if w.n == 0 {
		return []byte("{}")
	}
	w.buf.WriteByte('}')
	return w.buf.Bytes()
}

// marshalCompact marshals v without HTML escaping, as Python's json.dumps does.
func marshalCompact(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// fields decodes a JSON object into its members, keeping each raw so one
// badly typed field does not spoil the others.
type fields map[string]json.RawMessage

func decodeObject(data []byte) (fields, error) {
	var f fields
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	if f == nil {
		return nil, fmt.Errorf("null is not an object")
	}
	return f, nil
}

// take decodes field key into dst and removes it, recording a type error in
// errs. A JSON null leaves dst untouched.
func (f fields) take(key string, dst any, errs *[]error) bool {
	raw, ok := f[key]
	if !ok {
		return false
	}
	delete(f, key)
	if string(raw) == "null" {
		return false
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		*errs = append(*errs, fmt.Errorf("field %q: %w", key, err))
		return false
	}
	return true
}

// rest returns the fields not taken, or nil.
func (f fields) rest() map[string]json.RawMessage {
	if len(f) == 0 {
		return nil
	}
	return f
}
