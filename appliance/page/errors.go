package page

import (
	"context"
	"errors"
	"net/http"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/appliance/listener/webrelay"

	"github.com/cradle-monitor/cradle/appliance/pairing"
)

// Problem is an error as the page shows it: a stable code the page can
// switch on, what happened and what to do, in words for a parent. It is
// the JSON body of every failed API call ({"code":..,"message":..,"action":..}).
type Problem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Action  string `json:"action,omitempty"`
	Detail  string `json:"detail,omitempty"` // the Go error, for a bug report
	status  int
}

// problems maps the listener's sentinel errors to the dashboard's words.
// The advice in appliance/control/codes.go names CLI commands; a parent
// on this page gets these instead. The first matching row wins.
var problems = []struct {
	errs []error
	p    Problem
}{
	{[]error{control.ErrFingerprintMismatch, identity.ErrFingerprintMismatch}, Problem{Code: "identity_changed", status: http.StatusConflict,
		Message: "This monitor's identity has changed: it is not the device you paired, or it was reset.",
		Action:  "If you reset the monitor, remove it here (Forget) and pair it again with its setup code."}},
	{[]error{listener.ErrImpostor}, Problem{Code: "code_mismatch", status: http.StatusForbidden,
		Message: "The monitor could not prove it knows this setup code.",
		Action:  "Check the code on the monitor and try again. If it happens again, the device at that address may not be your monitor."}},
	{[]error{control.ErrUntrusted, control.ErrRevoked}, Problem{Code: "not_paired", status: http.StatusForbidden,
		Message: "This listener is not paired with the monitor, or the monitor removed it.",
		Action:  "Pair it again on this page with the monitor's setup code."}},
	{[]error{control.ErrPairingFailed}, Problem{Code: "wrong_code", status: http.StatusForbidden,
		Message: "The monitor did not accept this setup code.",
		Action:  "Check the 8-digit code on the monitor's label or screen and try again."}},
	{[]error{control.ErrPairingClosed}, Problem{Code: "window_closed", status: http.StatusConflict,
		Message: "The monitor is not accepting new parents right now.",
		Action:  "Press the button on the monitor to open pairing, then try again within a few minutes."}},
	{[]error{control.ErrBusy}, Problem{Code: "busy", status: http.StatusServiceUnavailable,
		Message: "The monitor is busy: another device is pairing with it, or too many are listening.",
		Action:  "Wait a minute and try again."}},
	{[]error{control.ErrPairingLocked}, Problem{Code: "too_many_attempts", status: http.StatusLocked,
		Message: "This device tried too many wrong setup codes while the monitor's pairing was open.",
		Action:  "Check the 8-digit code on the monitor's card. Then press the monitor's button (or Add a phone on a paired phone's dashboard) to open pairing again, and try once more."}},
	{[]error{listener.ErrOffline}, Problem{Code: "offline", status: http.StatusServiceUnavailable,
		Message: "The monitor is offline right now.",
		Action:  "Check that it is switched on and on the same Wi-Fi as this device; the card turns green when it is back. Then try again."}},
	{[]error{control.ErrBadRequest}, Problem{Code: "refused", status: http.StatusConflict,
		Message: "The monitor refused the request.",
		Action:  "Reload the page and try again. If it keeps happening, update Cradle on this computer and on the monitor."}},
	{[]error{listener.ErrUnreachable, listener.ErrNotFound, control.ErrIdleTimeout, context.DeadlineExceeded}, Problem{Code: "unreachable", status: http.StatusGatewayTimeout,
		Message: "The monitor did not answer.",
		Action:  "Check that it is switched on and on the same Wi-Fi as this device, then try again."}},
	{[]error{control.ErrGoingAway}, Problem{Code: "restarting", status: http.StatusServiceUnavailable,
		Message: "The monitor is restarting.",
		Action:  "Wait a moment: it reconnects by itself."}},
	{[]error{pairing.ErrCodeLength, pairing.ErrCodeDigits, pairing.ErrCodeTrivial, listener.ErrNoCode}, Problem{Code: "bad_code", status: http.StatusBadRequest,
		Message: "That is not a setup code.",
		Action:  "Type the 8 digits shown on the monitor, like 1234-5678, or paste its whole setup text (it starts with CR:)."}},
	{[]error{pairing.ErrNotPayload, pairing.ErrPayloadCheck, pairing.ErrPayloadInvalid}, Problem{Code: "bad_payload", status: http.StatusBadRequest,
		Message: "That setup text could not be read.",
		Action:  "Copy or scan the whole setup text again (it starts with CR:), or type the 8-digit code instead."}},
	{[]error{pairing.ErrPayloadVersion}, Problem{Code: "update_needed", status: http.StatusBadRequest,
		Message: "This monitor uses a newer setup format.",
		Action:  "Update Cradle on this computer, then pair again."}},
	{[]error{webrelay.ErrTooManyPeers}, Problem{Code: "too_many", status: http.StatusServiceUnavailable,
		Message: "Too many pages are already listening through this listener.",
		Action:  "Stop listening in another tab or on another phone, then try again."}},
	{[]error{webrelay.ErrBadOffer}, Problem{Code: "browser_unsupported", status: http.StatusBadRequest,
		Message: "This browser asked for the sound in a way the listener cannot serve.",
		Action:  "Reload the page, or use a current Chrome, Firefox or Safari."}},
	{[]error{webrelay.ErrClosed, listener.ErrSessionClosed}, Problem{Code: "stopping", status: http.StatusServiceUnavailable,
		Message: "The listener is stopping, or this monitor's connection ended.",
		Action:  "Reload the page in a moment."}},
	{[]error{listener.ErrHistoryTooLong}, Problem{Code: "history_too_long", status: http.StatusBadGateway,
		Message: "The monitor's history for this time was too long to read at once.",
		Action:  "Look at one night at a time. If it keeps happening, update Cradle on this computer and on the monitor."}},
	{[]error{listener.ErrUnknownMonitor}, Problem{Code: "unknown_monitor", status: http.StatusNotFound,
		Message: "This monitor is not paired with this listener.",
		Action:  "Pair it first."}},
	{[]error{listener.ErrAmbiguous}, Problem{Code: "ambiguous", status: http.StatusConflict,
		Message: "Several monitors match that name.",
		Action:  "Pick the monitor from the list of discovered monitors, or give its address."}},
}

