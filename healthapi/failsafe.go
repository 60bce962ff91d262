package healthapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/pg"
)

// FailsafeRequest is the body of POST /failsafe: a primary that cannot reach
// the DCS asks each member to confirm it as leader. The JSON names are
// Patroni's, so pgha and Patroni nodes understand each other's requests.
type FailsafeRequest struct {
	// Name is the asking primary's member name.
	Name string `json:"name"`
	// ConnURL is the primary's PostgreSQL URL, as in its member key.
	ConnURL string `json:"conn_url"`
	// APIURL is the primary's REST API URL, as in its member key.
	APIURL string `json:"api_url"`
	// Slots maps replication slot names to the primary's confirmed LSN for
	// each, so replicas can advance their copies while the DCS, which
	// normally carries these positions, is out of reach.
	Slots map[string]int64 `json:"slots,omitempty"`
	// TTL, a pgha extension, is how many seconds the primary extends its
	// term by when every member confirms it, so a member can keep it as
	// leader at least as long even when its own ttl is shorter. Patroni
	// neither sends nor reads it; 0 means not sent.
	TTL float64 `json:"ttl,omitempty"`
}

// FailsafeManager is implemented by a [Manager] that takes part in failsafe
// mode (failover.Controller will). The handler serves POST /failsafe only
// when the Manager implements it.
type FailsafeManager interface {
	// AcceptFailsafe records req.Name as the leader for one ttl, with its
	// conn_url, api_url and slots, because while the DCS is unreachable
	// these requests are the only proof that the primary is alive. It
	// returns this node's max(received, replayed) WAL position, or 0 when
	// unknown, which the primary uses to advance this member's slot.
	// It returns [ErrRunningAsLeader] (possibly wrapped) when this node
	// itself runs as primary. The handler has already authenticated the
	// request, checked that failsafe_mode is on in the cached config and
	// validated req.
	AcceptFailsafe(ctx context.Context, req FailsafeRequest) (lsn int64, err error)
}

// ErrRunningAsLeader is returned by [FailsafeManager.AcceptFailsafe] when
// this node itself runs as primary; POST /failsafe then answers 500
// "Running as a leader", as Patroni. [PostFailsafe] wraps it (with
// [ErrFailsafeRefused]) when a member answers so: two primaries exist.
var ErrRunningAsLeader = errors.New("healthapi: running as a leader")

// ErrFailsafeRefused is wrapped by [PostFailsafe] when the member answered
// but not with 200 "Accepted". Network errors do not wrap it: the member did
// not answer at all.
var ErrFailsafeRefused = errors.New("healthapi: failsafe refused")

// BasicAuth is a username and password for the REST API's basic
// authentication.
type BasicAuth struct {
	Username string
	Password string
}

// Wire constants shared by the handler and the client, so that the two
// cannot drift apart.
const (
	failsafePath     = "/failsafe"
	failsafeAccepted = "Accepted"
	failsafeLeader   = "Running as a leader"
	// failsafeLSNHeader carries the member's WAL position, in decimal as
	// Patroni writes it.
	failsafeLSNHeader = "Lsn"
)

// Limits on a failsafe request and answer. A member's URLs are short; the
// bound keeps a hostile request from filling logs or memory. Slot names are
// checked by pg.ValidSlotName.
const (
	maxFailsafeURLBytes      = 2048
	maxFailsafeResponseBytes = 64 << 10
	// maxFailsafeTTLSeconds (a day) only rejects absurd values; the
	// Manager applies its own limits.
	maxFailsafeTTLSeconds = 24 * 3600
)

