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
// a Pong (Answer). Any frame from the peer, a Pong included, is a sign of
// life. The peer is dead when nothing has been heard from it for
//
//	DeadAfter = Misses*Interval + Grace, Grace = Interval/4
//
// (3.25 s with the defaults, 1 s and 3 misses). Read as "misses": if the
// last sign of life was the Pong to ping k, the Pongs to pings k+1 ... k+M
// are due by then (at the same RTT); M of them failing to arrive, the last
// one by more than Grace, is death. A single lost Pong or two in a row are
// tolerated. The rule counts time from the last frame, not sent pings, so
// detection does not depend on where in the ping cycle the peer stopped:
// it happens exactly DeadAfter after the last frame arrived, provided the
// caller ticks at NextTick (which includes the deadline itself). If the
// peer stops at time F, the last frame arrived at or before F plus its
// flight time, so with the defaults the peer is declared dead at most
// 3.25 s + one-way delay after F, and at least 2.25 s after it (Pongs come
// every Interval). Grace is Interval/4 rather than /2 to keep 250 ms of the
// product's 3.5 s budget for that flight time, timer lateness and the UI.
//
// # Caller duties (per connection)
//
//  1. h := New(cfg, now) when the connection is up.
//  2. Run a timer for h.NextTick(); when it fires, call h.Tick(now): send
//     the returned Ping if any; if dead, close the connection with
//     ErrIdleTimeout ("idle timeout"), which ends the connection. Re-arm
//     the timer for NextTick after every call into h.
//  3. For a received Ping send h.OnPing(p, now) back; for a Pong call
//     h.OnPong; for any other frame call h.OnFrame.
//  4. Configure QUIC with Config.QUICIdleTimeout and Config.KeepAlive so
//     the heartbeat, not QUIC, notices a silent peer first.
package presence
