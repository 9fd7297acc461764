package page

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/pion/rtp"

	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/appliance/listener/alarm"
	"github.com/cradle-monitor/cradle/media"
)

// The night stream (GET /api/monitors/{id}/night.mp3, webrelay.ServeMP3):
// the continuous MP3 a locked phone plays all night. On the dashboard's
// host it is the monitor's session, whose alarm (link lost, audio lost,
// microphone fault) the stream carries. On the monitor's host there is no
// link to lose: nightWatch is the alarm, fed by the monitor's own frames.

// nightWatch is the monitor's host's alarm for its night streams: one
// alarm.Machine, listening while any night stream is open, fed by a
// subscription to the monitor's frames of its own. Its changes go to
// every night stream (inside the sound) and to every page (the card's
// alarm banner, through the pool), and POST ack acknowledges it.
type nightWatch struct {
	h       MonitorHost
	publish func(alarm.State) // to the pages
	now     func() time.Time

	mu     sync.Mutex
	users  int
	st     alarm.State
	gen    chan struct{} // closed and replaced when st changes
	acks   chan struct{} // one pending ack
	fault  chan bool     // the microphone's latest fault state, from the card's status
	cancel context.CancelFunc
	done   chan struct{}
}

func newNightWatch(h MonitorHost, publish func(alarm.State)) *nightWatch {
	return &nightWatch{h: h, publish: publish, now: time.Now, gen: make(chan struct{}), acks: make(chan struct{}, 1), fault: make(chan bool, 1)}
}

// acquire counts a night stream of device in; the first starts the watch.
// release undoes it; the last stops the watch and clears its alarm.
func (n *nightWatch) acquire(device string) (release func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.users++
	if n.users == 1 {
		ctx, cancel := context.WithCancel(context.Background())
		n.cancel, n.done = cancel, make(chan struct{})
		go n.run(ctx, device, n.done) // stopped by the last release, which waits for it
	}
	var once sync.Once
	return func() { once.Do(n.release) }
}

func (n *nightWatch) release() {
	n.mu.Lock()
	n.users--
	if n.users > 0 {
		n.mu.Unlock()
		return
	}
	cancel, done := n.cancel, n.done
	n.mu.Unlock()
	cancel()
	<-done
}

// state is the alarm now, and a channel closed at its next change.
func (n *nightWatch) state() (alarm.State, <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.st, n.gen
}

// ack acknowledges the alarm (a tap on the page).
func (n *nightWatch) ack() {
	select {
	case n.acks <- struct{}{}:
	default:
	}
}

// faults records the microphone's fault state from the monitor's status
// (the card's session): the latest wins.
func (n *nightWatch) faults(mic bool) {
	for {
		select {
		case n.fault <- mic:
			return
		default:
		}
		select {
		case <-n.fault:
		default:
		}
	}
}

func (n *nightWatch) set(st alarm.State) {
	n.mu.Lock()
	n.st = st
	close(n.gen)
	n.gen = make(chan struct{})
	n.mu.Unlock()
	n.publish(st)
}

// run feeds the machine until ctx ends: listening and online from the
// start (the stream comes from this process), Audio for every frame, and
// the microphone's faults as the monitor's status reports them.
func (n *nightWatch) run(ctx context.Context, device string, done chan struct{}) {
	defer close(done)
	m := alarm.New(alarm.Config{})
	apply := func(effs []alarm.Effect) {
		for _, e := range effs {
			if c, ok := e.(alarm.AlarmChanged); ok {
				n.set(c.State)
			}
		}
	}
	defer func() {
		if n.st.Active {
			n.set(alarm.State{})
		}
	}()
	now := n.now()
	apply(m.Online(now))
	apply(m.Listening(true, now))
	sub, err := n.h.PageAudio(device)
	var frames <-chan media.Sample
	if err == nil {
		defer sub.Close()
		frames = sub.C()
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if d, ok := m.NextDeadline(); ok {
			timer.Reset(max(d.Sub(n.now()), 0))
		}
		select {
		case <-ctx.Done():
			return
		case _, ok := <-frames:
			if !ok {
				frames = nil // the capture ended: the alarm's audio gap says so
				continue
			}
			apply(m.Audio(n.now()))
		case <-n.acks:
			apply(m.Ack(n.now()))
		case mic := <-n.fault:
			apply(m.Faults(mic, n.now()))
		case <-timer.C:
			apply(m.Tick(n.now()))
		}
	}
}

// monitorStream serves one of the continuous streams on the monitor's
// host with serve (webrelay.ServeOggFrom or ServeMP3From): the monitor's
// Opus frames, as they are sent to every listener, and with a watch the
// night alarm's changes, until the request ends or the device is revoked.
func monitorStream(h MonitorHost, watch *nightWatch, serve func(context.Context, http.ResponseWriter, func(context.Context) (listener.Event, error)) error) func(ctx context.Context, w http.ResponseWriter, o mediaRequest) error {
	return func(ctx context.Context, w http.ResponseWriter, o mediaRequest) error {
		if o.Device == "" {
			return errUnauthorized
		}
		gone := h.DeviceGone(o.Device)
		sub, err := h.PageAudio(o.Device)
		if err != nil {
			return err
		}
		defer sub.Close()
		state := func() (alarm.State, <-chan struct{}) { return alarm.State{}, nil }
		if watch != nil {
			defer watch.acquire(o.Device)()
			state = watch.state
		}
		var pkt rtp.Packet
		var told alarm.State
		next := func(ctx context.Context) (listener.Event, error) {
			st, changed := state()
			if st != told {
				told = st
				return listener.AlarmEvent{State: st}, nil
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-gone:
				return nil, errUnauthorized
			case <-changed:
				told, _ = state()
				return listener.AlarmEvent{State: told}, nil
			case smp, ok := <-sub.C():
				if !ok {
					if err := sub.Err(); err != nil {
						return nil, err
					}
					return nil, listener.ErrSessionClosed
				}
				pkt.SequenceNumber++
				pkt.Timestamp += uint32(smp.Duration * media.SampleRate / time.Second)
				p := pkt
				p.Payload = smp.Data
				return listener.MediaEvent{Packet: &p, Arrived: time.Now()}, nil
			}
		}
		return serve(ctx, w, next)
	}
}
