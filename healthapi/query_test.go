package healthapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/pgha/pgha/dcs"
)

func TestParseLag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "0", want: 0},
		{in: "1048576", want: 1 << 20},
		{in: "512B", want: 512},
		{in: "16kB", want: 16 << 10},
		{in: "16KB", want: 16 << 10},
		{in: "10MB", want: 10 << 20},
		{in: "10 mb", want: 10 << 20},
		{in: "1GB", want: 1 << 30},
		{in: "1TB", want: 1 << 40},
		{in: "1.5GB", want: 3 << 29},
		{in: " 7 ", want: 7},
		{in: "", bad: true},
		{in: "MB", bad: true},
		{in: "-1", bad: true},
		{in: "10XB", bad: true},
		{in: "1e9", bad: true},
		{in: "1.2.3", bad: true},
		{in: ".", bad: true},
		{in: "9999999999TB", bad: true},
		{in: "99999999999999999999", bad: true},
	} {
		got, err := ParseLag(tc.in)
		if tc.bad {
			if !errors.Is(err, ErrBadQuery) {
				t.Errorf("ParseLag(%q) = %d, %v; want ErrBadQuery", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseLag(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func FuzzLagParam(f *testing.F) {
	for _, s := range []string{"0", "1024", "16kB", "10MB", "1GB", "1.5TB", "x", "", "10 MB", "1e3", "18446744073709551616", "1.7976931348623157e308"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseLag(s)
		if err != nil {
			if !errors.Is(err, ErrBadQuery) {
				t.Fatalf("error not wrapping ErrBadQuery: %v", err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("ParseLag(%q) = %d < 0", s, n)
		}
	})
}

// FuzzHealthQuery feeds arbitrary query strings to every health path: the
// answer is 200, 503 or 400, never a panic.
func FuzzHealthQuery(f *testing.F) {
	for _, s := range []string{"lag=1MB", "replication_state=streaming", "tag_zone=a&tag_x=", "mode=write&lag=0", "lag=%zz", "tag_=1", "lag=1&lag=x"} {
		f.Add("/replica", s)
	}
	f.Add("/readiness", "mode=apply")
	f.Add("/streaming", "lag=16MB")
	cache := &StateCache{}
	cache.Store(replicaState())
	h := testHandler(f, cache, nil)
	f.Fuzz(func(t *testing.T, path, query string) {
		if v, err := url.ParseQuery(query); err == nil {
			if _, err := parseHealthQuery(v); err != nil && !errors.Is(err, ErrBadQuery) {
				t.Fatalf("query %q: error not wrapping ErrBadQuery: %v", query, err)
			}
		}
		// Built by hand: httptest.NewRequest panics on targets that a
		// real server would refuse before reaching the handler.
		u := &url.URL{Path: "/" + path, RawQuery: query}
		r := &http.Request{Method: "GET", URL: u, Header: http.Header{}, RemoteAddr: "127.0.0.1:1"}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case 200, 503, 400, 404:
		default:
			t.Fatalf("GET %s = %d", u, w.Code)
		}
	})
}

func TestTagFilterValues(t *testing.T) {
	st := with(replicaState(), func(s *NodeState) {
		s.Tags = dcs.Tags{"s": "Abc", "b": true, "f": false, "n": json.Number("2"), "fl": 1.5, "i": 3, "nil": nil, "obj": map[string]any{"K": "V"}}
	})
	cache := &StateCache{}
	cache.Store(st)
	h := testHandler(t, cache, nil)
	for q, code := range map[string]int{
		"tag_s=Abc": 200, "tag_s=abc": 503, "tag_b=true": 200, "tag_b=True": 503, "tag_f=false": 200,
		"tag_n=2": 200, "tag_fl=1.5": 200, "tag_i=3": 200, "tag_nil=none": 200, `tag_obj={"k":"v"}`: 200,
		"tag_s=Abc&tag_b=false": 503,
	} {
		vals, _ := url.ParseQuery(q)
		u := &url.URL{Path: "/replica", RawQuery: vals.Encode()}
		if c := do(h, "HEAD", u.String(), "", false).Code; c != code {
			t.Errorf("/replica?%s = %d, want %d", q, c, code)
		}
	}
}
