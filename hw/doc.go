// Package hw is the monitor's front panel: one push button and one LED on
// GPIO pins, behind periph.io's conn interfaces (gpio.PinIn, gpio.PinOut).
// It never imports periph's host drivers: hw/pi opens the real pins (or
// falls back to the simulator in hw/sim), so appliance/ and tests can use
// this package on any machine.
//
// Two pure cores hold all the behaviour and take time as a parameter:
//
//   - Button turns sampled levels into ShortPress, LongPressReached and
//     LongPress events (debounce, hold thresholds).
//   - PatternFor maps the appliance's State to an LED Pattern, and
//     Pattern.LevelAt says whether the LED is lit a given time into it.
//
// Panel is the shell around them: one goroutine reads the button pin, one
// drives the LED pin. The caller's duties:
//
//  1. Call SetState whenever the appliance's state changes (any goroutine).
//     The LED restarts its pattern only when the pattern itself changes.
//  2. Drain Events. The button goroutine blocks (and stops sampling) when
//     4 events wait unread; Events is closed after Close.
//  3. Call Close once done; it stops both goroutines, waits for them and
//     turns the LED off. Close may be called more than once.
//
// Button rules (times from Config, defaults shown):
//
//   - A press is counted after the level has been stable for Debounce
//     (40 ms); bounces shorter than that are ignored. Press and release
//     times are those of the first edge of the stable level.
//   - Released before ShortMax (3 s): ShortPress, emitted on release. The
//     monitor opens the pairing window.
//   - Released between ShortMax and LongPress (10 s): nothing. A parent who
//     changes their mind lets go.
//   - Held for LongPress: LongPressReached then LongPress, both at the
//     threshold while the button is still held, and nothing on release. The
//     factory reset happens when the LED signals it, as the parent expects;
//     releasing before the threshold cancels. From LongPressReached until
//     the release the Panel itself shows the reset pattern (so the signal
//     never waits for the caller); set State.ResetArmed to keep it while
//     the reset runs.
//   - A button already held when the Panel starts (stuck, or something
//     resting on it) is ignored until it has been released once, so a
//     stuck button cannot reset the device at every boot.
//
// LED priority, highest first: reset armed > error > pairing window open >
// booting > streaming > ready. The reset acknowledgement beats errors
// because it answers the parent's hand on the button (a parent resetting a
// faulty monitor must still see it); errors beat pairing so that a parent
// whose pairing fails sees why. docs/HARDWARE.md has the wiring and the
// pattern table.
package hw
