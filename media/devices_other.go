//go:build !linux || !cgo

package media

// Without cgo (or off Linux) there are no device drivers: ModeAuto falls
// back to the test sources and ModeDevices fails.

import "fmt"

func findMicrophone(string) (AudioSource, error) {
	return nil, fmt.Errorf("%w (this build has no device drivers: it needs Linux and cgo)", ErrNoMicrophone)
}

func micPresent(string) func() bool { return func() bool { return false } }

func findCamera(string) (VideoSource, error) {
	return nil, fmt.Errorf("%w (this build has no device drivers: it needs Linux and cgo)", ErrNoCamera)
}
