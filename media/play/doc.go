// Package play is the listener's loudspeaker: it plays the nursery live
// and sounds the alarm loud enough to wake a parent.
//
// # Using it
//
// The listener's duties, in order:
//
//  1. out, err := play.OpenDevice(name) with name from --output ("" for
//     the default; `cradle outputs` prints play.ListDevices(), and every
//     name it lists opens). It tries PulseAudio (when its server answers),
//     then ALSA (without its "pulse" device when no PulseAudio server
//     answers), at 48 kHz with a 10 ms period. No sound
//     system or no speaker is an error (ErrNoAudioLibrary, ErrNoDevice)
//     whose text tells the parent what to do: never a silent run.
//  2. p, err := play.NewPlayer(out, cfg). It starts the device; from then
//     on the device's thread pulls from the player every period. defer
//     p.Close() (it closes out and waits for the device's callback).
//  3. From the network goroutine, p.Write(frame) for each decoded frame as
//     it arrives (the depacketizer's Frame, in order; Write copies the
//     PCM). Do not pace or buffer them: the jitter buffer does that.
//  4. p.SetAlarm(true) while the alarm is raised, false once it is
//     acknowledged or cleared; p.Chime() when the monitor hears a noise
//     event; p.SetVolume and p.SetMute from the parent's controls.
//  5. p.Stats() for the status display and the soak test.
//
// # What is heard
//
// Each period the player mixes nursery × volume + alarm + chime and
// saturates to int16. The nursery is silenced by Mute and, with
// Config.VOX, by the VOX gate (VoxGate: open after the nursery is over
// -40 dBFS for 50 ms, closed after 5 s under it, as on a DECT parent
// unit). The alarm (AlarmSound: 250 ms at 1000 Hz, 250 ms at 1500 Hz,
// 250 ms of silence, repeated, at 0.7 of full scale) and the chime
// (ChimeSound: 660 then 880 Hz, 300 ms, at 0.2) are never muted or gated.
// The alarm stops at the end of its current tone, never with a click.
//
// # Latency
//
// The Jitter buffer holds just enough to ride out the network: its target
// is one device period plus twice the 95th percentile of the recent
// arrival deviation, plus a boost after each underrun, within 10 to
// 120 ms. Audio buffered well over the target for 200 ms is caught up by
// dropping whole frames, quiet ones first, so latency does not creep over
// a night. Config.OnPlayed reports when each frame reaches the device, for
// the mouth-to-ear benchmark.
//
// # From packets to frames
//
// Depacketizer sits between the WebRTC track and Player.Write: Push each
// RTP packet's sequence number, timestamp and payload as it arrives (one
// Depacketizer per track, from the goroutine that reads it; Close it with
// the track) and Write every Frame it returns, in order. It decodes each
// packet once with media.OpusDecoder, and when the sequence number jumps
// forward it conceals up to MaxConceal lost frames first (FEC for the
// frame just before the packet, PLC for the rest; our monitor's encoder
// sends no FEC, so in practice all PLC), marking them Concealed. It drops
// duplicates and packets that arrive after their gap was concealed, and
// starts afresh when the stream restarts (a jump of ResyncJump sequence
// numbers or ResyncTS of timestamp). A corrupt packet is concealed and
// reported by Push's error; play the frames anyway. Stats counts each case.
//
// # Cores and shell
//
// Jitter, VoxGate, AlarmSound and ChimeSound are pure: time is passed in,
// and they are tested with scripts. Player is the shell: it holds them
// under one mutex, held briefly by Write and by the device's callback
// (which allocates nothing in the steady state). TestSink is an Output
// paced by a ticker for tests and benchmarks; pulsetest runs a
// private PulseAudio server so tests can play through the real stack and
// record what came out.
package play
