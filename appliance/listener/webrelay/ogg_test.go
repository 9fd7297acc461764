package webrelay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/appliance/monitor"
	"github.com/cradle-monitor/cradle/media"
	"github.com/cradle-monitor/cradle/media/play"
)

// oggPage is one parsed Ogg page (each of ours holds one packet).
type oggPage struct {
	flags   byte
	granule uint64
	serial  uint32
	seq     uint32
	packet  []byte
	at      time.Time // when the client had read it
	raw     []byte
}

var oggCRC = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return
}()

// readPage reads and checks one page: capture pattern, version, CRC.
func readPage(r *bufio.Reader) (oggPage, error) {
	hdr := make([]byte, 27)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return oggPage{}, err
	}
	if string(hdr[:4]) != "OggS" || hdr[4] != 0 {
		return oggPage{}, fmt.Errorf("bad page header % x", hdr[:6])
	}
	segs := make([]byte, hdr[26])
	if _, err := io.ReadFull(r, segs); err != nil {
		return oggPage{}, err
	}
	n := 0
	for _, s := range segs {
		n += int(s)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return oggPage{}, err
	}
	raw := append(append(append([]byte(nil), hdr...), segs...), body...)
	want := binary.LittleEndian.Uint32(raw[22:])
	binary.LittleEndian.PutUint32(raw[22:], 0)
	var crc uint32
	for _, b := range raw {
		crc = crc<<8 ^ oggCRC[byte(crc>>24)^b]
	}
	binary.LittleEndian.PutUint32(raw[22:], want)
	if crc != want {
		return oggPage{}, fmt.Errorf("page CRC %08x, header says %08x", crc, want)
	}
	return oggPage{
		flags: hdr[5], granule: binary.LittleEndian.Uint64(hdr[6:]), serial: binary.LittleEndian.Uint32(hdr[14:]),
		seq: binary.LittleEndian.Uint32(hdr[18:]), packet: body, at: time.Now(), raw: raw,
	}, nil
}

// listenOgg serves sess with ServeOgg and reads its stream for d. It
// checks the headers, the OpusHead and OpusTags pages, and that every
// audio page holds one packet whose granule advances 480 (10 ms).
func listenOgg(t *testing.T, sess *listener.Session, d time.Duration) (start time.Time, header, pages []oggPage) {
	t.Helper()
	served := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served <- ServeOgg(r.Context(), w, sess)
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
	if ct := resp.Header.Get("Content-Type"); ct != "audio/ogg" {
		t.Fatalf("Content-Type %q", ct)
	}
	br := bufio.NewReader(resp.Body)
	for {
		p, err := readPage(br)
		if err != nil {
			if ctx.Err() == nil {
				t.Fatalf("after %d pages: %v", len(pages), err)
			}
			break
		}
		pages = append(pages, p)
	}
	if tail := time.Since(pages[len(pages)-1].at); tail > 250*time.Millisecond {
		t.Errorf("no page for the last %v of the stream", tail)
	}
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("ServeOgg: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeOgg did not return after the client left")
	}
	if len(pages) < 3 {
		t.Fatalf("%d pages", len(pages))
	}
	head, tags := pages[0], pages[1]
	if !bytes.HasPrefix(head.packet, []byte("OpusHead")) || head.flags&2 == 0 || head.packet[9] != 1 ||
		binary.LittleEndian.Uint32(head.packet[12:]) != 48000 || !bytes.HasPrefix(tags.packet, []byte("OpusTags")) {
		t.Fatalf("header pages: %q (flags %x), %q", head.packet, head.flags, tags.packet[:8])
	}
	for i, p := range pages {
		if p.seq != uint32(i) || p.serial != head.serial {
			t.Fatalf("page %d: sequence %d, serial %x (want %x)", i, p.seq, p.serial, head.serial)
		}
		if i < 2 {
			continue
		}
		if want := uint64(480 * (i - 1)); p.granule != want {
			t.Fatalf("page %d: granule %d, want %d (480 per 10 ms packet)", i, p.granule, want)
		}
	}
	return start, pages[:2], pages[2:]
}

// decodeOgg decodes the audio pages.
func decodeOgg(t *testing.T, pages []oggPage) []int16 {
	t.Helper()
	dec, err := media.NewOpusDecoder()
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	buf := make([]int16, media.MaxFrameSamples)
	var pcm []int16
	for i, p := range pages {
		n, err := dec.Decode(p.packet, buf)
		if err != nil {
			t.Fatalf("audio packet %d: %v", i, err)
		}
		if n != 480 {
			t.Fatalf("audio packet %d: %d samples, want 480", i, n)
		}
		pcm = append(pcm, buf[:n]...)
	}
	return pcm
}

