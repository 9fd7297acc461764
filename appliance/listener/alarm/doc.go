// Package alarm is the listener's alarm: it wakes the parent when the baby
// can no longer be heard. Machine is a pure state machine: no goroutines,
// no clock, no I/O. Every call takes the time and returns the Effects its
// owner carries out. It is not safe for concurrent use: one goroutine owns
// it.
//
// # Rules
//
// Reasons, from the most severe: Refused > LinkLost > AudioLost >
// MicrophoneFault. When several hold, State.Reason is the most severe.
//
//   - Refused holds while listening once Refuse was called: the monitor
//     revoked this listener or answered as another device. Nothing
//     clears it (the session that owns the machine stops).
//   - Nothing holds while the parent is not listening. Listening(false)
//     clears the alarm (AlarmChanged with Reason None); Listening(true)
//     arms it.
//   - LinkLost holds while listening and the last presence call was
//     Offline. Offline raises it at once: the heartbeat already waited its
//     bound. Presence is tracked whether or not the parent listens and starts
//     unknown: before the first Online or Offline there is no alarm
//     (connecting), but Offline first (the monitor is unreachable when the
//     parent starts listening) raises LinkLost. Online clears it by itself.
//   - AudioLost holds while listening and online, once one of these
//     happened: the stream delivered a packet, then no Audio came for
//     AudioGap (400 ms: with a timer at NextDeadline the alarm is raised
//     400 ms after the last packet); or no first packet came within StreamGrace
//     (5 s) of the latest of Online, StreamUp and Listening(true). Any Audio
//     clears it at once. Online (after Offline or unknown) and
//     Listening(true) clear it and restart the grace: the stream must come
//     back within StreamGrace. StreamUp restarts the grace but does not
//     clear an AudioLost already raised: only audio proves the parent can
//     hear again.
//   - MicrophoneFault holds while listening and the monitor's last
//     Faults call said its microphone is missing or failed.
//   - Repeated calls change nothing: Online while online, Offline while
//     offline, Listening(true) while listening do not restart any grace, so
//     a shell that reports presence on every heartbeat cannot defer
//     AudioLost.
//
// Sounding:
//
//   - A new reason (from None or from another reason, more or less severe)
//     makes the alarm Active and Sounding, with Since the time that reason
//     was raised.
//   - The alarm never stops silently: when no reason holds any more,
//     AlarmChanged reports State{} (Active false, Reason None).
//   - Ack silences a sounding alarm (Sounding false, Acknowledged true); it
//     stays Active, so the banner stays. If its reason still holds
//     Reminder (5 min) after the Ack, it sounds again (Acknowledged false):
//     a parent who acked and fell asleep with a dead link is woken. Ack
//     silences what sounds at its time, a reason raised or a reminder due
//     at that time included. Ack with no alarm, or on an alarm already
//     acknowledged, does nothing.
//   - Sounding turns false only by Ack or by the alarm clearing.
//
// Noise, from the monitor's VOX, never affects the alarm. Noise(true) after
// Noise(false) (the first call counts as after false) while listening
// emits a Chime, at most one per ChimeInterval (10 s); a rising edge inside
// the interval is dropped, not deferred.
//
// Effects: AlarmChanged carries the new State and is emitted exactly when
// the State changes (Active, Reason, Sounding or Acknowledged), at most once
// per call: a call reports the net change. Chime follows it.
//
// # The owner's duties
//
//  1. Build the machine with New; check a configuration from a file with
//     Config.Validate first.
//  2. Report presence from the heartbeat of the monitor's control channel
//     (presence.State, the one presence model): Presence(Online) when it is
//     up, Presence(Offline) when the heartbeat gave up. Online and Offline
//     are shorthands.
//  3. Call Listening when the parent starts or stops listening; StreamUp
//     when the WebRTC audio stream is (re)established; Audio for every
//     audio packet (it allocates nothing and returns nil when nothing
//     changes); Faults and Noise when the monitor reports them; Ack when
//     the parent acknowledges.
//  4. Keep one timer at NextDeadline, re-armed after every call, and call
//     Tick when it fires; no polling. Every call applies the timeouts due
//     at its time first, so Tick only makes them take effect when nothing
//     else happens (calling it early or often is harmless, only wasteful).
//  5. Carry out every Effect, in order: AlarmChanged: show the banner while
//     State.Active, play the alarm sound, repeating, while State.Sounding
//     and stop it otherwise; Chime: play the noise chime once.
package alarm
