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
//   - Window: the pairing-window state machine: 3 to 15 minutes, up to 4
//     sessions at once (one per network address), 10 s per session, only
//     a wrong key confirmation counted, 3 per address and 20 per window,
//     no lifetime lock (see Window for why).
//
// # The monitor's duties
//
// Window does no I/O and reads no clock; one goroutine owns it and does:
//
//  1. At start, code, created := LoadOrCreateCode(stateDir, configuredCode).
//     If created, append a "setup code set" event holding NewCodeID(nil),
//     never the code or a hash of it (10^8 codes are reversed in seconds).
//  2. Build the window with NewWindow(cfg, count of failures recorded): the
//     count is a statistic for the parents, it locks nothing.
//  3. On a short button press, `cradled pair` or a paired listener's
//     pair_open, call Open.
//  4. When a listener asks to pair, first check its share (pake.CheckShare:
//     a share that is not a point is refused and never counted), then call
//     Begin with its connection id and address. On error, send the error's
//     text to the listener and stop. Otherwise run the PAKE with the code.
//  5. When the key confirmation is wrong call Fail; when the connection
//     drops mid-session, or the PAKE refuses the share, call Abort (not a
//     guess); when it succeeds call Succeed, and trust the listener only if
//     Succeed returned no error (its session may have just expired).
//  6. Keep a timer at NextDeadline and call Tick when it fires.
//  7. Carry out every Effect returned, in order:
//     WindowOpened: advertise "pairing open" in mDNS, show it on the LED,
//     tell the paired listeners;
//     WindowClosed: stop advertising, tell the paired listeners;
//     AttemptFailed: record it and tell the paired listeners (someone may
//     be guessing the code);
//     SessionExpired, SessionCancelled: end that connection's PAKE with
//     pairing-failed;
//     Paired: add the listener's fingerprint to the allowlist.
//  8. On a factory reset, call Reset and RenewCode (a new code: the old
//     one was printed on the card).
package pairing
