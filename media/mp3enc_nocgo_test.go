//go:build !cgo

package media

import (
	"errors"
	"testing"
)

// TestMP3NoCgo: without cgo there is no LAME: ErrNoEncoder.
func TestMP3NoCgo(t *testing.T) {
	if _, err := NewMP3Encoder(MP3Config{}); !errors.Is(err, ErrNoEncoder) {
		t.Fatalf("NewMP3Encoder: %v, want ErrNoEncoder", err)
	}
	var e MP3Encoder
	if _, err := e.Encode(nil, make([]int16, 480)); !errors.Is(err, ErrNoEncoder) {
		t.Fatalf("Encode: %v, want ErrNoEncoder", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}
