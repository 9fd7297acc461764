package page

import (
	"bytes"
	"encoding/binary"

	"github.com/cradle-monitor/cradle/media"
	"github.com/cradle-monitor/cradle/media/play"
)

// alarmPatterns is how many times the alarm's pattern (750 ms) the WAV
// holds; the page loops it.
const alarmPatterns = 2

// alarmWAV renders play.AlarmSound as a 16-bit mono WAV file, for the
// page to loop in an <audio> element (Web Audio is suspended in
// background tabs on phones).
func alarmWAV() []byte {
	pcm := make([]int16, alarmPatterns*media.SampleRate*750/1000)
	var a play.AlarmSound
	a.Fill(pcm)
	var b bytes.Buffer
	n := uint32(len(pcm) * 2)
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, 36+n)
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(media.SampleRate), uint32(media.SampleRate * 2), uint16(2), uint16(16)} {
		binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, n)
	binary.Write(&b, binary.LittleEndian, pcm)
	return b.Bytes()
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
