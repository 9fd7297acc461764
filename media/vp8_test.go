//go:build cgo

package media

import (
	"bytes"
	"image"
	"io"
	"math"
	"testing"
	"time"

	"github.com/pion/mediadevices/pkg/codec/vpx"
	"github.com/pion/mediadevices/pkg/prop"
)

// frameReader hands libvpx's decoder one VP8 frame per Read.
type frameReader struct{ frames [][]byte }

func (r *frameReader) Read(p []byte) (int, error) {
	if len(r.frames) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.frames[0])
	r.frames = r.frames[1:]
	return n, nil
}

// decodeVP8 decodes frames with libvpx.
func decodeVP8(t testing.TB, w, h int, frames [][]byte) []*image.YCbCr {
	t.Helper()
	d, err := vpx.NewDecoder(&frameReader{frames: frames}, prop.Media{Video: prop.Video{Width: w, Height: h}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var out []*image.YCbCr
	for range frames {
		img, _, err := d.Read()
		if err != nil {
			t.Fatalf("decoding frame %d: %v", len(out), err)
		}
		out = append(out, img.(*image.YCbCr))
	}
	return out
}

// psnrY is the luma PSNR of b against a, in dB.
func psnrY(a, b *image.YCbCr) float64 {
	var se float64
	w, h := a.Rect.Dx(), a.Rect.Dy()
	for y := range h {
		for x := range w {
			d := float64(a.Y[y*a.YStride+x]) - float64(b.Y[y*b.YStride+x])
			se += d * d
		}
	}
	if se == 0 {
		return 99
	}
	return 10 * math.Log10(255*255/(se/float64(w*h)))
}

// TestVP8RoundTrip encodes the test pattern, decodes it with libvpx and
// compares: the first frame is a key frame, forced key frames are key
// frames, and the pictures survive.
func TestVP8RoundTrip(t *testing.T) {
	cfg := Config{Width: 320, Height: 240}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	enc, err := newVP8Encoder(cfg, 320, 240)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	src := benchFrames(320, 240, 30, false)
	var frames [][]byte
	for i, img := range src {
		data, key, err := enc.Encode(img, time.Duration(i)*time.Second/15, i == 20)
		if err != nil {
			t.Fatal(err)
		}
		if want := i == 0 || i == 20; key != want {
			t.Errorf("frame %d: key %v, want %v", i, key, want)
		}
		if key != (data[0]&1 == 0) { // VP8 frame tag: P bit clear on key frames
			t.Errorf("frame %d: key %v but frame tag %#x", i, key, data[0])
		}
		frames = append(frames, bytes.Clone(data))
	}
	for i, img := range decodeVP8(t, 320, 240, frames) {
		if p := psnrY(src[i], img); p < 30 {
			t.Errorf("frame %d: PSNR %.1f dB", i, p)
		}
	}
	if _, _, err := enc.Encode(image.NewYCbCr(image.Rect(0, 0, 16, 16), image.YCbCrSubsampleRatio420), time.Second*3, false); err == nil {
		t.Error("a picture of the wrong size was accepted")
	}
	enc.Close()
	if _, _, err := enc.Encode(src[0], 4*time.Second, false); err != ErrClosed {
		t.Errorf("Encode after Close: %v", err)
	}
}
