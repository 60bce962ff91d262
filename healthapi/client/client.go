// Package client is the typed client of pgha's REST API: the endpoints that
// package healthapi serves, which are Patroni's. It is the one place where
// the wire format is written on the calling side: failover's peer queries,
// pgha-ctl and the test harnesses use it, and so can an embedder's tooling.
//
// A [Client] talks to one member, named by its api_url as published in its
// member key ("http://host:8008/patroni"). As Patroni does, GET /patroni
// goes to that URL itself and every other endpoint to its sibling on the
// same server ("http://host:8008/switchover"); POST /failsafe goes to the
// server's root (see [healthapi.FailsafeURL]). Every method takes a context,
// which is the only bound on a request: give it a deadline.
//
// Errors callers branch on:
//
//   - [ErrUnreachable]: no HTTP answer at all (connection refused, timeout,
//     TLS failure). The context's error is wrapped too when it ended.
//   - [*HTTPError]: the member answered with a status the method does not
//     take as success; it carries the status code and the answer's text.
//     errors.Is matches it against [ErrUnauthorized] (401), [ErrForbidden]
//     (403) and healthapi's sentinels by status: [healthapi.ErrInvalid]
//     (400), [healthapi.ErrNotFound] (404), [healthapi.ErrConflict] (409)
//     and [healthapi.ErrNotPossible] (412), the same mapping the handler
//     applies to a Manager's errors.
//   - [healthapi.ErrInvalid] also for a request that was not sent because
//     its input was invalid (a bad api_url, for instance).
//
// The package lives beside healthapi rather than inside it so that the
// server package stays a server; it imports healthapi for the types both
// sides share ([healthapi.BasicAuth], [healthapi.FailsafeRequest]) and for
// [healthapi.PostFailsafe], so that each part of the wire format has one
// home.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/pgha/pgha/healthapi"
)

// Bounds on what is read from a member, so that a broken or hostile one
// cannot make the caller read without end.
const (
	// MaxDocumentBytes bounds a JSON document (GET /patroni, /cluster,
	// /history, /config, /failsafe).
	MaxDocumentBytes = 1 << 20
	// MaxMessageBytes bounds a text answer (the actions' messages, error
	// texts); longer ones are cut.
	MaxMessageBytes = 64 << 10
)

// Sentinel errors; see the package documentation.
var (
	// ErrUnreachable is wrapped by every error of a request that got no
	// HTTP answer. An answer cut short after its status is not one: the
	// request reached the member.
	ErrUnreachable = errors.New("healthapi/client: member unreachable")
	// ErrUnauthorized matches an [*HTTPError] with status 401: the member
	// wants (other) basic-auth credentials.
	ErrUnauthorized = errors.New("healthapi/client: unauthorized")
	// ErrForbidden matches an [*HTTPError] with status 403: the member's
	// allowlist or client-certificate check refused the caller.
	ErrForbidden = errors.New("healthapi/client: forbidden")
)

// HTTPError is an answer whose status the method does not take as success.
type HTTPError struct {
	// Method and URL are the request's.
	Method, URL string
	// StatusCode is the answer's HTTP status.
	StatusCode int
	// Message is the answer's body as text, trimmed and cut at
	// [MaxMessageBytes]: Patroni's endpoints answer errors in plain text,
	// which patronictl prints.
	Message string
}

// Error implements error.
func (e *HTTPError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("healthapi/client: %s %s: HTTP %d", e.Method, e.URL, e.StatusCode)
	}
	return fmt.Sprintf("healthapi/client: %s %s: HTTP %d: %s", e.Method, e.URL, e.StatusCode, e.Message)
}

// Is matches the sentinel errors by status code (see the package
// documentation).
func (e *HTTPError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	case healthapi.ErrInvalid:
		return e.StatusCode == http.StatusBadRequest
	case healthapi.ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case healthapi.ErrConflict:
		return e.StatusCode == http.StatusConflict
	case healthapi.ErrNotPossible:
		return e.StatusCode == http.StatusPreconditionFailed
	}
	return false
}

// Options configure a [Client]. The zero value is a client without
// authentication over http.DefaultClient.
type Options struct {
	// HTTP sends the requests; nil means http.DefaultClient, or with TLS
	// set a client of its own. Its Timeout, if any, applies on top of the
	// contexts'.
	HTTP *http.Client
	// TLS, when set, is the TLS configuration of a transport made for
	// this Client (a clone of http.DefaultTransport). It cannot be
	// combined with HTTP: configure that client's transport instead. A
	// transport keeps its own connections, so build one Client per member
	// and reuse it rather than one per request.
	TLS *tls.Config
	// Auth, when set, is sent as basic authentication with every request
	// (the members' restapi.authentication). Credentials in the api_url
	// itself are dropped, never sent.
	Auth *healthapi.BasicAuth
}

