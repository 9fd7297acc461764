// Package media captures the nursery: the microphone and the camera (or a
// test tone and a moving test pattern), encoded once and fanned out to
// every listener, and the sound level with noise detection.
//
// # Using it
//
// The monitor's duties, in order:
//
//  1. hub, err := media.Open(mode, cfg, log) with mode from --media
//     (auto, devices or test). Nothing captures yet. defer hub.Close().
//  2. For sound-level status: lv, _ := hub.SubscribeLevels(); read lv.C()
//     (a Level every Config.LevelInterval, 200 ms by default; Noise is the
//     VOX state). lv.Close() when done.
//  3. For each listener's WebRTC audio track: a, _ := hub.SubscribeAudio();
//     for s := range a.C() { track.WriteSample(media.Sample{Data: s.Data,
//     Duration: s.Duration}) } (pion's media.Sample). The channel closes
//     when the subscription ends; a.Err() says why. a.Close() when the
//     listener goes.
//  4. Video the same way with hub.SubscribeVideo(); the first frame a
//     subscriber gets is a key frame. Call hub.RequestKeyFrame() when a
//     receiver sends a PLI or FIR.
//  5. Read promptly: each subscriber has a small queue. A slow audio or
//     level subscriber loses its oldest items (Dropped counts them); a slow
//     video subscriber skips to the next key frame. Nobody slows the
//     capture or the other subscribers.
//
// The tracks' codecs: webrtc.RTPCodecCapability{MimeType:
// webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2} (WebRTC always
// signals Opus as two channels; the packets are mono) and
// webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}.
//
// # Encode once
//
// A Hub counts its users. The microphone runs while anyone wants levels or
// audio; the Opus encoder while anyone wants audio; the camera and the VP8
// encoder while anyone wants video. A later subscriber shares what runs;
// the last one to leave turns the device off (closed, not paused) before
// its Close returns. Stats counts starts and stops. A source that fails is
// reopened with a growing pause (at most a second for the microphone, 10 s
// for the camera); an encoder that fails ends its subscriptions with the
// error.
//
// # Audio
//
// Opus, 48 kHz mono, 32 kb/s, VoIP mode, 10 ms frames by default: the
// microphone delivers 10 ms periods, so a packet leaves the Hub about 10 ms
// after its first sample was captured (Sample.Captured), well inside the
// 30 ms capture-to-receipt goal on a LAN; 20 ms frames halve the packet
// rate and add 10 ms. Opus costs well under 1 % of a core either way.
// mediadevices links a static libopus; nothing to install.
//
// # MP3
//
// MP3Encoder turns the same 48 kHz mono PCM into an endless CBR MP3 byte
// stream (audio/mpeg) for a phone that plays in the background with its
// screen locked: by default MPEG-2 Layer III, 24 kHz, 48 kbit/s, 24 ms
// frames. Encode returns whole frames only, so each call's bytes can be
// written and flushed to a client at once. It binds Debian's LAME
// (libmp3lame, LGPL), linked dynamically, set up for a stream: CBR, mono,
// no Xing/Info or ID3 tags, quality 7, no bit reservoir (each frame holds
// its own audio and leaves as soon as it is encoded). A frame's first
// sample is Delay old when the frame comes back: 57 ms at 24 kHz (LAME's
// 576-sample encoder delay, the 576-sample frame and its 224-sample
// look-ahead); with the reservoir it would be about 106 ms. Measured here
// (amd64, per second of audio): 1.5 ms of CPU on a tone, 1.8 ms on white
// noise (0.15–0.19 % of a core), no allocations; quality 5 takes 2.6 ms
// on noise (BenchmarkMP3Encode).
//
// # Video: VP8, not H.264
//
// Measured here (amd64, one thread, per second of 640x480 at 15 fps, ~500
// kb/s): x264 "ultrafast" 1.1 % of a core on the test pattern and 2.0 % on
// a noisy picture; VP8 2.5–3 % and 12–14 %; VP8 through mediadevices' own
// wrapper (speed 0) 9 % and 51 %. H.264 is the cheaper codec, and we still
// choose VP8:
//
//   - Licence. libx264 is GPL: a binary linked with it, and the .deb and
//     image that ship it, must be distributed as GPL (or under a paid x264
//     licence), and H.264 encoders in shipped products fall under a patent
//     pool. libvpx is BSD with a royalty-free patent grant: no constraint
//     on Cradle's own licence.
//   - Browsers. Both are mandatory in WebRTC (RFC 7742), but every browser
//     decodes VP8 in software as shipped, whereas Firefox on several
//     platforms gets H.264 from Cisco's OpenH264 plugin, downloaded from
//     the internet after installation, and Cradle must work offline.
//   - CPU on a Pi Zero 2 W (four Cortex-A53 at 1 GHz, several times
//     slower per core than the machine above). We drive libvpx ourselves
//     (vp8.go) in real-time mode with an adaptive speed that keeps each
//     frame within a quarter of the frame interval, so VP8 stays within
//     about a quarter of a core and gives up quality, not frames, when the
//     Pi is busy. Video runs only while someone watches; audio, which a
//     baby monitor cannot do without, costs almost nothing. Lower
//     Config.Width/Height (320x240 costs a quarter) if a Pi struggles.
//
// The Pi's hardware H.264 encoder (V4L2 memory-to-memory) would cost least
// of all, but mediadevices v0.9.4 cannot drive it; it is the next step if
// video must be cheaper. `go test -tags codeccompare -bench Compare` (needs
// libx264-dev) repeats the comparison.
//
// # Devices
//
// Microphones are ALSA capture devices opened through malgo (miniaudio,
// which loads libasound at run time; mic_linux.go), listed again at every
// open: a microphone plugged in after the start, or pulled out and plugged
// back, is found (see "A microphone that goes"). Cameras come from
// mediadevices' V4L2 driver: USB webcams, and the Pi camera where the
// kernel exposes it as a plain V4L2 capture device (the legacy
// bcm2835-v4l2 driver; libcamera-only sensors are not); that driver lists
// the cameras present when the program starts: plug a camera in before
// starting the monitor. ALSA's "null" PCM, miniaudio's null backend and
// plugins that capture nothing of their own (rate converters, "jack",
// "oss") never count as a microphone. Config .Microphone and .Camera pick
// a device by name.
//
// # A microphone that goes
//
// While the microphone runs, the Hub watches it (micWatch, a pure core):
// nothing captured for MicFaultAfter (1 s) raises the microphone fault
// (Hub.MicrophoneFault, whose channel wakes at each change), checked every
// 250 ms; an open stream silent that long is closed, since a vanished
// device's read may hang rather than fail. The Hub reopens the source
// after 250 ms, 500 ms, then every second, and the first sound clears the
// fault. Subscriptions are not ended meanwhile: they get nothing while the
// microphone is gone (a listener's "audio lost" alarm) and its sound again
// when it is back. A microphone that will not open when the capture
// starts (ModeDevices before one is plugged in) is handled the same way.
// In ModeAuto with no microphone listed at the start, the audio is the
// test tone until one is listed (looked for every second), then that
// microphone for good. A test script's stall raises the fault but is not
// reopened (it is meant). Measured (TestMicrophoneVanishesALSA, through
// ALSA's pulse plugin): the fault 1.0–1.25 s after the source vanished,
// sound again 2.3 s after it came back, a second of which is PulseAudio's
// start.
//
// The test tone (ModeTest) can follow a script, Config.TestAudio
// ("tone:3s,stall"): tone, silence and stall steps that let end-to-end
// tests take the sound away or hang the "microphone" on cue (script.go).
//
// Building needs cgo, libvpx-dev and libmp3lame-dev (the Debian
// packages), running needs libvpx, libmp3lame0 and libasound2. Without
// cgo the package still builds: ModeAuto falls back to the test sources,
// levels work, audio and video subscriptions fail with ErrNoEncoder, and
// so does NewMP3Encoder.
package media
