package healthapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// errBody describes a request body the handler refuses; code is the status.
type errBody struct {
	code int
	msg  string
}

func badBody(format string, args ...any) *errBody {
	return &errBody{code: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// readBody reads the (size-limited) body. An empty body is an error unless
// optional.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, optional bool) ([]byte, *errBody) {
	if r.Body == nil {
		r.Body = http.NoBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, &errBody{code: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("request body larger than %d bytes", limit)}
		}
		return nil, badBody("reading request body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 && !optional {
		if r.ContentLength <= 0 && r.Header.Get("Content-Length") == "" && len(r.TransferEncoding) == 0 {
			return nil, &errBody{code: http.StatusLengthRequired, msg: "Content-Length required"}
		}
		return nil, badBody("empty request body: a JSON object is required")
	}
	return body, nil
}

// jsonObject decodes a JSON object, keeping each member raw; numbers stay
// exact. An empty body is an empty object.
type jsonObject map[string]json.RawMessage

func decodeJSONObject(body []byte) (jsonObject, *errBody) {
	if len(bytes.TrimSpace(body)) == 0 {
		return jsonObject{}, nil
	}
	var o jsonObject
	d := json.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(&o); err != nil {
		return nil, badBody("Bad request: body is not a JSON object: %v", err)
	}
	if o == nil {
		return nil, badBody("Bad request: body is not a JSON object")
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, badBody("Bad request: trailing data after the JSON object")
	}
	return o, nil
}

// str returns a string member; absent and null are "".
func (o jsonObject) str(key string) (string, *errBody) {
	raw, ok := o[key]
	if !ok || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", badBody("field %q must be a string", key)
	}
	return s, nil
}

// boolean accepts JSON booleans and the strings Patroni accepts.
func (o jsonObject) boolean(key string) (bool, *errBody) {
	raw, ok := o[key]
	if !ok || string(raw) == "null" {
		return false, nil
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch strings.ToLower(s) {
		case "true", "yes", "on", "1":
			return true, nil
		case "false", "no", "off", "0", "":
			return false, nil
		}
	}
	return false, badBody("field %q must be a boolean", key)
}

// parseSchedule parses a scheduled time for action; a time zone is
// mandatory and the time must not be in the past (Patroni's rules and
// messages).
func parseSchedule(s, action string, now time.Time) (time.Time, *errBody) {
	s = strings.TrimSpace(s)
	var t time.Time
	var err error
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02T15:04Z07:00"} {
		if t, err = time.Parse(layout, s); err == nil {
			break
		}
	}
	if err != nil {
		for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04"} {
			if _, e := time.Parse(layout, s); e == nil {
				return time.Time{}, badBody("Timezone information is mandatory for the scheduled %s", action)
			}
		}
		return time.Time{}, badBody("Unable to parse scheduled timestamp. It should be in an unambiguous format, e.g. ISO 8601")
	}
	if t.Before(now) {
		return time.Time{}, &errBody{code: http.StatusUnprocessableEntity, msg: fmt.Sprintf("Cannot schedule %s in the past", action)}
	}
	return t, nil
}

// parseTimeout accepts seconds as a number or string, or a Go duration.
func parseTimeout(raw json.RawMessage) (time.Duration, *errBody) {
	var f float64
	if json.Unmarshal(raw, &f) != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, badBody("Timeout must be a number of seconds or a duration such as \"30s\"")
		}
		s = strings.TrimSpace(s)
		if d, err := time.ParseDuration(s); err == nil {
			f = d.Seconds()
		} else if v, err := strconv.ParseFloat(s, 64); err == nil {
			f = v
		} else {
			return 0, badBody("Timeout must be a number of seconds or a duration such as \"30s\"")
		}
	}
	if math.IsNaN(f) || f <= 0 || f > 365*24*3600 {
		return 0, badBody("Timeout must be a positive number of seconds")
	}
	return time.Duration(f * float64(time.Second)), nil
}

// parsePGVersion turns "15.2" or "9.6.24" into server_version_num.
func parsePGVersion(s string) (int, bool) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) < 1 || len(parts) > 3 {
		return 0, false
	}
	nums := make([]int, 3)
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 99 && i > 0 || n > 999 {
			return 0, false
		}
		nums[i] = n
	}
	if nums[0] >= 10 {
		if len(parts) > 2 {
			return 0, false
		}
		return nums[0]*10000 + nums[1], true
	}
	return nums[0]*10000 + nums[1]*100 + nums[2], true
}
