package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pgha/pgha/dcs"
	"github.com/pgha/pgha/examples/internal/listing"
	"github.com/pgha/pgha/healthapi"
	"github.com/pgha/pgha/healthapi/client"
)

// Timeouts of REST calls. A switchover answers only when it is over, and
// the agents bound it by their own action timeout (60 s by default).
const actionTimeout = 90 * time.Second

// unreachableError means the request did not get an HTTP answer at all:
// the caller may fall back to the DCS.
type unreachableError struct{ err error }

func (e *unreachableError) Error() string { return "REST API unreachable: " + e.err.Error() }
func (e *unreachableError) Unwrap() error { return e.err }

// api returns the REST client of member m, with the configured HTTP
// client and basic auth.
func (a *App) api(m *dcs.Member) (*client.Client, error) {
	var auth *healthapi.BasicAuth
	if a.Auth.Username != "" {
		auth = &healthapi.BasicAuth{Username: a.Auth.Username, Password: a.Auth.Password}
	}
	c, err := client.New(m.APIURL, client.Options{HTTP: a.HTTP, Auth: auth})
	if err != nil {
		return nil, fmt.Errorf("member %s has no usable api_url (%.60q)", m.Name, m.APIURL)
	}
	return c, nil
}

// apiReply is a member's answer.
type apiReply struct {
	Status int
	Text   string
}

// call runs one action on the member's REST API (do, with one of
// client.Client's action methods) within actionTimeout and returns the
// member's answer whatever its status. An error means there was no answer
// at all, and is an *unreachableError.
func (a *App) call(ctx context.Context, m *dcs.Member, do func(context.Context, *client.Client) (client.Reply, error)) (apiReply, error) {
	api, err := a.api(m)
	if err != nil {
		return apiReply{}, &unreachableError{err}
	}
	ctx, cancel := context.WithTimeout(ctx, actionTimeout)
	defer cancel()
	r, err := do(ctx, api)
	var refused *client.HTTPError
	switch {
	case errors.As(err, &refused):
		return apiReply{Status: refused.StatusCode, Text: listing.CleanCell(refused.Message)}, nil
	case err != nil:
		return apiReply{}, &unreachableError{err}
	}
	return apiReply{Status: r.StatusCode, Text: listing.CleanCell(r.Message)}, nil
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