// problemFor turns err into what the page shows.
func problemFor(err error) Problem {
	for _, row := range problems {
		for _, e := range row.errs {
			if errors.Is(err, e) {
				p := row.p
				p.Detail = err.Error()
				return p
			}
		}
	}
	return Problem{Code: "error", status: http.StatusInternalServerError,
		Message: "Something went wrong.", Action: "Try again; if it keeps happening, restart the dashboard on the computer.", Detail: err.Error()}
}

// Problems the server itself reports.
var (
	probBadRequest    = Problem{Code: "bad_request", status: http.StatusBadRequest, Message: "The page sent a request this listener does not understand.", Action: "Reload the page."}
	probTooLarge      = Problem{Code: "too_large", status: http.StatusRequestEntityTooLarge, Message: "The request is too large.", Action: "Reload the page."}
	probUnauthorized  = Problem{Code: "unauthorized", status: http.StatusUnauthorized, Message: "This page is not signed in to the listener.", Action: "Open the link (or scan the QR code) that cradle dashboard printed, with its #token part."}
	probForbidden     = Problem{Code: "forbidden", status: http.StatusForbidden, Message: "This request came from another site or an unknown address and was refused.", Action: "Open the dashboard from the link that cradle dashboard printed."}
	probTooMany       = Problem{Code: "too_many", status: http.StatusTooManyRequests, Message: "Too many pages or streams are open on this listener.", Action: "Close some dashboard tabs and try again."}
	probUnknownMon    = Problem{Code: "unknown_monitor", status: http.StatusNotFound, Message: "This monitor is not paired with this listener.", Action: "Reload the page, or pair it first."}
	probTabGone       = Problem{Code: "tab_gone", status: http.StatusConflict, Message: "This page lost its connection to the listener.", Action: "Wait for it to reconnect, or reload the page."}
	probNotListening  = Problem{Code: "not_listening", status: http.StatusConflict, Message: "This page is not listening to that monitor.", Action: "Press Listen first."}
	probNoRelay       = Problem{Code: "relay_unavailable", status: http.StatusServiceUnavailable, Message: "Live audio in the browser is not available in this version of the listener.", Action: "Use cradle listen in a terminal meanwhile."}
	probNoInfo        = Problem{Code: "not_implemented", status: http.StatusNotImplemented, Message: "This listener cannot ask the monitor for its details yet.", Action: "Update Cradle on this computer and on the monitor."}
	probNoDiscovery   = Problem{Code: "discovery_off", status: http.StatusNotFound, Message: "Looking for monitors on the network is switched off.", Action: "Restart cradle dashboard without --mdns=false, or pair with the monitor's address."}
	probNotPaired     = Problem{Code: "unauthorized", status: http.StatusUnauthorized, Message: "This phone is not paired with the monitor (or it was removed).", Action: "Pair it with the setup code from the monitor's card."}
	probNotHere       = Problem{Code: "not_here", status: http.StatusNotFound, Message: "This page does not do that here.", Action: "Reload the page."}
	probWrongCode     = Problem{Code: "wrong_code", status: http.StatusForbidden, Message: "That is not the monitor's setup code.", Action: "Check the 8 digits on the monitor's card and try again. Every paired phone is told of wrong codes."}
	probNoHistory     = Problem{Code: "no_history", status: http.StatusNotImplemented, Message: "This monitor does not keep a sound history yet.", Action: "Update Cradle on the monitor."}
	probBadRange      = Problem{Code: "bad_request", status: http.StatusBadRequest, Message: "The page asked for the sound history of a time that is not a night or a range.", Action: "Reload the page."}
	probBadSound      = Problem{Code: "bad_request", status: http.StatusBadRequest, Message: "The page asked for a sound or a timer the monitor does not have.", Action: "Reload the page."}
	probNoSpeaker     = Problem{Code: "no_speaker", status: http.StatusConflict, Message: "This monitor has no speaker.", Action: "Plug a USB speaker into the monitor and restart it, then try again."}
	probSoundBusy     = Problem{Code: "busy", status: http.StatusTooManyRequests, Message: "The monitor's sound was changed a moment ago.", Action: "Wait a few seconds and try again."}
	probNoTalk        = Problem{Code: "talk_unavailable", status: http.StatusServiceUnavailable, Message: "Talking to the nursery is not available from this page.", Action: "Use cradle talk in a terminal meanwhile."}
	probTalkBusy      = Problem{Code: "talk_busy", status: http.StatusConflict, Message: "Someone else is talking to the nursery.", Action: "Wait until they stop, then hold the button again."}
	probTalkNoSpeaker = Problem{Code: "no_speaker", status: http.StatusConflict, Message: "This monitor has no speaker, so nobody can talk to the nursery.", Action: "Plug a USB speaker into the monitor and restart it."}
	probBusy          = Problem{Code: "busy", status: http.StatusTooManyRequests, Message: "Another pairing or search is running on this listener.", Action: "Wait for it to finish and try again."}
)

