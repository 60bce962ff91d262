package healthapi

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/pgha/pgha/dcs"
)

func jsonEqual(t *testing.T, got, want string) bool {
	t.Helper()
	g, err := decodeValue([]byte(got))
	if err != nil {
		t.Fatalf("got %q: %v", got, err)
	}
	w, err := decodeValue([]byte(want))
	if err != nil {
		t.Fatalf("want %q: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}

// TestMergePatchRFC7396 runs the examples of RFC 7396 appendix A whose
// target and patch are objects.
func TestMergePatchRFC7396(t *testing.T) {
	for _, tc := range []struct{ target, patch, want string }{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`{"e":null}`, `{"a":1}`, `{"e":null,"a":1}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
		{`{"ttl":30,"postgresql":{"parameters":{"max_connections":100,"wal_level":"replica"}}}`,
			`{"postgresql":{"parameters":{"max_connections":200,"wal_level":null}}}`,
			`{"ttl":30,"postgresql":{"parameters":{"max_connections":200}}}`},
		{`{"big":12345678901234567890}`, `{}`, `{"big":12345678901234567890}`},
	} {
		got, err := MergePatch([]byte(tc.target), []byte(tc.patch))
		if err != nil {
			t.Errorf("MergePatch(%s, %s): %v", tc.target, tc.patch, err)
			continue
		}
		if !jsonEqual(t, string(got), tc.want) {
			t.Errorf("MergePatch(%s, %s) = %s, want %s", tc.target, tc.patch, got, tc.want)
		}
	}
	if !strings.Contains(string(must(MergePatch([]byte(`{"big":12345678901234567890}`), []byte(`{}`)))), "12345678901234567890") {
		t.Error("number precision lost")
	}
	for _, tc := range []struct{ target, patch string }{
		{`[]`, `{}`}, {`{}`, `[]`}, {`{}`, `null`}, {`{`, `{}`}, {`{}`, `{} x`},
		{`{}`, strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100)},
	} {
		if _, err := MergePatch([]byte(tc.target), []byte(tc.patch)); err == nil {
			t.Errorf("MergePatch(%.30s, %.30s) succeeded", tc.target, tc.patch)
		}
	}
	if _, err := MergePatch([]byte(`[]`), []byte(`{}`)); !errors.Is(err, ErrNotObject) {
		t.Errorf("array target: %v", err)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestConfigPatchAndPut(t *testing.T) {
	for _, tc := range []struct {
		name     string
		method   string
		body     string
		stored   string // "" = key absent
		writeErr error
		code     int
		want     string // resulting stored config (JSON), or a message substring
	}{
		{"patch", "PATCH", `{"ttl":20,"postgresql":{"parameters":{"work_mem":"8MB"}}}`, `{"ttl":30,"loop_wait":10}`, nil, 200,
			`{"ttl":20,"loop_wait":10,"postgresql":{"parameters":{"work_mem":"8MB"}}}`},
		{"patch delete", "PATCH", `{"loop_wait":null}`, `{"ttl":30,"loop_wait":10}`, nil, 200, `{"ttl":30}`},
		{"patch conflict", "PATCH", `{"ttl":20}`, `{"ttl":30}`, dcs.ErrConflict, 409, "changed concurrently"},
		{"patch unavailable", "PATCH", `{"ttl":20}`, `{"ttl":30}`, dcs.ErrUnavailable, 503, "unavailable"},
		{"patch missing", "PATCH", `{"ttl":20}`, "", nil, 503, "config is not set"},
		{"patch bad json", "PATCH", `{"ttl":`, `{"ttl":30}`, nil, 400, "Bad request"},
		{"patch not object", "PATCH", `[1]`, `{"ttl":30}`, nil, 400, "Bad request"},
		{"patch bad type", "PATCH", `{"ttl":"soon"}`, `{"ttl":30}`, nil, 400, `"ttl"`},
		{"patch empty", "PATCH", ``, `{"ttl":30}`, nil, 411, "Content-Length"},
		{"patch stored garbage", "PATCH", `{"ttl":20}`, `[1,2]`, nil, 503, "stored config"},
		{"put", "PUT", `{"ttl":25,"pause":true}`, `{"ttl":30}`, nil, 200, `{"ttl":25,"pause":true}`},
		{"put absent", "PUT", `{"ttl":25}`, "", nil, 200, `{"ttl":25}`},
		{"put failure", "PUT", `{"ttl":25}`, `{"ttl":30}`, dcs.ErrUnavailable, 502, "failed to write config"},
		{"put bad", "PUT", `{"synchronous_mode":"sometimes"}`, `{"ttl":30}`, nil, 400, "synchronous_mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := &StateCache{}
			cache.Store(primaryState())
			mgr := &fakeManager{rev: 7, writeErr: tc.writeErr}
			if tc.stored != "" {
				mgr.config = []byte(tc.stored)
			}
			w := do(testHandler(t, cache, mgr), tc.method, "/config", tc.body, true)
			if w.Code != tc.code {
				t.Fatalf("= %d %q, want %d", w.Code, w.Body, tc.code)
			}
			if tc.code != 200 {
				if !strings.Contains(w.Body.String(), tc.want) {
					t.Errorf("body %q does not contain %q", w.Body, tc.want)
				}
				if tc.writeErr == nil && tc.stored != "" && string(mgr.config) != tc.stored {
					t.Errorf("stored config changed to %s", mgr.config)
				}
				return
			}
			if !jsonEqual(t, string(mgr.config), tc.want) || !jsonEqual(t, w.Body.String(), tc.want) {
				t.Errorf("stored %s, answered %s, want %s", mgr.config, w.Body, tc.want)
			}
		})
	}
}

// TestConfigPatchCAS checks that PATCH compares on the revision it read: a
// write that happened in between makes it fail with 409.
func TestConfigPatchCAS(t *testing.T) {
	cache := &StateCache{}
	cache.Store(primaryState())
	mgr := &casRacer{fakeManager: fakeManager{config: []byte(`{"ttl":30}`), rev: 7}}
	w := do(testHandler(t, cache, mgr), "PATCH", "/config", `{"ttl":20}`, true)
	if w.Code != 409 {
		t.Fatalf("= %d %q, want 409", w.Code, w.Body)
	}
	if string(mgr.config) != `{"ttl":31}` {
		t.Errorf("concurrent write lost: %s", mgr.config)
	}
}

// casRacer writes the config behind the handler's back right after it is read.
type casRacer struct{ fakeManager }

func (m *casRacer) ReadConfig(ctx context.Context) (ConfigValue, error) {
	v, err := m.fakeManager.ReadConfig(ctx)
	_ = m.fakeManager.WriteConfig(ctx, []byte(`{"ttl":31}`), 0)
	return v, err
}

func FuzzConfigPatch(f *testing.F) {
	for _, s := range []struct{ target, patch string }{
		{`{"ttl":30}`, `{"ttl":20}`}, {`{"a":{"b":1}}`, `{"a":{"b":null,"c":[1,{"d":null}]}}`},
		{`{}`, `{"postgresql":{"parameters":{"x":null}}}`}, {`{"a":1}`, `null`}, {`[]`, `{}`}, {`{"a":1e400}`, `{}`},
		{`{"ttl":"x"}`, `{"ttl":1}`}, {`{"a":"\ud800"}`, `{"b":true}`},
	} {
		f.Add(s.target, s.patch)
	}
	f.Fuzz(func(t *testing.T, target, patch string) {
		out, err := MergePatch([]byte(target), []byte(patch))
		if err != nil {
			return
		}
		// The result is an object and applying the patch again changes
		// nothing (merge patches are idempotent).
		v, err := decodeValue(out)
		if m, ok := v.(map[string]any); err != nil || !ok || m == nil {
			t.Fatalf("result %q is not an object: %v", out, err)
		}
		again, err := MergePatch(out, []byte(patch))
		if err != nil || !jsonEqual(t, string(again), string(out)) {
			t.Fatalf("not idempotent: %s then %s (%v)", out, again, err)
		}
		// And the HTTP path never panics or answers outside its codes.
		cache := &StateCache{}
		cache.Store(primaryState())
		mgr := &fakeManager{config: []byte(target), rev: 3}
		w := do(testHandler(t, cache, mgr), "PATCH", "/config", patch, true)
		switch w.Code {
		case 200, 400, 411, 503:
		default:
			t.Fatalf("PATCH = %d %q", w.Code, w.Body)
		}
	})
}
