package page

import (
	"errors"
	"net/http"
	"time"

	"github.com/cradle-monitor/cradle/appliance/monitor"
	"github.com/cradle-monitor/cradle/appliance/pairing"
)

// Phones on the monitor's host: a page pairs its phone with the setup
// code (POST devicePairPath, the one public API call besides the sign-in
// state) and gets its own cookie; a signed-in page lists the paired
// phones, renames them and revokes any of them. A revoked phone's
// cookie opens nothing from then on, its event streams end and the
// monitor closes its media connections (see events and directRelay).

// deviceCookie carries a phone's credential. The __Host- prefix makes the
// browser keep it Secure, for "/" and for this host only.
const deviceCookie = "__Host-cradle-device"

// devicePairPath pairs a phone.
const devicePairPath = "/api/devices/pair"

// deviceCookieAge is how long a phone keeps its cookie: the browsers'
// cap (400 days); revocation ends it sooner.
const deviceCookieAge = 400 * 24 * time.Hour

// deviceView is a phone as the page shows it.
type deviceView struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	PairedAt time.Time `json:"paired_at"`
	This     bool      `json:"this,omitempty"` // the phone asking
}

func viewOf(d monitor.Device, me string) deviceView {
	return deviceView{ID: d.ID, Name: d.Name, PairedAt: d.PairedAt, This: d.ID == me}
}

// pairDevice serves POST devicePairPath: {"name", "code"}. The monitor
// takes the attempt through its pairing window (per-address limits,
// wrong-code reports to every trusted listener and page).
func (s *server) pairDevice(w http.ResponseWriter, r *http.Request) {
	if s.access.devices == nil {
		writeProblem(w, probNotHere)
		return
	}
	var req struct {
		Name string `json:"name"`
		Code string `json:"code"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	src := remoteOf(r.RemoteAddr)
	cred, d, err := s.access.devices.PairDevice(r.Context(), src.Addr(), req.Code, req.Name)
	if err != nil {
		// Debug: a stranger may try as fast as the network allows (the
		// monitor itself records and reports each wrong code, once).
		s.log.Debug("page: a phone did not pair", "from", src.Addr().String(), "err", err)
		writeProblem(w, deviceProblem(err))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: deviceCookie, Value: cred, Path: "/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode, MaxAge: int(deviceCookieAge / time.Second)})
	s.pool.notify(event{Type: "devices"})
	writeJSON(w, http.StatusOK, map[string]any{"device": viewOf(d, d.ID)})
}

// devicesList serves GET /api/devices.
func (s *server) devicesList(w http.ResponseWriter, r *http.Request) {
	me, ok := s.access.device(r)
	if !ok {
		writeProblem(w, probNotHere)
		return
	}
	out := []deviceView{}
	for _, d := range s.access.devices.Devices() {
		out = append(out, viewOf(d, me.ID))
	}
	writeJSON(w, http.StatusOK, map[string]any{"devices": out})
}

// deviceRename serves POST /api/devices/{id}/rename: {"name"}.
func (s *server) deviceRename(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.access.device(r); !ok {
		writeProblem(w, probNotHere)
		return
	}
	var req struct {
		Name string `json:"name"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if err := s.access.devices.RenameDevice(r.Context(), r.PathValue("id"), req.Name); err != nil {
		writeProblem(w, deviceProblem(err))
		return
	}
	s.pool.notify(event{Type: "devices"})
	writeJSON(w, http.StatusOK, map[string]bool{"renamed": true})
}

// deviceRevoke serves POST /api/devices/{id}/revoke: any paired phone
// may remove any other (or itself), as `cradled revoke` does.
func (s *server) deviceRevoke(w http.ResponseWriter, r *http.Request) {
	me, ok := s.access.device(r)
	if !ok {
		writeProblem(w, probNotHere)
		return
	}
	var req struct{}
	if !readJSON(w, r, &req) {
		return
	}
	id := r.PathValue("id")
	if err := s.access.devices.RevokeDevice(r.Context(), id); err != nil {
		writeProblem(w, deviceProblem(err))
		return
	}
	s.log.Info("page: a phone was removed", "device", id, "by", me)
	s.pool.notify(event{Type: "devices"})
	writeJSON(w, http.StatusOK, map[string]bool{"revoked": true})
}

// deviceProblem says what went wrong with a phone's pairing or a change
// to the list, and what to do.
func deviceProblem(err error) Problem {
	switch {
	case errors.Is(err, monitor.ErrWrongCode):
		return probWrongCode
	case errors.Is(err, monitor.ErrDeviceName):
		return Problem{Code: "bad_name", status: http.StatusBadRequest, Message: "Give this phone a name of at most 64 characters.", Action: "For example \"Bedside phone\"."}
	case errors.Is(err, monitor.ErrUnknownDevice):
		return Problem{Code: "unknown_device", status: http.StatusNotFound, Message: "That phone is not paired (any more).", Action: "Reload the page to see the phones paired now."}
	case errors.Is(err, pairing.ErrWindowClosed):
		return Problem{Code: "pairing_closed", status: http.StatusConflict, Message: "The monitor is not taking new phones right now.",
			Action: "Press the button on the monitor once (its light blinks), or tap \"Add a phone\" on a phone already paired, then pair while it is open (a few minutes)."}
	case errors.Is(err, pairing.ErrBusy):
		return Problem{Code: "busy", status: http.StatusTooManyRequests, Message: "Another phone is pairing with the monitor right now.", Action: "Try again in a few seconds."}
	case errors.Is(err, pairing.ErrNoSession):
		return Problem{Code: "pairing_expired", status: http.StatusConflict, Message: "Pairing took too long, or the monitor's pairing ended meanwhile.", Action: "Press Pair again."}
	case errors.Is(err, pairing.ErrSourceLocked):
		return Problem{Code: "too_many_tries", status: http.StatusTooManyRequests, Message: "Too many wrong codes from this phone.",
			Action: "Check the code on the card, then open pairing again on the monitor (its button) and retry."}
	}
	return problemFor(err)
}