// refuse writes the page's words for the guard's refusals.
func (s *server) refuse(w http.ResponseWriter, _ *http.Request, why Refusal) {
	switch why {
	case RefusedUnauthorized:
		if s.access.devices != nil {
			writeProblem(w, probNotPaired)
			return
		}
		writeProblem(w, probUnauthorized)
	case RefusedHost:
		writeProblem(w, Problem{Code: "unknown_host", status: why.Status(), Message: probForbidden.Message, Action: probForbidden.Action})
	case RefusedOrigin:
		writeProblem(w, probForbidden)
	case RefusedMediaType:
		writeProblem(w, Problem{Code: "bad_request", status: why.Status(), Message: probBadRequest.Message, Action: probBadRequest.Action})
	case RefusedTooLarge:
		writeProblem(w, probTooLarge)
	default:
		writeProblem(w, probUnauthorized)
	}
}

func writeProblem(w http.ResponseWriter, p Problem) {
	if p.status == 0 {
		p.status = http.StatusInternalServerError
	}
	writeJSON(w, p.status, p)
}

// poolProblem maps the pool's errors.
func poolProblem(err error) Problem {
	switch {
	case errors.Is(err, errUnknownMonitor):
		return probUnknownMon
	case errors.Is(err, errTabGone):
		return probTabGone
	case errors.Is(err, errTooMany):
		return probTooMany
	case errors.Is(err, errNotListening):
		return probNotListening
	case errors.Is(err, errUnauthorized):
		return probNotPaired
	}
	return deviceProblem(err)
}
