package page

import (
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/appliance/listener/alarm"
)

// statusInterval throttles status events to at most 5 a second per
// monitor (a noise change always goes through).
const statusInterval = 200 * time.Millisecond

// maxNoises is how many recent noise events a card keeps.
const maxNoises = 10

// onEvent updates monitor e's card from one of its session's events and
// tells the tabs. The session's live stats are read before the lock.
func (sp *sessionPool) onEvent(e *monEntry, ev listener.Event) {
	var live liveStats
	var haveLive bool
	switch ev.(type) {
	case listener.PresenceEvent, listener.StatusEvent:
		live, haveLive = readLiveOf(e.link)
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.mons[e.mon.DeviceID] != e {
		return
	}
	v := &e.view
	switch ev := ev.(type) {
	case listener.PresenceEvent:
		e.presence, v.At, v.Address = ev.Presence, ev.At, ev.Address
		v.Error = nil
		if ev.Err != nil && ev.Presence != listener.Online {
			p := problemFor(ev.Err)
			v.Error = &p
		}
		fillLive(e, live, haveLive)
		sp.broadcastLocked(presenceMsg(e))
	case listener.StatusEvent:
		st := statusFrom(ev)
		if sp.onStatus != nil {
			sp.onStatus(ev)
		}
		rising := st.Noise && (v.Status == nil || !v.Status.Noise)
		changed := v.Status == nil || v.Status.Noise != st.Noise
		v.Status = &st
		if rising {
			v.Noises = append(v.Noises, ev.At)
			if len(v.Noises) > maxNoises {
				v.Noises = v.Noises[len(v.Noises)-maxNoises:]
			}
			sp.broadcastLocked(event{Type: "noise", Monitor: e.mon.DeviceID, At: &ev.At})
		}
		if !changed && ev.At.Sub(e.lastStatus) < statusInterval {
			return
		}
		e.lastStatus = ev.At
		fillLive(e, live, haveLive)
		sp.broadcastLocked(event{Type: "status", Monitor: e.mon.DeviceID, Status: &st, RTTMs: v.RTTMs, LastSeen: v.LastSeen})
	case listener.AlarmEvent:
		v.Alarm = alarmFrom(ev.State)
		sp.broadcastLocked(event{Type: "alarm", Monitor: e.mon.DeviceID, Alarm: &v.Alarm})
	case listener.ChimeEvent:
		sp.broadcastLocked(event{Type: "chime", Monitor: e.mon.DeviceID, At: &ev.At})
	case listener.StreamEvent:
		v.StreamState = ev.State.String()
		msg := event{Type: "stream", Monitor: e.mon.DeviceID, State: v.StreamState, Kind: ev.Kind}
		if ev.Err != nil {
			p := problemFor(ev.Err)
			msg.Error = &p
		}
		sp.broadcastLocked(msg)
	case listener.DeviceEvent:
		// A phone paired with the monitor: every page says so, so that a
		// parent notices one they do not know.
		at := ev.PairedAt
		sp.broadcastLocked(event{Type: "device", Monitor: e.mon.DeviceID, Device: &deviceView{ID: ev.ID, Name: ev.Name, PairedAt: ev.PairedAt}, At: &at})
	case listener.SoundEvent:
		sv := soundFrom(ev.State, time.Now())
		v.Sound = &sv
		sp.broadcastLocked(event{Type: "sound", Monitor: e.mon.DeviceID, Sound: sv.at(sv.At)})
	case listener.TalkEvent:
		tv := talkFrom(ev.State, time.Now())
		v.Talk = &tv
		sp.broadcastLocked(event{Type: "talk", Monitor: e.mon.DeviceID, Talk: &tv})
	case listener.PairingEvent:
		pv := pairingFrom(ev.State, ev.At, v.Pairing)
		v.Pairing = &pv
		sp.broadcastLocked(event{Type: "pairing", Monitor: e.mon.DeviceID, Pairing: pv.at(time.Now())})
	}
}

// fillLive copies the live RTT and last-seen time, read before the lock,
// into the view.
func fillLive(e *monEntry, live liveStats, ok bool) {
	if !ok {
		return
	}
	e.view.RTTMs = float64(live.rtt.Microseconds()) / 1000
	if !live.lastSeen.IsZero() {
		ls := live.lastSeen
		e.view.LastSeen = &ls
	}
}

// pagePresence is the one place the page's presence string comes from:
// the session's presence (listener.Presence, from the heartbeat), and
// offline once the session has ended. The pool keeps no presence states
// of its own.
func pagePresence(p listener.Presence, ended bool) string {
	if ended {
		return listener.Offline.String()
	}
	return p.String()
}

func presenceMsg(e *monEntry) event {
	v := e.view
	return event{Type: "presence", Monitor: e.mon.DeviceID, Presence: pagePresence(e.presence, e.ended), At: &v.At, Address: v.Address, RTTMs: v.RTTMs, LastSeen: v.LastSeen, Error: v.Error}
}

// snapshotLocked describes every monitor, with the live stats read by
// readLive (an entry added since keeps the stats it has).
func (sp *sessionPool) snapshotLocked(live map[*monEntry]liveStats) event {
	views := []monitorView{}
	for _, id := range sp.order {
		e := sp.mons[id]
		ls, ok := live[e]
		fillLive(e, ls, ok)
		v := e.view
		v.Presence = pagePresence(e.presence, e.ended)
		v.Stream = streamMode(e).String()
		v.Noises = append([]time.Time{}, v.Noises...)
		if v.Pairing != nil {
			v.Pairing = v.Pairing.at(time.Now())
		}
		if v.Sound != nil {
			v.Sound = v.Sound.at(time.Now())
		}
		views = append(views, v)
	}
	return event{Type: "snapshot", Monitors: views}
}

// monitorView is a card's state in a snapshot.
type monitorView struct {
	ID          string       `json:"id"`
	Name        string       `json:"name"`
	Address     string       `json:"address"`
	Presence    string       `json:"presence"` // connecting, online, offline (heartbeat)
	At          time.Time    `json:"at"`       // of the presence
	LastSeen    *time.Time   `json:"last_seen,omitempty"`
	RTTMs       float64      `json:"rtt_ms"`
	Error       *Problem     `json:"error,omitempty"` // why it is offline
	Status      *statusView  `json:"status,omitempty"`
	Alarm       alarmView    `json:"alarm"`
	Stream      string       `json:"stream"`                 // off, audio, audio+video: what the listener streams
	StreamState string       `json:"stream_state,omitempty"` // starting, connected, interrupted, failed, stopped
	Noises      []time.Time  `json:"noises"`                 // recent noise events, oldest first
	Pairing     *pairingView `json:"pairing,omitempty"`      // the monitor's pairing window, once heard of
	Sound       *soundView   `json:"sound,omitempty"`        // the monitor's speaker, once heard of
	Talk        *talkView    `json:"talk,omitempty"`         // who talks to the nursery, once heard of
}

type statusView struct {
	RMSDBFS  float64   `json:"rms_dbfs"`
	PeakDBFS float64   `json:"peak_dbfs"`
	Noise    bool      `json:"noise"`
	Faults   []string  `json:"faults,omitempty"`
	At       time.Time `json:"at"`
}

type alarmView struct {
	Active       bool       `json:"active"`
	Reason       string     `json:"reason"` // none, microphone fault, audio lost, link lost, access refused
	Since        *time.Time `json:"since,omitempty"`
	Sounding     bool       `json:"sounding"`
	Acknowledged bool       `json:"acknowledged"`
}

func statusFrom(ev listener.StatusEvent) statusView {
	return statusView{RMSDBFS: ev.Status.RMSDBFS, PeakDBFS: ev.Status.PeakDBFS, Noise: ev.Status.Noise, Faults: ev.Status.Faults, At: ev.At}
}

func alarmFrom(st alarm.State) alarmView {
	v := alarmView{Active: st.Active, Reason: st.Reason.String(), Sounding: st.Sounding, Acknowledged: st.Acknowledged}
	if !st.Since.IsZero() {
		s := st.Since
		v.Since = &s
	}
	return v
}

// pairingView is the monitor's pairing window on a card. The wrong setup
// codes of a window stay in it after the window closes, until the next
// window opens (the monitor counts them per window): a parent who was
// not looking when a stranger guessed must still see it.
type pairingView struct {
	Open bool `json:"open"`
	// RemainingMillis is how long the window stays open, as of when the
	// message was sent (the page counts down from its own clock).
	RemainingMillis int64 `json:"remaining_ms,omitempty"`
	FailedAttempts  int   `json:"failed_attempts"`
	// LastFailure is when this listener heard of the latest wrong code.
	LastFailure *time.Time `json:"last_failure,omitempty"`
	// Closed says why the last window closed (control.PairingClosed*).
	Closed string    `json:"closed,omitempty"`
	At     time.Time `json:"at"` // when this listener heard of it

	until time.Time // the window's end, on this listener's clock
}

// pairingFrom builds the view of a pairing state heard at at, given the
// view before it (nil at first).
func pairingFrom(st control.PairingState, at time.Time, prev *pairingView) pairingView {
	v := pairingView{Open: st.Open, FailedAttempts: st.FailedAttempts, Closed: st.Closed, At: at}
	if st.Open {
		v.until = at.Add(time.Duration(st.RemainingMillis) * time.Millisecond)
	}
	switch {
	case st.FailedAttempts == 0:
	case prev == nil || st.FailedAttempts > prev.FailedAttempts:
		t := at
		v.LastFailure = &t
	default:
		v.LastFailure = prev.LastFailure
	}
	return v
}

// at is a copy of the view with its remaining time as of now.
func (v *pairingView) at(now time.Time) *pairingView {
	c := *v
	c.RemainingMillis = 0
	if c.Open {
		c.RemainingMillis = max(c.until.Sub(now).Milliseconds(), 0)
	}
	return &c
}

// event is one message of the event stream; Type says which fields are set.
type event struct {
	Type     string        `json:"type"` // hello, snapshot, presence, status, noise, chime, alarm, stream, listen, pairing, device, devices, sound, talk
	Tab      string        `json:"tab,omitempty"`
	Secure   bool          `json:"secure,omitempty"`
	Monitors []monitorView `json:"monitors,omitempty"`
	Monitor  string        `json:"monitor,omitempty"`
	Presence string        `json:"presence,omitempty"`
	At       *time.Time    `json:"at,omitempty"`
	Address  string        `json:"address,omitempty"`
	RTTMs    float64       `json:"rtt_ms,omitempty"`
	LastSeen *time.Time    `json:"last_seen,omitempty"`
	Error    *Problem      `json:"error,omitempty"`
	Status   *statusView   `json:"status,omitempty"`
	Alarm    *alarmView    `json:"alarm,omitempty"`
	State    string        `json:"state,omitempty"`
	Kind     string        `json:"kind,omitempty"`
	Stream   string        `json:"stream,omitempty"`
	Pairing  *pairingView  `json:"pairing,omitempty"`
	Device   *deviceView   `json:"device,omitempty"`
	Sound    *soundView    `json:"sound,omitempty"`
	Talk     *talkView     `json:"talk,omitempty"`
}
