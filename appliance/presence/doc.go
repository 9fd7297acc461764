// Package presence decides whether the other end of a connection is still
// there. Heartbeat is a pure state machine (no goroutines, no clock: every
// method takes now) owned by the connection's goroutine. State is what the
// heartbeat decides, the one presence model from here up: a control
// connection whose heartbeat holds is Online. The listener's sessions
// (listener.Presence is State), its alarm and its front ends all use it,
// and show State.String.
//
// # Heartbeat rule
//
// Each side sends a Ping every Interval and answers every Ping it gets with
// a Pong (Answer). The only sign of life is a valid Pong to one of this
// side's own recent Pings: it proves that both directions carried a frame,
// as of that Ping's send time. The peer is dead when no Ping sent in the
// last
//
//	DeadAfter = Misses*Interval + Grace, Grace = Interval/4
//
// has been answered (3.25 s with the defaults, 1 s and 3 misses): if the
// newest answered Ping was sent at S, the peer is dead at S + DeadAfter
// (Stats.Proven and Stats.Deadline). Before any Pong, S is the time the
// heartbeat started.
//
// Why a Pong, and why its Ping's send time:
//
//   - Any other frame, the peer's own Pings included, proves only the
//     peer-to-us direction. When only our direction is cut, the peer keeps
//     talking and we would think it alive until its heartbeat gave up and
//     its close happened to reach us. A Pong needs both directions, so each
//     side detects a cut in either direction on its own.
//   - A Pong's arrival time says nothing about when the cut happened:
//     QUIC retransmits, so a Pong to a Ping sent before a cut can arrive
//     after it. Its Ping's send time is a time at which the link surely
//     still worked the way out. If the link is cut (either way) at F, every
//     Pong that still arrives answers a Ping sent before F, so the peer is
//     declared dead at most DeadAfter after F (3.25 s, whatever the RTT or
//     retransmission delays), leaving 250 ms of the product's 3.5 s budget
//     for timer lateness and the UI. It is at least DeadAfter - Interval -
//     RTT after F (the Ping just before F was answered).
//   - A stale Pong, to a Ping sent DeadAfter ago or more (released late by
//     a retransmission), moves the deadline nowhere: its S + DeadAfter has
//     passed.
//
// Read as "misses": the peer dies at S + DeadAfter only if the Pings sent
// after S, at S+Interval ... S+Misses*Interval, all still lack their Pong
// then, i.e. their round trips exceed (Misses-1)*Interval + Grace, ...,
// Interval + Grace, Grace (2.25 s, 1.25 s, 0.25 s with the defaults). Pings
// and Pongs ride a QUIC stream, so a lost packet delays them (QUIC
// retransmits within tens to hundreds of ms) rather than losing them: a
// healthy link dies only if one round trip stalls for more than 2.25 s (the
// next two stuck behind it on the stream). With 10 % random loss and
// QUIC's doubling probe timeout that takes six losses in a row of the same
// frame from a 50 ms first PTO (a LAN), five from 100 ms: 1e-6 or 1e-5 per
// frame, two frames a second. No rule that detects a cut within 3.5 s can
// outlast such a stall; one-way detection makes stalls in either direction
// count, where frames-as-life counted those towards us only. See
// TestRandomLossNoFalseDeath and TestRandomLossFalseDeathRate.
// Frames other than Pongs are still recorded (Stats.LastSeen, for display)
// and the peer's Pings are still answered; they just do not keep the peer
// alive.
//
// # Caller duties (per connection)
//
//  1. h := New(cfg, now) when the connection is up.
//  2. Run a timer for h.NextTick(); when it fires, call h.Tick(now): send
//     the returned Ping if any; if dead, close the connection with
//     ErrIdleTimeout ("idle timeout"), which ends the connection. Re-arm
//     the timer for NextTick after every call into h.
//  3. For a received Ping send h.OnPing(p, now) back; for a Pong call
//     h.OnPong; for any other frame call h.OnFrame (optional: it only
//     feeds Stats.LastSeen).
//  4. Configure QUIC with Config.QUICIdleTimeout and Config.KeepAlive so
//     the heartbeat, not QUIC, notices a silent peer first.
package presence