// postFailsafe handles POST /failsafe with Patroni's codes: 200 "Accepted"
// with an lsn header, 500 "Running as a leader" on a primary, 502 when
// failsafe mode is off.
func (h *Handler) postFailsafe(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	fm, ok := h.mgr.(FailsafeManager)
	if !ok {
		h.writeText(w, http.StatusServiceUnavailable, "failsafe is not available on this node")
		return
	}
	// The cached config is what this node acts on, and during a DCS outage,
	// when failsafe requests arrive, it is all there is.
	if s := h.src.State(); s == nil || !s.FailsafeEnabled() {
		h.writeText(w, http.StatusBadGateway, "Failsafe mode is not enabled")
		return
	}
	o, ok := h.readObject(w, r, false)
	if !ok {
		return
	}
	req, eb := decodeFailsafeRequest(o)
	if eb != nil {
		h.writeText(w, eb.code, eb.msg)
		return
	}
	lsn, err := fm.AcceptFailsafe(ctx, req)
	if err != nil {
		msg := err.Error()
		if errors.Is(err, ErrRunningAsLeader) {
			// Patroni's exact text, which PostFailsafe recognizes as
			// ErrRunningAsLeader: the asking primary learns that a second
			// primary exists.
			msg = failsafeLeader
		}
		h.log.Warn("healthapi: failsafe request refused", "leader", req.Name, "err", err)
		h.writeText(w, http.StatusInternalServerError, msg)
		return
	}
	// Patroni omits the header when its position is unknown; 0 is unknown.
	if lsn > 0 {
		w.Header().Set(failsafeLSNHeader, strconv.FormatInt(lsn, 10))
	}
	h.writeText(w, http.StatusOK, failsafeAccepted)
}

// decodeFailsafeRequest reads the members Patroni sends; others are
// ignored, as Patroni ignores them.
func decodeFailsafeRequest(o jsonObject) (FailsafeRequest, *errBody) {
	var req FailsafeRequest
	var e1, e2, e3 *errBody
	req.Name, e1 = o.str("name")
	req.ConnURL, e2 = o.str("conn_url")
	req.APIURL, e3 = o.str("api_url")
	if eb := firstErr(e1, e2, e3); eb != nil {
		return FailsafeRequest{}, eb
	}
	if raw, ok := o["ttl"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &req.TTL); err != nil {
			return FailsafeRequest{}, badBody("field \"ttl\" must be a number of seconds")
		}
	}
	if raw, ok := o["slots"]; ok && string(raw) != "null" {
		var slots map[string]json.RawMessage
		if err := json.Unmarshal(raw, &slots); err != nil || slots == nil {
			return FailsafeRequest{}, badBody("field \"slots\" must be an object of slot names to LSNs")
		}
		for name, v := range slots {
			if req.Slots == nil {
				req.Slots = make(map[string]int64, len(slots))
			}
			var lsn int64
			// Unmarshalling into int64 refuses fractions, exponents,
			// strings and values out of range.
			if err := json.Unmarshal(v, &lsn); err != nil {
				return FailsafeRequest{}, badBody("slot %s: LSN must be a non-negative integer", quote(name))
			}
			req.Slots[name] = lsn
		}
	}
	if err := req.validate(); err != nil {
		return FailsafeRequest{}, badBody("%s", err.Error())
	}
	return req, nil
}

// validate checks a request on both sides of the wire: the handler refuses
// what PostFailsafe would never send.
func (req FailsafeRequest) validate() error {
	if req.Name == "" {
		return errors.New("field \"name\" is required")
	}
	// Member names are the ones the DCS accepts, the same rule as the
	// switchover and failover bodies.
	if dcs.ValidateName(req.Name) != nil {
		return fmt.Errorf("invalid member name %s", quote(req.Name))
	}
	for _, f := range []struct{ key, v string }{{"conn_url", req.ConnURL}, {"api_url", req.APIURL}} {
		if len(f.v) > maxFailsafeURLBytes || !printable(f.v) {
			return fmt.Errorf("field %q must be at most %d bytes of printable text", f.key, maxFailsafeURLBytes)
		}
	}
	// The negated comparison also catches NaN.
	if !(req.TTL >= 0 && req.TTL <= maxFailsafeTTLSeconds) {
		return fmt.Errorf("field \"ttl\" must be between 0 and %d seconds", maxFailsafeTTLSeconds)
	}
	for name, lsn := range req.Slots {
		if pg.ValidSlotName(name) != nil {
			return fmt.Errorf("invalid slot name %s", quote(name))
		}
		if lsn < 0 {
			return fmt.Errorf("slot %s: LSN must be a non-negative integer", quote(name))
		}
	}
	return nil
}

