//go:build cgo && linux

package quiet

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

// ALSA's snd_lib_error_handler_t and JACK's message callback. The handlers
// do nothing: that is the point.
typedef void (*quiet_alsa_handler)(const char *file, int line, const char *function, int err, const char *fmt, ...);
typedef void (*quiet_jack_handler)(const char *msg);

static void quiet_alsa_discard(const char *file, int line, const char *function, int err, const char *fmt, ...) {}
static void quiet_jack_discard(const char *msg) {}

// Each returns 0 when silenced, 1 when the library is not installed, 2 when
// it lacks the symbol. The handle is never closed: the library keeps the
// handler only while it stays loaded, and a later dlopen of the same
// soname (miniaudio's) gets this same instance.
static int quiet_alsa(void) {
	void *h = dlopen("libasound.so.2", RTLD_NOW | RTLD_GLOBAL);
	if (h == NULL) return 1;
	int (*set)(quiet_alsa_handler) = (int (*)(quiet_alsa_handler))dlsym(h, "snd_lib_error_set_handler");
	if (set == NULL) return 2;
	set(quiet_alsa_discard);
	return 0;
}

static int quiet_jack(void) {
	void *h = dlopen("libjack.so.0", RTLD_NOW | RTLD_GLOBAL);
	if (h == NULL) h = dlopen("libjack.so", RTLD_NOW | RTLD_GLOBAL);
	if (h == NULL) return 1;
	void (*seterr)(quiet_jack_handler) = (void (*)(quiet_jack_handler))dlsym(h, "jack_set_error_function");
	void (*setinfo)(quiet_jack_handler) = (void (*)(quiet_jack_handler))dlsym(h, "jack_set_info_function");
	if (seterr == NULL || setinfo == NULL) return 2;
	seterr(quiet_jack_discard);
	setinfo(quiet_jack_discard);
	return 0;
}
*/
import "C"

import "os"

var report []string

func init() {
	report = append(report, "alsa: "+outcome(C.quiet_alsa(), "libasound.so.2"))
	report = append(report, "jack: "+outcome(C.quiet_jack(), "libjack.so.0"))
	// Without a server, libjack would try to start jackd for any client.
	if _, set := os.LookupEnv("JACK_NO_START_SERVER"); !set {
		os.Setenv("JACK_NO_START_SERVER", "1")
		report = append(report, "JACK_NO_START_SERVER=1")
	}
}

func outcome(r C.int, lib string) string {
	switch r {
	case 0:
		return "silenced"
	case 1:
		return "not installed (" + lib + ")"
	default:
		return "no error hook in " + lib
	}
}
