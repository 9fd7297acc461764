package rtc

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// BenchmarkFirstAudio measures, on loopback, a whole stream start: Start,
// HandleOffer, SetAnswer (signalling by direct calls), then the
// listener's connected state and its first RTP packet. "ticker" feeds the
// shared track on a free-running 20 ms ticker, as the media pipeline
// does; "on-connect" also writes a sample the moment the monitor's side
// connects (the floor).
func BenchmarkFirstAudio(b *testing.B) {
	for _, onConnect := range []bool{false, true} {
		name := "ticker"
		if onConnect {
			name = "on-connect"
		}
		b.Run(name, func(b *testing.B) {
			e := newEngine(b, loopConfig())
			track := opusTrack(b)
			startPump(b, track, silence, frame)
			a := e.NewAnswerer()
			defer a.Close()
			if onConnect {
				a.OnState = func(_ string, s webrtc.PeerConnectionState) {
					if s == webrtc.PeerConnectionStateConnected {
						_ = track.WriteSample(media.Sample{Data: silence, Duration: frame})
					}
				}
			}
			var connected, first []time.Duration
			for i := 0; b.Loop(); i++ {
				c, f := startOnce(b, e, a, track)
				connected = append(connected, c)
				first = append(first, f)
			}
			b.ReportMetric(ms(median(connected)), "ms-connected")
			b.ReportMetric(ms(median(first)), "ms-first-rtp")
			b.ReportMetric(ms(slices.Max(first)), "ms-first-rtp-max")
		})
	}
}

// startOnce runs one stream start and stop, returning the times from the
// start of signalling to connected and to the first RTP packet.
func startOnce(b *testing.B, e *Engine, a *Answerer, track webrtc.TrackLocal) (connected, first time.Duration) {
	o := e.NewOfferer()
	conn := make(chan time.Time, 1)
	rtp := make(chan time.Time, 1)
	o.OnState = func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			conn <- time.Now()
		}
	}
	o.OnTrack = func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if _, _, err := tr.ReadRTP(); err == nil {
			rtp <- time.Now()
		}
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
		}
	}
	t0 := time.Now()
	offer, err := o.Start("bench", false)
	if err != nil {
		b.Fatal(err)
	}
	answer, err := a.HandleOffer("bench", offer, []webrtc.TrackLocal{track})
	if err != nil {
		b.Fatal(err)
	}
	if err := o.SetAnswer(answer); err != nil {
		b.Fatal(err)
	}
	var tc, tf time.Time
	timeout := time.After(wait)
	for tc.IsZero() || tf.IsZero() {
		select {
		case tc = <-conn:
		case tf = <-rtp:
		case <-timeout:
			b.Fatal("no audio")
		}
	}
	b.StopTimer()
	_ = o.Close()
	_ = a.Stop("bench")
	b.StartTimer()
	return tc.Sub(t0), tf.Sub(t0)
}

// BenchmarkSampleLatency measures one sample's trip on an open loopback
// stream: WriteSample on the monitor's track to ReadRTP returning on the
// listener's (packetizing, SRTP both ways, UDP). ns/op is the mean.
func BenchmarkSampleLatency(b *testing.B) {
	e := newEngine(b, loopConfig())
	c := newConn(b, e)
	track := opusTrack(b)
	arrived := make(chan time.Time, 1)
	var once sync.Once
	ready := make(chan struct{})
	l := c.dial(e, "s1", false, []webrtc.TrackLocal{track}, func(tr *webrtc.TrackRemote) {
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			once.Do(func() { close(ready) })
			select {
			case arrived <- time.Now():
			default:
			}
		}
	})
	l.waitConnected(b)
	// Write until the first packet gets through (the sender binds just
	// after connected), then drain.
	for wrote := false; !wrote; {
		_ = track.WriteSample(media.Sample{Data: silence, Duration: frame})
		select {
		case <-ready:
			wrote = true
		case <-time.After(frame):
		}
	}
	select {
	case <-arrived:
	case <-time.After(frame):
	}

	var lat []time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := track.WriteSample(media.Sample{Data: silence, Duration: frame}); err != nil {
			b.Fatal(err)
		}
		select {
		case t1 := <-arrived:
			lat = append(lat, t1.Sub(t0))
		case <-time.After(wait):
			b.Fatal("sample lost")
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "µs-p50")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "µs-p99")
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
