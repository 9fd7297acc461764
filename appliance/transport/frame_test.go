package transport

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"

	"github.com/cradle-monitor/cradle/appliance/control"
)

func TestReadFrame(t *testing.T) {
	big := bytes.Repeat([]byte("x"), control.MaxFrame)
	tests := []struct {
		name string
		in   []byte
		max  int
		want []byte
		err  error
	}{
		{"small", rawFrame("hi"), UntrustedMaxFrame, []byte("hi"), nil},
		{"at the untrusted limit", append(header(UntrustedMaxFrame), big[:UntrustedMaxFrame]...), UntrustedMaxFrame, big[:UntrustedMaxFrame], nil},
		{"over the untrusted limit", header(UntrustedMaxFrame + 1), UntrustedMaxFrame, nil, control.ErrFrameTooLarge},
		{"at MaxFrame", append(header(control.MaxFrame), big...), control.MaxFrame, big, nil},
		{"over MaxFrame", header(control.MaxFrame + 1), control.MaxFrame, nil, control.ErrFrameTooLarge},
		{"4 GiB", header(0xffffffff), control.MaxFrame, nil, control.ErrFrameTooLarge},
		{"empty", header(0), control.MaxFrame, nil, control.ErrMalformedFrame},
		{"truncated header", []byte{0, 0}, control.MaxFrame, nil, control.ErrMalformedFrame},
		{"truncated body", append(header(5000), big[:3000]...), control.MaxFrame, nil, control.ErrMalformedFrame},
		{"end of stream", nil, control.MaxFrame, nil, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One byte per Read, as a slow-loris peer sends them.
			got, err := readFrame(iotest.OneByteReader(bytes.NewReader(tt.in)), tt.max)
			if !errors.Is(err, tt.err) || !bytes.Equal(got, tt.want) {
				t.Errorf("readFrame = %d bytes, %v; want %d bytes, %v", len(got), err, len(tt.want), tt.err)
			}
		})
	}
}

// TestReadFrameGrows: the payload buffer follows the bytes received, not
// the announced length.
func TestReadFrameGrows(t *testing.T) {
	in := append(header(control.MaxFrame), bytes.Repeat([]byte("x"), 100)...)
	const n = 100
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		if _, err := readFrame(bytes.NewReader(in), control.MaxFrame); !errors.Is(err, control.ErrMalformedFrame) {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if perFrame := (after.TotalAlloc - before.TotalAlloc) / n; perFrame > 4<<10 {
		t.Errorf("a 64 KiB header with 100 bytes behind it allocates %d bytes, want under 4 KiB", perFrame)
	}
}

// FuzzReadFrame: readFrame agrees with control.ReadFrame on every input.
func FuzzReadFrame(f *testing.F) {
	f.Add(rawFrame("hi"), uint16(100))
	f.Add(header(0xffffffff), uint16(0))
	f.Add(append(header(3000), bytes.Repeat([]byte("y"), 2999)...), uint16(4096))
	f.Add([]byte{0, 0, 0}, uint16(1))
	f.Fuzz(func(t *testing.T, data []byte, max uint16) {
		m := int(max)
		if m == 0 {
			m = control.MaxFrame
		}
		got, gotErr := readFrame(bytes.NewReader(data), m)
		want, wantErr := control.ReadFrame(bytes.NewReader(data), m)
		if !bytes.Equal(got, want) || errors.Is(gotErr, control.ErrFrameTooLarge) != errors.Is(wantErr, control.ErrFrameTooLarge) ||
			errors.Is(gotErr, control.ErrMalformedFrame) != errors.Is(wantErr, control.ErrMalformedFrame) ||
			errors.Is(gotErr, io.EOF) != errors.Is(wantErr, io.EOF) {
			t.Fatalf("readFrame = %q, %v; control.ReadFrame = %q, %v", got, gotErr, want, wantErr)
		}
	})
}
