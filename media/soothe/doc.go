// Package soothe makes the monitor's soothing sounds and plays them on
// its speaker.
//
// The sounds are generated here, never downloaded: white, pink and brown
// noise, a heartbeat and a lullaby (New). Each is a Source, pure and
// deterministic given its seed: the same seed gives the same samples, so
// tests can check them.
//
// A Speaker mixes the Sources it plays into one play.Output: each Play
// adds a stream, the streams are summed and clipped to full scale, and
// the sum is scaled by the speaker's ceiling (a linear volume, 0 to 1),
// so that nothing the speaker plays, however many streams are summed,
// ever peaks above the ceiling. A stream stops at once (a few ms of ramp,
// no click) or fades out over a duration, counted in samples, not by a
// clock. Push-to-talk plays a parent's voice as another stream (Voice: a
// soft chime, then the voice through a small jitter buffer), and ducks
// the others under it (Stream.Duck).
package soothe
