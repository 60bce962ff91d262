package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pgha/pgha/dcs"
)

// Timeouts of REST calls. A switchover answers only when it is over, and
// the agents bound it by their own action timeout (60 s by default).
const (
	actionTimeout = 90 * time.Second
	maxReplyBytes = 64 << 10
)

// unreachableError means the request did not get an HTTP answer at all:
// the caller may fall back to the DCS.
type unreachableError struct{ err error }

func (e *unreachableError) Error() string { return "REST API unreachable: " + e.err.Error() }
func (e *unreachableError) Unwrap() error { return e.err }

// endpointURL turns a member's api_url (".../patroni") into the URL of
// endpoint on the same server.
func endpointURL(m *dcs.Member, endpoint string) (string, error) {
	u, err := url.Parse(m.APIURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("member %s has no usable api_url (%.60q)", m.Name, m.APIURL)
	}
	p := u.Path
	if i := strings.LastIndex(p, "/"); i >= 0 {
		p = p[:i]
	} else {
		p = ""
	}
	u.Path, u.RawPath, u.RawQuery, u.Fragment = p+"/"+endpoint, "", "", ""
	return u.String(), nil
}

// apiReply is a member's answer.
type apiReply struct {
	Status int
	Text   string
}

// call POSTs body (JSON, nil for none) to the member's endpoint with the
// configured basic auth. A transport failure is an *unreachableError.
func (a *App) call(ctx context.Context, m *dcs.Member, endpoint string, body any) (apiReply, error) {
	target, err := endpointURL(m, endpoint)
	if err != nil {
		return apiReply{}, &unreachableError{err}
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return apiReply{}, err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, actionTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, rd)
	if err != nil {
		return apiReply{}, &unreachableError{err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.Auth.Username != "" {
		req.SetBasicAuth(a.Auth.Username, a.Auth.Password)
	}
	client := a.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return apiReply{}, &unreachableError{err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes))
	return apiReply{Status: resp.StatusCode, Text: cleanCell(strings.TrimSpace(string(b)))}, nil
}

// actionResult is the JSON form of one member action.
type actionResult struct {
	Member  string `json:"member"`
	Status  int    `json:"status,omitempty"`
	Success bool   `json:"success"`
	Message string `json:"message"`
	// Via is "api" or "dcs" (the fallback).
	Via string `json:"via,omitempty"`
}
