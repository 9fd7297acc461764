//go:build !cgo

package play

import "fmt"

// OpenDevice opens an output device by name ("" for the default). This
// build has no cgo, so it has no sound support.
func OpenDevice(name string) (Output, error) {
	return nil, fmt.Errorf("%w (this build has no sound support: it was built without cgo)", ErrNoAudioLibrary)
}

// ListDevices lists the output devices. This build has no cgo, so it has
// no sound support.
func ListDevices() ([]DeviceInfo, error) {
	return nil, fmt.Errorf("%w (this build has no sound support: it was built without cgo)", ErrNoAudioLibrary)
}

// OpenInput opens a microphone by name ("" for the default). This build
// has no cgo, so it has no sound support.
func OpenInput(name string) (Input, error) {
	return nil, fmt.Errorf("%w (this build has no sound support: it was built without cgo)", ErrNoAudioLibrary)
}