// Client calls one member's REST API. It is safe for concurrent use.
type Client struct {
	apiURL *url.URL // as published, less user information and fragment
	http   *http.Client
	auth   *healthapi.BasicAuth
}

// New returns a Client for the member whose api_url is apiURL, an absolute
// http or https URL ("http://10.0.0.1:8008/patroni"). The error wraps
// [healthapi.ErrInvalid] when apiURL is not one, or when Options are
// contradictory; New sends nothing.
func New(apiURL string, o Options) (*Client, error) {
	u, err := url.Parse(apiURL)
	if err != nil {
		return nil, fmt.Errorf("healthapi/client: api_url %.80q: %w: %w", apiURL, healthapi.ErrInvalid, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("healthapi/client: api_url %.80q: %w: want http:// or https:// and a host", apiURL, healthapi.ErrInvalid)
	}
	if o.HTTP != nil && o.TLS != nil {
		return nil, fmt.Errorf("healthapi/client: %w: Options.HTTP and Options.TLS are both set", healthapi.ErrInvalid)
	}
	u.User, u.Fragment, u.RawFragment = nil, "", ""
	c := &Client{apiURL: u, http: o.HTTP, auth: o.Auth}
	switch {
	case o.TLS != nil:
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = o.TLS
		c.http = &http.Client{Transport: tr}
	case c.http == nil:
		c.http = http.DefaultClient
	}
	return c, nil
}

// APIURL returns the member's api_url as the Client uses it (without user
// information or fragment).
func (c *Client) APIURL() string { return c.apiURL.String() }

// URL returns the URL of endpoint ("switchover", "primary") on the
// member's server: the api_url with its last path segment replaced, as
// Patroni's urljoin(api_url, endpoint) does, without query.
func (c *Client) URL(endpoint string) string {
	u := *c.apiURL
	p := u.Path
	if i := strings.LastIndex(p, "/"); i >= 0 {
		p = p[:i]
	} else {
		p = ""
	}
	u.Path, u.RawPath, u.RawQuery, u.ForceQuery = p+"/"+strings.TrimPrefix(endpoint, "/"), "", "", false
	return u.String()
}

// answer is a member's reply, read up to a bound.
type answer struct {
	status int
	header http.Header
	body   []byte
	// readErr is set when the body could not be read to its end; body
	// holds what was read.
	readErr error
}

// message returns the body as text for messages: trimmed, cut at
// MaxMessageBytes.
func (a answer) message() string {
	b := a.body
	if len(b) > MaxMessageBytes {
		b = b[:MaxMessageBytes]
	}
	return string(bytes.TrimSpace(b))
}

// do sends one request and reads up to limit bytes of the answer. body, when
// not nil, is sent as JSON. A request that got no answer returns an error
// wrapping ErrUnreachable; one whose answer could not be read to its end
// returns the answer with readErr set.
func (c *Client) do(ctx context.Context, method, target string, body any, limit int64) (answer, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return answer{}, fmt.Errorf("healthapi/client: %s %s: encoding the request: %w", method, target, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return answer{}, fmt.Errorf("healthapi/client: %s %s: %w: %w", method, target, healthapi.ErrInvalid, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.auth != nil {
		req.SetBasicAuth(c.auth.Username, c.auth.Password)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// The *url.Error names the method and URL.
		return answer{}, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	a := answer{status: resp.StatusCode, header: resp.Header, body: b}
	if err != nil {
		// The member answered: the request reached it, whatever became of
		// the rest of the answer.
		a.readErr = fmt.Errorf("healthapi/client: %s %s: HTTP %d: reading the answer: %w", method, target, resp.StatusCode, err)
	}
	return a, nil
}

// httpError returns the *HTTPError of a.
func httpError(method, target string, a answer) *HTTPError {
	return &HTTPError{Method: method, URL: target, StatusCode: a.status, Message: a.message()}
}

// getJSON GETs endpoint's URL (target) and decodes a JSON document from an
// answer whose status is one of ok into v.
func (c *Client) getJSON(ctx context.Context, target string, v any, ok ...int) error {
	a, err := c.do(ctx, http.MethodGet, target, nil, MaxDocumentBytes)
	if err != nil {
		return err
	}
	if a.readErr != nil {
		return a.readErr
	}
	good := false
	for _, s := range ok {
		good = good || a.status == s
	}
	if !good {
		return httpError(http.MethodGet, target, a)
	}
	if len(a.body) > MaxDocumentBytes {
		return fmt.Errorf("healthapi/client: GET %s: HTTP %d: document longer than %d bytes", target, a.status, MaxDocumentBytes)
	}
	if err := json.Unmarshal(a.body, v); err != nil {
		return fmt.Errorf("healthapi/client: GET %s: HTTP %d: decoding: %w", target, a.status, err)
	}
	return nil
}
