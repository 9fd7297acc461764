// Package pairing holds the pure pieces of pairing, the only way a listener
// becomes trusted by a monitor: a parent presses the monitor's button, which
// opens a pairing window, and enters the monitor's setup code (or scans its
// QR code) on the listener. The listener then proves knowledge of the code
// with a PAKE (package pairing/pake) over a connection pinned to the
// monitor's fingerprint.
//
//   - Code: the 8-digit setup code ("1234-5678"), random per device, kept in
//     the state directory (LoadOrCreateCode) and never logged or stored in
//     the event log.
//   - Payload: fingerprint, port and code as one line of text for a QR code
//     or copy-paste ("CR:..."), specified in docs/PAIRING_PAYLOAD.md.
//   - Window: the pairing-window state machine (Matter's and HomeKit's
//     limits: 3 to 15 minutes, one session at a time, 60 s per session, 20
//     failures per window, 100 failures ever).
//
// # The monitor's duties
//
// Window does no I/O and reads no clock; one goroutine owns it and does:
//
//  1. At start, code, created := LoadOrCreateCode(stateDir, configuredCode).
//     If created, append a "setup code set" event holding NewCodeID(nil),
//     never the code or a hash of it (10^8 codes are reversed in seconds).
//  2. Count the AttemptFailed events appended since the last factory reset
//     and build the window with NewWindow(cfg, count), so the lifetime limit
//     survives restarts.
//  3. On a short button press or `cradled pair`, call Open.
//  4. When a listener asks to pair, call Begin with its connection id. On
//     error, send the error's text to the listener and stop. Otherwise run
//     the PAKE with the code.
//  5. When the PAKE fails call Fail; when the connection drops mid-session
//     call Abort; when it succeeds call Succeed, and trust the listener only
//     if Succeed returned no error (its session may have just expired).
//  6. Keep a timer at NextDeadline and call Tick when it fires.
//  7. Carry out every Effect returned, in order:
//     WindowOpened: advertise "pairing open" in mDNS, show it on the LED;
//     WindowClosed: stop advertising;
//     AttemptFailed: append it to the event log, durably, before telling
//     the listener its attempt failed (a guess must be counted before its
//     answer is known);
//     SessionExpired, SessionCancelled: abort that connection's PAKE with
//     pairing-failed;
//     Paired: add the listener's fingerprint to the allowlist;
//     Locked: show that pairing is locked until a factory reset.
//  8. On a factory reset, call Reset and RemoveCode and wipe the event log.
package pairing
