//go:build !cgo || !linux

package quiet

// Without cgo nothing loads ALSA or JACK, so there is nothing to silence.
var report = []string{"nothing to silence (no cgo)"}
