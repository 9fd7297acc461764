package page

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomp3 "github.com/hajimehoshi/go-mp3"

	"github.com/cradle-monitor/cradle/appliance/monitor"
	"github.com/cradle-monitor/cradle/media"
	"github.com/cradle-monitor/cradle/media/play"
)

// power is the Goertzel power of hz in pcm (48 kHz), per sample.
func power(pcm []int16, hz float64) float64 {
	k := 2 * math.Cos(2*math.Pi*hz/media.SampleRate)
	var s1, s2 float64
	for _, v := range pcm {
		s1, s2 = float64(v)+k*s1-s2, s1
	}
	return (s1*s1 + s2*s2 - k*s1*s2) / float64(len(pcm)) / float64(len(pcm))
}

// nightMonitor opens a monitor with cfg (its state and address filled
// in), serves its page, and pairs a phone on it; a stranger's request for
// the night stream is refused first. It returns the phone and the
// monitor's id.
func nightMonitor(t *testing.T, cfg monitor.Config) (*phone, string) {
	t.Helper()
	cfg.StateDir, cfg.Listen = filepath.Join(t.TempDir(), "m"), "127.0.0.1:0"
	mon, err := monitor.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mon.Close() })
	p := startMonitorPage(t, mon)
	id := mon.Fingerprint().DeviceID()
	a := p.phone(t, "127.0.0.2")
	if resp := a.do(http.MethodGet, "/api/monitors/"+id+"/night.mp3", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("night stream without the cookie: %s, want 401", resp.Status)
	}
	if _, err := mon.OpenPairing(0); err != nil {
		t.Fatal(err)
	}
	if resp := a.pair("Bedside phone", string(mon.SetupCode())); resp.StatusCode != http.StatusOK {
		t.Fatalf("pairing: %s", resp.Status)
	}
	return a, id
}

// TestMonitorNightStream: on the monitor's host the night stream is MP3
// of the monitor's sound; when its microphone hangs, the stream carries
// the alarm and every page's card shows it sounding; the page's ack
// silences it (the card says acknowledged) and the stream falls quiet.
// A stranger gets nothing.
func TestMonitorNightStream(t *testing.T) {
	a, id := nightMonitor(t, monitor.Config{Media: media.ModeTest, MediaConfig: media.Config{TestAudio: "tone:3s,stall"}, History: monitor.HistoryConfig{Off: true}})
	_, events := a.open("/api/events")
	resp, chunks := a.open("/api/monitors/" + id + "/night.mp3")
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "audio/mpeg" {
		t.Fatalf("night.mp3: %s %q", resp.Status, ct)
	}
	var body bytes.Buffer
	read := func(d time.Duration) {
		end := time.After(d)
		for {
			select {
			case c, ok := <-chunks:
				if !ok {
					t.Fatal("the night stream ended")
				}
				body.Write(c)
			case <-end:
				return
			}
		}
	}
	start := time.Now()
	// The stall begins 3 s after the monitor's capture started; the alarm
	// follows 400 ms after the last frame.
	var evs strings.Builder
	sounding := false
	for deadline := time.After(8 * time.Second); !sounding; {
		select {
		case c := <-chunks:
			body.Write(c)
		case e := <-events:
			evs.Write(e)
			sounding = strings.Contains(evs.String(), `"type":"alarm"`) && strings.Contains(evs.String(), `"sounding":true`)
		case <-deadline:
			t.Fatalf("no sounding alarm on the card within 8 s; events:\n%s", evs.String())
		}
	}
	alarmAt := time.Since(start)
	read(2 * time.Second)
	if resp := a.do(http.MethodPost, "/api/monitors/"+id+"/ack", "{}"); resp.StatusCode != http.StatusOK {
		t.Fatalf("ack: %s", resp.Status)
	}
	if !readsUntil(events, 3*time.Second, `"acknowledged":true`) {
		t.Fatal("the card never showed the alarm acknowledged")
	}
	read(time.Second)
	acked := time.Since(start)
	read(2 * time.Second)

	dec, err := gomp3.NewDecoder(bytes.NewReader(body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(dec)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatal(err)
	}
	pcm := make([]int16, len(raw)/4)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(raw[4*i:]))
	}
	at := func(d time.Duration) int { return min(int(d.Seconds()*media.SampleRate), len(pcm)) }
	tone := pcm[at(500*time.Millisecond):at(1500*time.Millisecond)]
	alarm := pcm[at(alarmAt+300*time.Millisecond):at(alarmAt+1800*time.Millisecond)]
	quiet := pcm[at(acked+500*time.Millisecond):at(acked+1500*time.Millisecond)]
	t.Logf("alarm on the card %v into the stream, acked at %v; %d samples", alarmAt, acked, len(pcm))
	if p440, p1k := power(tone, 440), power(tone, 1000); p440 < 1e5 || p440 < 100*p1k {
		t.Errorf("the first second: 440 Hz %.3g, 1 kHz %.3g: not the monitor's tone", p440, p1k)
	}
	lo, hi, p440 := power(alarm, play.AlarmHzLow), power(alarm, play.AlarmHzHigh), power(alarm, 440)
	if lo < 1e5 || hi < 1e5 || lo < 100*p440 {
		t.Errorf("after the alarm: 1000 Hz %.3g, 1500 Hz %.3g, 440 Hz %.3g: not the alarm", lo, hi, p440)
	}
	if lo, hi := power(quiet, play.AlarmHzLow), power(quiet, play.AlarmHzHigh); lo > 1e3 || hi > 1e3 {
		t.Errorf("after the ack: 1000 Hz %.3g, 1500 Hz %.3g: the alarm still sounds", lo, hi)
	}
}

// TestMonitorNightMicrophoneFault: a monitor whose microphone is missing
// (ModeAuto on a machine without one: its test source plays, its status
// says the microphone is at fault) raises the night alarm with that
// reason while its frames still flow.
func TestMonitorNightMicrophoneFault(t *testing.T) {
	a, id := nightMonitor(t, monitor.Config{Media: media.ModeAuto})
	_, events := a.open("/api/events")
	if !readsUntil(events, 10*time.Second, `"faults":["microphone"]`) {
		t.Skip("this machine has a microphone: the fault cannot be staged here")
	}
	_, chunks := a.open("/api/monitors/" + id + "/night.mp3")
	go func() {
		for range chunks { // drain
		}
	}()
	if !readsUntil(events, 5*time.Second, `"reason":"microphone fault","since"`) {
		t.Fatal("no night alarm for the microphone fault")
	}
}