// opusdec decodes the stream with opus-tools' opusdec, if installed: an
// outside check that it is valid Ogg/Opus.
func opusdec(t *testing.T, header, pages []oggPage) []int16 {
	t.Helper()
	bin, err := exec.LookPath("opusdec")
	if err != nil {
		t.Log("opusdec not installed: skipping the outside check")
		return nil
	}
	dir := t.TempDir()
	var b bytes.Buffer
	for _, p := range append(header, pages...) {
		b.Write(p.raw)
	}
	in, out := filepath.Join(dir, "in.opus"), filepath.Join(dir, "out.wav")
	if err := os.WriteFile(in, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command(bin, "--quiet", "--rate", "48000", in, out).CombinedOutput(); err != nil {
		t.Fatalf("opusdec: %v: %s", err, msg)
	}
	wav, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(wav, []byte("data"))
	if i < 0 || i+8 > len(wav) {
		t.Fatal("opusdec wrote no data chunk")
	}
	data := wav[i+8:]
	pcm := make([]int16, len(data)/2)
	for k := range pcm {
		pcm[k] = int16(binary.LittleEndian.Uint16(data[2*k:]))
	}
	return pcm
}

// TestServeOggTone: the stream is valid Ogg/Opus (pages, CRC, granules)
// that decodes (ours and opusdec) to the monitor's 440 Hz tone, and it
// flows in real time.
func TestServeOggTone(t *testing.T) {
	sess := setup(t)
	start, header, pages := listenOgg(t, sess, 3*time.Second)
	elapsed := pages[len(pages)-1].at.Sub(start)
	if got, want := float64(len(pages)), elapsed.Seconds()*100; got < 0.9*want || got > 1.1*want+10 {
		t.Errorf("%d packets in %v, want about %.0f", len(pages), elapsed, want)
	}
	pcm := decodeOgg(t, pages)
	tail := pcm[len(pcm)-media.SampleRate:]
	if !isTone(tail) {
		t.Fatalf("the last second is not the tone: 440 Hz %.3g, 1 kHz %.3g", goertzel(tail, 440), goertzel(tail, 1000))
	}
	if ext := opusdec(t, header, pages); ext != nil {
		if len(ext) < media.SampleRate || !isTone(ext[len(ext)-media.SampleRate/2:]) {
			t.Fatalf("opusdec: %d samples, not the tone", len(ext))
		}
	}
}

// TestServeOggStallAlarm: the monitor's microphone hangs after 2 s; the
// stream keeps flowing in real time (no gap over 250 ms, 100 packets a
// second) and, once the session raises its audio-lost alarm, carries the
// alarm's 1000/1500 Hz instead of the tone.
func TestServeOggStallAlarm(t *testing.T) {
	sess := setup(t, monitor.Config{Media: media.ModeTest, MediaConfig: media.Config{TestAudio: "tone:2s,stall"}, History: monitor.HistoryConfig{Off: true}})
	alarmed := alarmSounded(t, sess)
	start, _, pages := listenOgg(t, sess, 5500*time.Millisecond)
	var at time.Time
	select {
	case at = <-alarmed:
	default:
		t.Fatal("the session raised no sounding alarm")
	}
	// Flow: no gap, and real-time rate over the last 3 s (tone, stall,
	// alarm).
	for i := 1; i < len(pages); i++ {
		if gap := pages[i].at.Sub(pages[i-1].at); gap > 250*time.Millisecond {
			t.Errorf("no page for %v after packet %d (%v into the stream)", gap, i-1, pages[i-1].at.Sub(start))
		}
	}
	end := pages[len(pages)-1].at
	n := 0
	for _, p := range pages {
		if end.Sub(p.at) < 3*time.Second {
			n++
		}
	}
	if n < 270 || n > 330 {
		t.Errorf("%d packets in the last 3 s, want about 300", n)
	}
	// Content: the tone before the stall, the alarm after it was raised.
	pcm := decodeOgg(t, pages)
	iAlarm := -1
	for i, p := range pages {
		if p.at.After(at.Add(50 * time.Millisecond)) {
			iAlarm = i
			break
		}
	}
	if iAlarm < 0 || len(pages)-iAlarm < 100 {
		t.Fatalf("alarm raised %v into the stream: too little stream after it", at.Sub(start))
	}
	after := pcm[iAlarm*480:]
	lo, hi, tone := goertzel(after, play.AlarmHzLow), goertzel(after, play.AlarmHzHigh), goertzel(after, 440)
	t.Logf("alarm %v into the stream; after it: 1000 Hz %.3g, 1500 Hz %.3g, 440 Hz %.3g", at.Sub(start), lo, hi, tone)
	// Each alarm tone is a third of the pattern at 0.7 of full scale:
	// about (0.7 × 32767 / 3)² / 4 ≈ 1.5e7 each; silence is near 0.
	if lo < 1e6 || hi < 1e6 || lo < 100*tone || hi < 100*tone {
		t.Fatalf("after the alarm: 1000 Hz %.3g, 1500 Hz %.3g, 440 Hz %.3g: not the alarm", lo, hi, tone)
	}
	if iAlarm > 150 {
		before := pcm[(iAlarm-150)*480 : (iAlarm-50)*480]
		if !isTone(before) {
			t.Errorf("before the stall: not the tone")
		}
	}
}

// TestServeOggSessionEnds: ServeOgg returns listener.ErrSessionClosed
// when the session ends.
func TestServeOggSessionEnds(t *testing.T) {
	sess := setup(t)
	rec := httptest.NewRecorder()
	done := make(chan error, 1)
	go func() { done <- ServeOgg(context.Background(), rec, sess) }()
	sess.Close()
	select {
	case err := <-done:
		if !errors.Is(err, listener.ErrSessionClosed) {
			t.Fatalf("ServeOgg = %v, want listener.ErrSessionClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeOgg still runs after the session ended")
	}
	if ct := rec.Header().Get("Content-Type"); ct != "audio/ogg" {
		t.Fatalf("Content-Type %q", ct)
	}
}
