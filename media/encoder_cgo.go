//go:build cgo

package media

var defaultEncoders = encoders{audio: newOpusEncoder, video: newVP8Encoder}
