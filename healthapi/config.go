package healthapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/pgha/pgha/dcs"
)

// updateConfig handles PATCH /config (RFC 7396 merge patch, compare-and-swap
// on the config key's mod revision) and PUT /config (unconditional
// overwrite). The result must decode as a valid dynamic configuration.
func (h *Handler) updateConfig(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	body, eb := readBody(w, r, h.maxBody, false)
	if eb == nil {
		_, eb = decodeJSONObject(body)
	}
	if eb != nil {
		h.writeText(w, eb.code, eb.msg)
		return
	}
	var rev int64
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		h.writeText(w, http.StatusBadRequest, "Bad request: "+err.Error())
		return
	}
	data := compact.Bytes()
	if r.Method == http.MethodPatch {
		cur, err := h.mgr.ReadConfig(ctx)
		if err != nil {
			if errors.Is(err, dcs.ErrNotFound) || errors.Is(err, ErrNotFound) {
				h.writeText(w, http.StatusServiceUnavailable, "config is not set")
				return
			}
			h.fail(w, "read config", err)
			return
		}
		target := cur.Data
		if len(target) == 0 {
			target = []byte("{}")
		}
		merged, err := MergePatch(target, body)
		if err != nil {
			code := http.StatusBadRequest
			msg := "Bad request: " + err.Error()
			if _, terr := decodeJSONObject(target); terr != nil {
				code, msg = http.StatusServiceUnavailable, "stored config is not a JSON object"
			}
			h.writeText(w, code, msg)
			return
		}
		data, rev = merged, cur.ModRevision
		if rev == 0 {
			// No revision to compare: refuse rather than write blindly.
			h.writeText(w, http.StatusServiceUnavailable, "config revision unknown")
			return
		}
	}
	if _, err := dcs.DecodeConfig(data); err != nil {
		h.writeText(w, http.StatusBadRequest, "invalid configuration: "+err.Error())
		return
	}
	if err := h.mgr.WriteConfig(ctx, data, rev); err != nil {
		switch {
		case errors.Is(err, dcs.ErrConflict) || errors.Is(err, ErrConflict):
			h.writeText(w, http.StatusConflict, "config was changed concurrently; read it again and retry")
		case r.Method == http.MethodPut:
			h.log.Warn("healthapi: writing config", "err", err)
			h.writeText(w, http.StatusBadGateway, "failed to write config: "+err.Error())
		default:
			h.fail(w, "write config", err)
		}
		return
	}
	h.writeRawJSON(w, http.StatusOK, data)
}
