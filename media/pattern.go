package media

import (
	"fmt"
	"image"
	"time"
)

// Pattern draws the test picture: eight colour bars and a white square
// that bounces across them, so a viewer sees at once that video moves. It
// is pure: frame n always looks the same.
type Pattern struct {
	bg *image.YCbCr
}

// BT.601 studio-range white, yellow, cyan, green, magenta, red, blue, black.
var bars = [8][3]uint8{
	{235, 128, 128}, {210, 16, 146}, {170, 166, 16}, {145, 54, 34},
	{106, 202, 222}, {81, 90, 240}, {41, 240, 110}, {16, 128, 128},
}

// Draw paints frame n into img, which must be 4:2:0 with even sides.
func (p *Pattern) Draw(img *image.YCbCr, n int) {
	r := img.Rect
	w, h := r.Dx(), r.Dy()
	if p.bg == nil || p.bg.Rect != r {
		p.bg = image.NewYCbCr(r, image.YCbCrSubsampleRatio420)
		for x := range w {
			c := bars[x*len(bars)/w]
			for y := range h {
				p.bg.Y[y*p.bg.YStride+x] = c[0]
			}
			if x%2 == 0 {
				for y := 0; y < h/2; y++ {
					p.bg.Cb[y*p.bg.CStride+x/2] = c[1]
					p.bg.Cr[y*p.bg.CStride+x/2] = c[2]
				}
			}
		}
	}
	copy(img.Y, p.bg.Y)
	copy(img.Cb, p.bg.Cb)
	copy(img.Cr, p.bg.Cr)

	// A square of a quarter of the height, bouncing at 4 and 3 pixels a
	// frame, on even coordinates so it covers whole chroma samples.
	side := max(2, h/4&^1)
	x0, y0 := bounce(n*4, w-side)&^1, bounce(n*3, h-side)&^1
	for y := y0; y < y0+side; y++ {
		row := img.Y[y*img.YStride:]
		for x := x0; x < x0+side; x++ {
			row[x] = 235
		}
	}
	for y := y0 / 2; y < (y0+side)/2; y++ {
		for x := x0 / 2; x < (x0+side)/2; x++ {
			img.Cb[y*img.CStride+x], img.Cr[y*img.CStride+x] = 128, 128
		}
	}
}

// bounce maps a distance travelled to a position going back and forth in
// [0, span].
func bounce(d, span int) int {
	if span <= 0 {
		return 0
	}
	d %= 2 * span
	if d > span {
		return 2*span - d
	}
	return d
}

// PatternSource is the test camera: the moving Pattern paced in real time.
type PatternSource struct{}

// NewPatternSource returns the test camera.
func NewPatternSource() *PatternSource { return &PatternSource{} }

func (*PatternSource) String() string { return "test pattern" }

// OpenVideo starts the pattern at f's size and rate.
func (*PatternSource) OpenVideo(f VideoFormat) (VideoStream, error) {
	if f.Width < 2 || f.Height < 2 || f.FPS < 1 {
		return nil, fmt.Errorf("media: test pattern: bad format %dx%d at %d fps", f.Width, f.Height, f.FPS)
	}
	rect := image.Rect(0, 0, f.Width&^1, f.Height&^1)
	return &patternStream{
		img:   image.NewYCbCr(rect, image.YCbCrSubsampleRatio420),
		pacer: newPacer(time.Second / time.Duration(f.FPS)),
	}, nil
}

type patternStream struct {
	pattern Pattern
	img     *image.YCbCr
	n       int
	pacer   *pacer
}

func (s *patternStream) Read() (Frame, error) {
	at, err := s.pacer.wait()
	if err != nil {
		return Frame{}, err
	}
	s.pattern.Draw(s.img, s.n)
	s.n++
	// The picture is taken at the end of its period, when Read returns.
	return Frame{Image: s.img, Captured: at.Add(s.pacer.period)}, nil
}

func (s *patternStream) Close() error { s.pacer.close(); return nil }
