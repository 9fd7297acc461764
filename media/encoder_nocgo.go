//go:build !cgo

package media

// Without cgo there is no libopus or libvpx: the Hub refuses audio and
// video subscriptions with ErrNoEncoder; levels still work.
var defaultEncoders = encoders{}
