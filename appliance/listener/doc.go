// Package listener is the listener role: the monitors this device paired
// with (kept in its own event store), pairing with a setup code or payload
// (pair.go), and sessions that keep paired monitors connected, with their
// pinned fingerprints.
//
// The store is opened only for the moment it is read or written, so that
// several cradle commands (a long `cradle status --watch` and a `cradle
// pair`, say) can run side by side on one state directory.
//
// # Sessions: a pure core and an I/O shell
//
// A Session (Listener.Start) is two parts. The core (sessionCore, core.go)
// decides and does nothing else: it is fed events with their time (dial
// outcomes, a lost connection, each message from the monitor, requests
// going out, stream states, audio packets seen, the parent's SetStream and
// Ack, the timer firing) and returns effects (deliver an event to the
// subscribers, dial at a time, stop, answer a request, hand signalling to
// the streamer, follow a new stream mode). It holds the presence
// (presence.State, from the heartbeat), the reconnect policy (Policy), the
// alarm (package alarm) and the matching of answers to requests by ref. It
// reads no clock, so its rules are tested as op/want scripts in virtual
// time (core_test.go).
//
// The shell (session.go, connection.go, stream.go, requests.go) does the
// I/O: the dial loop, the connection's reader, the WebRTC streamer and
// one timer. Every call into the core happens under the Session's lock,
// and the shell carries out the effects in order before it lets go.
// Events reach subscribers through a fanout.Fanout, which never blocks: a
// slow subscriber loses its oldest media and status events, never a
// presence, stream, alarm, chime or pairing event. The timer is armed for
// the core's next deadline (the alarm's NextDeadline) after every step, so
// an idle listening session wakes only when the alarm has something to
// decide: there is no polling loop.
//
// # The caller's duties
//
//  1. Start a session per monitor to watch; Close it (it waits for every
//     goroutine it started; Close twice is fine).
//  2. Subscribe for each front end and read with Next until it returns
//     ErrSessionClosed; Close the subscription when done with it.
//  3. Show presence with Presence.String (presence.State's label), the one
//     place a presence label comes from.
//  4. SetStream when the parent starts or stops listening; Ack when they
//     acknowledge the alarm.
package listener