// printable reports valid UTF-8 without control characters, which could
// forge log lines or headers downstream.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return false
		}
	}
	return true
}

// FailsafeURL returns the POST /failsafe URL of the member whose API URL is
// apiURL: the same scheme://host:port with path /failsafe, as Patroni
// derives it. User information, path, query and fragment are dropped, so
// credentials travel only through [BasicAuth]. The error wraps [ErrInvalid]
// when apiURL is not an absolute http or https URL.
func FailsafeURL(apiURL string) (string, error) {
	u, err := url.Parse(apiURL)
	if err != nil {
		return "", fmt.Errorf("healthapi: member API URL %s: %w: %w", quote(apiURL), ErrInvalid, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("healthapi: member API URL %s: %w: want http:// or https:// and a host", quote(apiURL), ErrInvalid)
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: failsafePath}).String(), nil
}

// PostFailsafe sends req to the member whose API URL is apiURL (its /patroni
// URL as published in the member key or the failsafe key; the request goes
// to [FailsafeURL]) and returns the member's lsn header (0 when absent or
// not a non-negative decimal integer, as Patroni ignores it then). It
// succeeds only on 200 with body "Accepted". auth, when non-nil, is applied
// to the request (basic auth). A nil client means http.DefaultClient.
//
// ctx should carry a short deadline (Patroni allows 2 s): the caller is a
// primary that must decide before its lease would have expired. Errors name
// the member URL and, when it answered, the HTTP status; they wrap
// [ErrFailsafeRefused] when the member answered otherwise than 200
// "Accepted", and also [ErrRunningAsLeader] when it answered 500 "Running as
// a leader". An invalid apiURL or req wraps [ErrInvalid] and sends nothing.
func PostFailsafe(ctx context.Context, client *http.Client, apiURL string, auth *BasicAuth, req FailsafeRequest) (lsn int64, err error) {
	target, err := FailsafeURL(apiURL)
	if err != nil {
		return 0, err
	}
	if err := req.validate(); err != nil {
		return 0, fmt.Errorf("healthapi: POST %s: %w: %w", target, ErrInvalid, err)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return 0, fmt.Errorf("healthapi: POST %s: encoding the request: %w", target, err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("healthapi: POST %s: %w", target, err)
	}
	hr.Header.Set("Content-Type", "application/json")
	if auth != nil {
		hr.SetBasicAuth(auth.Username, auth.Password)
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(hr)
	if err != nil {
		// The *url.Error already names the method and URL.
		return 0, fmt.Errorf("healthapi: failsafe: %w", err)
	}
	defer resp.Body.Close()
	// The answer is one word; the bound keeps a broken or hostile member
	// from making the primary read without end.
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxFailsafeResponseBytes+1))
	if err != nil {
		return 0, fmt.Errorf("healthapi: POST %s: HTTP %d: reading the answer: %w", target, resp.StatusCode, err)
	}
	if len(answer) > maxFailsafeResponseBytes {
		return 0, fmt.Errorf("healthapi: POST %s: %w: HTTP %d: answer longer than %d bytes",
			target, ErrFailsafeRefused, resp.StatusCode, maxFailsafeResponseBytes)
	}
	text := strings.TrimSpace(string(answer))
	switch {
	case resp.StatusCode == http.StatusOK && text == failsafeAccepted:
	case resp.StatusCode == http.StatusInternalServerError && text == failsafeLeader:
		return 0, fmt.Errorf("healthapi: POST %s: %w: HTTP %d: %w", target, ErrFailsafeRefused, resp.StatusCode, ErrRunningAsLeader)
	default:
		return 0, fmt.Errorf("healthapi: POST %s: %w: HTTP %d: %s", target, ErrFailsafeRefused, resp.StatusCode, quote(text))
	}
	// A malformed header does not undo the acceptance: refusing here would
	// demote a primary that every member confirmed.
	if v, err := strconv.ParseInt(strings.TrimSpace(resp.Header.Get(failsafeLSNHeader)), 10, 64); err == nil && v > 0 {
		lsn = v
	}
	return lsn, nil
}
