package page

import (
	"context"
	"net/http"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/appliance/pairing"
)

// acquirePairing takes the one pairing or discovery slot, or answers 429.
func (s *server) acquirePairing(w http.ResponseWriter) bool {
	select {
	case s.pairing <- struct{}{}:
		return true
	default:
		writeProblem(w, probBusy)
		return false
	}
}

func (s *server) releasePairing() { <-s.pairing }

func (s *server) monitors(w http.ResponseWriter, r *http.Request) {
	ms, err := s.opt.Listener.Monitors()
	if err != nil {
		writeProblem(w, problemFor(err))
		return
	}
	if ms == nil {
		ms = []listener.PairedMonitor{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"monitors": ms})
}

// discover lists the monitors answering on the network, with their
// pairing flag.
func (s *server) discover(w http.ResponseWriter, r *http.Request) {
	if !s.opt.Discovery {
		writeProblem(w, probNoDiscovery)
		return
	}
	if !s.acquirePairing(w) {
		return
	}
	defer s.releasePairing()
	ms, err := s.opt.Listener.Discover(r.Context(), 2*time.Second)
	if err != nil && len(ms) == 0 {
		writeProblem(w, problemFor(err))
		return
	}
	paired := map[string]bool{}
	if pm, err := s.opt.Listener.Monitors(); err == nil {
		for _, m := range pm {
			paired[m.DeviceID] = true
		}
	}
	type found struct {
		Name        string   `json:"name"`
		DeviceID    string   `json:"device_id"`
		Fingerprint string   `json:"fingerprint"`
		Addrs       []string `json:"addrs"`
		Port        int      `json:"port"`
		Address     string   `json:"address"` // HOST:PORT to pair with
		PairingOpen bool     `json:"pairing_open"`
		Paired      bool     `json:"paired"`
	}
	out := []found{}
	for _, m := range ms {
		f := found{Name: m.Name, DeviceID: m.DeviceID, Fingerprint: m.Fingerprint, Port: m.Port, PairingOpen: m.PairingOpen, Paired: paired[m.DeviceID], Addrs: []string{}}
		for _, a := range m.Addrs {
			f.Addrs = append(f.Addrs, a.String())
		}
		if len(m.Addrs) > 0 {
			f.Address = m.AddrPort().String()
		}
		out = append(out, f)
	}
	writeJSON(w, http.StatusOK, map[string]any{"monitors": out})
}

// pairTimeout bounds one pairing.
const pairTimeout = 30 * time.Second

// pair pairs with a monitor: {"target": HOST:PORT or a discovered name,
// "code": "1234-5678"} or {"payload": "CR:...", "target": optional}.
func (s *server) pair(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Target  string `json:"target"`
		Code    string `json:"code"`
		Payload string `json:"payload"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	preq := listener.PairRequest{Target: req.Target}
	switch {
	case req.Payload != "":
		p, err := pairing.ParsePayload(req.Payload)
		if err != nil {
			writeProblem(w, problemFor(err))
			return
		}
		preq.Payload = &p
	case req.Code != "":
		c, err := pairing.ParseCode(req.Code)
		if err != nil {
			writeProblem(w, problemFor(err))
			return
		}
		preq.Code = c
		if req.Target == "" {
			writeProblem(w, Problem{Code: "no_target", status: http.StatusBadRequest,
				Message: "Which monitor? The setup code alone does not say.",
				Action:  "Pick a discovered monitor, or type its address (shown on the monitor, like 192.168.1.20:48080)."})
			return
		}
	default:
		writeProblem(w, problemFor(listener.ErrNoCode))
		return
	}
	if !s.acquirePairing(w) {
		return
	}
	defer s.releasePairing()
	ctx, cancel := context.WithTimeout(r.Context(), pairTimeout)
	defer cancel()
	m, err := s.opt.Listener.Pair(ctx, preq)
	if err != nil {
		s.log.Info("dashboard: pairing failed", "err", err)
		writeProblem(w, problemFor(err))
		return
	}
	s.pool.add(m)
	writeJSON(w, http.StatusOK, map[string]any{"monitor": m})
}

// pairingTimeout bounds the monitor's answer to pair_open or pair_close.
const pairingTimeout = 10 * time.Second

// pairingWindow opens (for the monitor's default time) or closes a
// monitor's pairing window, so that a new phone can pair with the setup
// code without anyone pressing the monitor's button. It answers with the
// window's state; every tab hears of it as a pairing event too.
func (s *server) pairingWindow(open bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct{}
		if !readJSON(w, r, &req) {
			return
		}
		id := r.PathValue("id")
		sess, err := s.pool.session(id)
		if err != nil {
			writeProblem(w, poolProblem(err))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), pairingTimeout)
		defer cancel()
		var st control.PairingState
		if open {
			st, err = sess.OpenPairing(ctx, 0)
		} else {
			st, err = sess.ClosePairing(ctx)
		}
		if err != nil {
			s.log.Info("dashboard: the monitor's pairing window was not changed", "monitor", id, "open", open, "err", err)
			writeProblem(w, problemFor(err))
			return
		}
		s.log.Info("dashboard: pairing window changed from the page", "monitor", id, "open", st.Open, "from", r.RemoteAddr)
		pv := pairingFrom(st, time.Now(), s.pool.pairing(id))
		writeJSON(w, http.StatusOK, map[string]any{"pairing": pv.at(pv.At)})
	}
}
