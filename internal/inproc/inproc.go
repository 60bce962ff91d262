// Package inproc serves an HTTP request with a handler in the same
// process, as if it had crossed a network: for test harnesses whose nodes
// reach each other's health APIs without sockets (failover/failovertest,
// internal/sim).
package inproc

import (
	"net/http"
	"net/http/httptest"
)

// Serve hands req to h as net/http would hand it to a server's handler (a
// RequestURI, the given remote address, a non-nil body) and returns the
// response as a client would get it. The caller still closes req.Body, as
// an http.RoundTripper must.
func Serve(h http.Handler, req *http.Request, remoteAddr string) *http.Response {
	sr := req.Clone(req.Context())
	sr.RequestURI = req.URL.RequestURI()
	sr.RemoteAddr = remoteAddr
	if sr.Body == nil {
		sr.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, sr)
	resp := rec.Result()
	resp.Request = req
	return resp
}
