package inproc

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestServe: the handler sees what a server's handler would, and the
// response carries its status, body and the original request.
func TestServe(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, r.RequestURI+" "+r.RemoteAddr+" "+string(body))
	})
	for _, tc := range []struct {
		name string
		body io.Reader
		want string
	}{
		{"no body", nil, "/patroni?x=1 n1:0 "},
		{"body", strings.NewReader("hi"), "/patroni?x=1 n1:0 hi"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, "http://n2:8008/patroni?x=1", tc.body)
			if err != nil {
				t.Fatal(err)
			}
			resp := Serve(h, req, "n1:0")
			got, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusAccepted || string(got) != tc.want || resp.Request != req {
				t.Fatalf("status %d body %q request %p, want 202 %q %p", resp.StatusCode, got, resp.Request, tc.want, req)
			}
		})
	}
}
