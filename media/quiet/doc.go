// Package quiet keeps the C sound libraries' messages off the binaries'
// stderr. Import it for its side effect, first thing in a main package:
//
//	import _ "github.com/cradle-monitor/cradle/media/quiet"
//
// The noise: a miniaudio context probes backends when it opens (the
// listener's sound output; the monitor's microphone on ALSA, opened at the
// first capture and again every second while it is missing). On a desktop
// with the ALSA, PulseAudio and JACK client libraries but no JACK server,
// that prints "ALSA lib confmisc.c:... Cannot get card index", "ALSA lib
// pulse.c:... Unable to connect", "jack server is not running or cannot
// be started" and "JackShmReadWritePtr::~..." lines, and a microphone
// that is missing behind ALSA's pulse plugin prints "Unable to create
// stream" at every try. (Until the microphone moved to malgo, mediadevices'
// driver opened a context in its package init, on every command.)
//
// What init does, when cgo is on (on Linux):
//
//   - ALSA: dlopen("libasound.so.2") and snd_lib_error_set_handler with a
//     handler that drops the message. This covers ALSA's plugins too
//     (pulse, oss, jack). No link-time dependency on libasound.
//   - JACK: dlopen("libjack.so.0") and jack_set_error_function and
//     jack_set_info_function with handlers that drop the message; and
//     JACK_NO_START_SERVER=1 unless set, so that a probe never starts jackd.
//
// A library that is not installed has nothing to say: that is not an
// error. Report lists what was done, for one log line of the binary's own.
//
// # Why its init runs first
//
// Go initialises packages one at a time, picking among those whose imports
// are all initialised the one first in import-path order (Go 1.21 and
// later). This package imports only os (and runtime/cgo), which the
// sound drivers also depend on, so whenever one is ready to initialise
// this package is ready too, and
// "github.com/cradle-monitor/cradle/media/quiet" sorts before
// "github.com/gen2brain/malgo" and "github.com/pion/mediadevices/...".
// Keep it that way: this package must not import anything that imports
// mediadevices or malgo, nor anything heavy. cmd/internal/e2e's
// TestNoSoundLibraryNoise runs the real binaries and checks their stderr.
package quiet

// Report says, in a few short items, what init silenced and which
// libraries were not there ("alsa: silenced", "jack: not installed
// (libjack.so.0)", "JACK_NO_START_SERVER=1"). The slice is the caller's.
func Report() []string { return append([]string(nil), report...) }
