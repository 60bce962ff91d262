package healthapi

import (
	"net/http"

	"github.com/pgha/pgha/dcs"
)

// serveCluster answers GET /cluster from the cached snapshot. Patroni reads
// the DCS live here; pgha does not, so that no request waits on the DCS.
func (h *Handler) serveCluster(w http.ResponseWriter) {
	s := h.src.State()
	if s == nil {
		h.writeJSON(w, http.StatusOK, buildCluster("", nil, false))
		return
	}
	h.writeJSON(w, http.StatusOK, buildCluster(s.Scope, s.Cluster, s.StandbyCluster))
}

// serveHistory answers GET /history: the history key's rows.
func (h *Handler) serveHistory(w http.ResponseWriter) {
	var hist dcs.History
	if s := h.src.State(); s != nil && s.Cluster != nil {
		hist = s.Cluster.History
	}
	if len(hist) == 0 {
		h.writeRawJSON(w, http.StatusOK, []byte("[]"))
		return
	}
	h.writeRawJSON(w, http.StatusOK, hist.Encode())
}

// serveConfig answers GET /config from the cached snapshot; 502 without one,
// as Patroni.
func (h *Handler) serveConfig(w http.ResponseWriter) {
	s := h.src.State()
	if s == nil || s.Cluster == nil || s.Cluster.Config == nil {
		h.writeText(w, http.StatusBadGateway, "Configuration is not available")
		return
	}
	h.writeRawJSON(w, http.StatusOK, s.Cluster.Config.Encode())
}

// serveFailsafe answers GET /failsafe: the failsafe key, or 502 when
// failsafe mode is off.
func (h *Handler) serveFailsafe(w http.ResponseWriter) {
	s := h.src.State()
	if s == nil || !s.FailsafeEnabled() {
		h.writeText(w, http.StatusBadGateway, "Failsafe mode is not enabled")
		return
	}
	f := s.Cluster.Failsafe
	if f == nil {
		f = dcs.Failsafe{}
	}
	h.writeRawJSON(w, http.StatusOK, f.Encode())
}
