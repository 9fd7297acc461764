package page

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// acquire takes a stream slot, or answers 429.
func (s *server) acquire(w http.ResponseWriter) bool {
	select {
	case s.streams <- struct{}{}:
		return true
	default:
		writeProblem(w, probTooMany)
		return false
	}
}

func (s *server) release() { <-s.streams }

// keepaliveAfter is how long an event stream stays silent before it
// sends a beat event: the page's heartbeat (night mode raises its own
// alarm when its server falls silent), which also keeps proxies and the
// browser from closing an idle stream.
const keepaliveAfter = time.Second

// events is the page's live feed (Server-Sent Events, one JSON object
// per message): hello (the tab's id), a snapshot, then presence, status,
// noise, chime, alarm, stream, listen and pairing events. The tab's
// listens end with it.
func (s *server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeProblem(w, probBadRequest)
		return
	}
	if !s.acquire(w) {
		return
	}
	defer s.release()
	c, err := s.pool.addClient(r.TLS != nil)
	if err != nil {
		writeProblem(w, poolProblem(err))
		return
	}
	defer s.pool.removeClient(c)
	ctx := r.Context()
	if dev, ok := s.access.device(r); ok {
		// A removed phone's stream ends at once: the page then finds it
		// is no longer paired.
		var stop context.CancelFunc
		ctx, stop = context.WithCancel(ctx)
		defer stop()
		gone := s.access.devices.DeviceGone(dev.ID)
		go func() { // owned here: ends with ctx, which the defer cancels
			select {
			case <-gone:
				stop()
			case <-ctx.Done():
			}
		}()
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	fl.Flush()
	for {
		// A beat after keepaliveAfter without an event.
		nctx, cancel := context.WithTimeout(ctx, keepaliveAfter)
		m, err := c.sub.Next(nctx)
		cancel()
		switch {
		case err == nil:
			_, err = fmt.Fprintf(w, "data: %s\n\n", m.data)
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			_, err = fmt.Fprint(w, "data: {\"type\":\"beat\"}\n\n")
		}
		if err != nil { // the tab left, the pool closed, or the write failed
			return
		}
		fl.Flush()
	}
}
