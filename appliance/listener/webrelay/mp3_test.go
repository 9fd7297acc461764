package webrelay

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	gomp3 "github.com/hajimehoshi/go-mp3"

	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/appliance/monitor"
	"github.com/cradle-monitor/cradle/media"
	"github.com/cradle-monitor/cradle/media/play"
)

// mp3Chunk is what one read of the night stream returned, and when.
type mp3Chunk struct {
	at time.Time
	n  int
}

// listenMP3 serves sess with ServeMP3 and reads the stream for d: its
// bytes and when they arrived.
func listenMP3(t *testing.T, sess *listener.Session, d time.Duration) (start time.Time, body []byte, chunks []mp3Chunk) {
	t.Helper()
	served := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served <- ServeMP3(r.Context(), w, sess)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	start = time.Now()
	if ct := resp.Header.Get("Content-Type"); ct != "audio/mpeg" {
		t.Fatalf("Content-Type %q", ct)
	}
	var b bytes.Buffer
	buf := make([]byte, 64<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			b.Write(buf[:n])
			chunks = append(chunks, mp3Chunk{at: time.Now(), n: b.Len()})
		}
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, io.EOF) {
				t.Fatalf("after %d bytes: %v", b.Len(), err)
			}
			break
		}
	}
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("ServeMP3: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeMP3 did not return after the client left")
	}
	if len(chunks) < 10 {
		t.Fatalf("%d reads", len(chunks))
	}
	return start, b.Bytes(), chunks
}

// decodeMP3 decodes a night stream with an independent decoder (go-mp3),
// checking its format, and returns the left channel at 48 kHz.
func decodeMP3(t *testing.T, body []byte) []int16 {
	t.Helper()
	if len(body) < 4 || body[0] != 0xff || body[1] != 0xfb { // MPEG-1 Layer III, no CRC
		t.Fatalf("stream starts % x, want an MPEG-1 Layer III frame header", body[:min(4, len(body))])
	}
	dec, err := gomp3.NewDecoder(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if dec.SampleRate() != NightSampleRate {
		t.Fatalf("sample rate %d", dec.SampleRate())
	}
	raw, err := io.ReadAll(dec)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatal(err)
	}
	pcm := make([]int16, len(raw)/4)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(raw[4*i:]))
	}
	return pcm
}

// TestServeMP3Tone: the night stream is constant-bitrate MP3 (320 kbit/s,
// as fast as real time, with no gap) that an independent decoder turns
// into the monitor's 440 Hz tone.
func TestServeMP3Tone(t *testing.T) {
	sess := setup(t)
	start, body, chunks := listenMP3(t, sess, 3*time.Second)
	for i := 1; i < len(chunks); i++ {
		if gap := chunks[i].at.Sub(chunks[i-1].at); gap > 250*time.Millisecond {
			t.Errorf("nothing for %v, %v into the stream", gap, chunks[i-1].at.Sub(start))
		}
	}
	// Over the last 2 s the rate is the bitrate's (40 000 bytes a second).
	end := chunks[len(chunks)-1]
	var from mp3Chunk
	for _, c := range chunks {
		if end.at.Sub(c.at) <= 2*time.Second {
			from = c
			break
		}
	}
	rate := float64(end.n-from.n) / end.at.Sub(from.at).Seconds()
	if rate < 0.9*NightBitrate*125 || rate > 1.1*NightBitrate*125 {
		t.Errorf("%.0f bytes a second over the last 2 s, want about %d", rate, NightBitrate*125)
	}
	pcm := decodeMP3(t, body)
	if len(pcm) < media.SampleRate*2 {
		t.Fatalf("%d samples decoded from %d bytes", len(pcm), len(body))
	}
	tail := pcm[len(pcm)-media.SampleRate:]
	if !isTone(tail) {
		t.Fatalf("the last second is not the tone: 440 Hz %.3g, 1 kHz %.3g", goertzel(tail, 440), goertzel(tail, 1000))
	}
}

// TestServeMP3StallAlarm: the monitor's microphone hangs after 2 s; the
// stream keeps flowing and, once the session's audio-lost alarm sounds,
// carries the alarm (1000/1500 Hz) instead of the tone.
func TestServeMP3StallAlarm(t *testing.T) {
	sess := setup(t, monitor.Config{Media: media.ModeTest, MediaConfig: media.Config{TestAudio: "tone:2s,stall"}, History: monitor.HistoryConfig{Off: true}})
	alarmed := alarmSounded(t, sess)
	start, body, chunks := listenMP3(t, sess, 5500*time.Millisecond)
	var at time.Time
	select {
	case at = <-alarmed:
	default:
		t.Fatal("the session raised no sounding alarm")
	}
	for i := 1; i < len(chunks); i++ {
		if gap := chunks[i].at.Sub(chunks[i-1].at); gap > 250*time.Millisecond {
			t.Errorf("nothing for %v, %v into the stream", gap, chunks[i-1].at.Sub(start))
		}
	}
	pcm := decodeMP3(t, body)
	// The stream's audio is real time from its start: the alarm's samples
	// start about at(alarm) - start into it.
	from := int((at.Sub(start) + 200*time.Millisecond).Seconds() * media.SampleRate)
	if len(pcm)-from < media.SampleRate {
		t.Fatalf("alarm %v into a stream of %d samples: too little after it", at.Sub(start), len(pcm))
	}
	after := pcm[from:]
	lo, hi, tone := goertzel(after, play.AlarmHzLow), goertzel(after, play.AlarmHzHigh), goertzel(after, 440)
	t.Logf("alarm %v into the stream; after it: 1000 Hz %.3g, 1500 Hz %.3g, 440 Hz %.3g", at.Sub(start), lo, hi, tone)
	if lo < 1e6 || hi < 1e6 || lo < 100*tone || hi < 100*tone {
		t.Fatalf("after the alarm: 1000 Hz %.3g, 1500 Hz %.3g, 440 Hz %.3g: not the alarm", lo, hi, tone)
	}
	if before := pcm[media.SampleRate/2 : media.SampleRate*3/2]; !isTone(before) {
		t.Errorf("before the stall: not the tone")
	}
}

// TestServeMP3SessionEnds: ServeMP3 returns listener.ErrSessionClosed
// when the session ends.
func TestServeMP3SessionEnds(t *testing.T) {
	sess := setup(t)
	rec := httptest.NewRecorder()
	done := make(chan error, 1)
	go func() { done <- ServeMP3(context.Background(), rec, sess) }()
	sess.Close()
	select {
	case err := <-done:
		if !errors.Is(err, listener.ErrSessionClosed) {
			t.Fatalf("ServeMP3 = %v, want listener.ErrSessionClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeMP3 still runs after the session ended")
	}
	if ct := rec.Header().Get("Content-Type"); ct != "audio/mpeg" {
		t.Fatalf("Content-Type %q", ct)
	}
}
