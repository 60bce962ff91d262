package healthapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// maxPatchDepth bounds the nesting of documents MergePatch accepts, so a
// hostile body cannot exhaust the stack.
const maxPatchDepth = 64

// ErrNotObject is returned by [MergePatch] when the target or the patch is
// not a JSON object.
var ErrNotObject = errors.New("healthapi: not a JSON object")

// MergePatch applies an RFC 7396 JSON merge patch to target and returns the
// result. Both must be JSON objects (a config is always one); null in the
// patch deletes a member, objects merge recursively, anything else
// replaces. Numbers keep their exact text.
func MergePatch(target, patch []byte) ([]byte, error) {
	t, err := decodeValue(target)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	p, err := decodeValue(patch)
	if err != nil {
		return nil, fmt.Errorf("patch: %w", err)
	}
	tm, ok1 := t.(map[string]any)
	pm, ok2 := p.(map[string]any)
	if !ok1 || !ok2 {
		return nil, ErrNotObject
	}
	if depth(pm, 0) > maxPatchDepth || depth(tm, 0) > maxPatchDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", maxPatchDepth)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(mergeValue(tm, pm)); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

func decodeValue(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("trailing data after JSON value")
	}
	return v, nil
}

// mergeValue is RFC 7396's MergePatch(Target, Patch).
func mergeValue(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = map[string]any{}
	}
	out := make(map[string]any, len(tm)+len(pm))
	for k, v := range tm {
		out[k] = v
	}
	for k, v := range pm {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = mergeValue(out[k], v)
	}
	return out
}

func depth(v any, d int) int {
	if d > maxPatchDepth {
		return d
	}
	best := d
	switch t := v.(type) {
	case map[string]any:
		for _, x := range t {
			best = max(best, depth(x, d+1))
		}
	case []any:
		for _, x := range t {
			best = max(best, depth(x, d+1))
		}
	}
	return best
}
