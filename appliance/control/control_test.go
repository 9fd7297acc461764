package control

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func sampleMessages() []Message {
	mid := "0"
	idx := uint16(0)
	return []Message{
		Hello{Protocol: 1, Role: RoleListener, DeviceID: "ABCDEFG", Name: "kitchen laptop"},
		HelloAck{Protocol: 1, Role: RoleMonitor, DeviceID: "HIJKLMN", Name: "nursery", Trusted: true, AutoStream: StreamAudio},
		ErrorMsg{Code: "untrusted", Message: "pair first", Ref: TypeStreamStart},
		PairStart{Name: "phone", PA: bytes.Repeat([]byte{4}, 65)},
		PairReply{PB: []byte{4, 1, 2}},
		PairConfirm{CA: []byte{9, 9}},
		PairDone{CB: []byte{7}, DeviceID: "HIJKLMN", Name: "nursery"},
		Ping{Seq: 7, Sent: 1234567890123},
		Pong{Seq: 7, Echo: 1234567890123},
		StreamStart{Session: "s1", Kind: StreamAudioVideo},
		StreamStop{Session: "s1", Reason: "user"},
		WebRTCOffer{Session: "s1", SDP: "v=0\r\n"},
		WebRTCAnswer{Session: "s1", SDP: "v=0\r\n"},
		WebRTCICE{Session: "s1", Candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host", SDPMid: &mid, SDPMLineIndex: &idx},
		Status{RMSDBFS: -42.5, PeakDBFS: -30, Noise: true, Listeners: 2, Streaming: 1, Faults: []string{FaultMicrophone}},
		Bye{Code: "going_away", Reason: "shutdown"},
		InfoRequest{},
		Info{Name: "Nursery", Port: 48080, PairingOpen: true, Connections: []InfoConnection{{DeviceID: "ABCDEFG", Name: "kitchen", Trusted: true, You: true, ConnectedMillis: 61000, HeartbeatMillis: 420, RTTMicros: 800}}},
		PairOpen{DurationMillis: 300000},
		PairClose{},
		PairingState{Open: true, RemainingMillis: 179000, FailedAttempts: 2, Closed: PairingClosedFailures},
		DeviceAdded{ID: "K7Q2M9XD", Name: "Bedside phone", PairedAtMillis: 1772402400000},
		HistoryRequest{FromMillis: 1796500800000, ToMillis: 1796558400000, After: "AAABmm3NJMABAAAAAQAAAAA"},
		History{NowMillis: 1796558400000, StepMillis: 60000, Days: 30,
			Minutes:     [][4]int64{{1796500800000, -612, -580, -410}},
			Episodes:    []HistoryEpisode{{StartMillis: 1796503200000, EndMillis: 1796503920000, PeakDecidB: -123}},
			Faults:      []HistoryFault{{Fault: FaultMicrophone, StartMillis: 1796510000000, EndMillis: 1796510060000}},
			Connections: []HistoryConnection{{Name: "Bedside phone", Kind: "phone", StartMillis: 1796500800000, EndMillis: 1796558400000, Ongoing: true}},
			Next:        "AAABmm3NJMABAAAAAQAAAAA"},
		SoundStart{Sound: SoundPink, Minutes: 30},
		SoundStop{},
		SoundState{Playing: true, Sound: SoundPink, By: "kitchen laptop", RemainingMillis: 1795000, Fading: false, Speaker: true, Ref: TypeSoundStart},
		TalkState{Talking: true, By: "kitchen laptop", You: true, Speaker: true},
	}
}

func TestRoundTripEveryMessage(t *testing.T) {
	if got, want := len(sampleMessages()), len(constructors); got != want {
		t.Fatalf("samples cover %d of %d message types", got, want)
	}
	var stream bytes.Buffer
	for _, m := range sampleMessages() {
		if err := WriteMessage(&stream, m); err != nil {
			t.Fatalf("write %T: %v", m, err)
		}
		// Pointers encode the same as values.
		if err := WriteMessage(&stream, ptr(m)); err != nil {
			t.Fatalf("write *%T: %v", m, err)
		}
	}
	for _, want := range sampleMessages() {
		for range 2 {
			got, err := ReadMessage(&stream)
			if err != nil {
				t.Fatalf("read %T: %v", want, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip: got %#v, want %#v", got, want)
			}
		}
	}
	if _, err := ReadMessage(&stream); err != io.EOF {
		t.Fatalf("at end: got %v, want io.EOF", err)
	}
}

func ptr(m Message) Message {
	v := reflect.New(reflect.TypeOf(m))
	v.Elem().Set(reflect.ValueOf(m))
	return v.Interface().(Message)
}

func TestFrameErrors(t *testing.T) {
	big := make([]byte, 4)
	binary.BigEndian.PutUint32(big, MaxFrame+1)
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"oversized", big, ErrFrameTooLarge},
		{"huge", []byte{0xff, 0xff, 0xff, 0xff}, ErrFrameTooLarge},
		{"truncated header", []byte{0, 0}, ErrMalformedFrame},
		{"truncated body", []byte{0, 0, 0, 10, '{'}, ErrMalformedFrame},
		{"empty frame", []byte{0, 0, 0, 0}, ErrMalformedFrame},
		{"eof", nil, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadFrame(bytes.NewReader(tt.in), 0)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if tt.want != io.EOF && CodeOf(err) != tt.want.(*Error).Code {
				t.Fatalf("CodeOf = %v, want %v", CodeOf(err), tt.want.(*Error).Code)
			}
		})
	}
	if err := WriteFrame(io.Discard, make([]byte, MaxFrame+1)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversized write: %v", err)
	}
	if _, err := ReadFrame(bytes.NewReader([]byte{0, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9}), 8); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("custom limit: %v", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{`not json`, ErrMalformedFrame},
		{`{"body":{}}`, ErrMalformedFrame},
		{`{"type":"ping","body":{"seq":"x"}}`, ErrMalformedFrame},
		{`{"type":"ping","body":[]}`, ErrMalformedFrame},
		{`{"type":"teleport","body":{}}`, ErrUnknownMessage},
	}
	for _, tt := range tests {
		_, err := Decode([]byte(tt.in))
		if !errors.Is(err, tt.want) {
			t.Errorf("Decode(%s) = %v, want %v", tt.in, err, tt.want)
		}
	}
	var ue *UnknownMessageError
	if _, err := Decode([]byte(`{"type":"teleport"}`)); !errors.As(err, &ue) || ue.Type != "teleport" {
		t.Errorf("unknown type not reported: %v", err)
	}
	// A body may be absent: fields take zero values.
	if m, err := Decode([]byte(`{"type":"bye"}`)); err != nil || m != (Bye{}) {
		t.Errorf("bye without body: %v %v", m, err)
	}
}

func TestCodesAreMappedOnce(t *testing.T) {
	seen := map[string]Code{}
	for c := CodeNone; c <= CodeUnavailable; c++ {
		name := c.String()
		if strings.HasPrefix(name, "code_") {
			t.Errorf("code %d has no name", c)
		}
		if prev, ok := seen[name]; ok {
			t.Errorf("codes %d and %d share the name %q", prev, c, name)
		}
		seen[name] = c
		if ParseCode(name) != c || FromQUIC(c.QUIC()) != c {
			t.Errorf("code %v does not round trip", c)
		}
		if _, ok := advice[c]; !ok {
			t.Errorf("code %v has no advice for users", c)
		}
	}
	if len(seen) != len(codeNames) {
		t.Errorf("%d names, %d codes", len(codeNames), len(seen))
	}
	if ParseCode("from_the_future") != CodeProtocol {
		t.Error("unknown names must map to protocol_error")
	}
	err := ErrorMsg{Code: "revoked", Message: "bye"}.ToError()
	if !errors.Is(err, ErrRevoked) || errors.Is(err, ErrUntrusted) || !err.Remote {
		t.Errorf("ToError: %#v", err)
	}
	if !strings.Contains(ErrFingerprintMismatch.Error(), "re-pair") {
		t.Errorf("fingerprint mismatch must tell the user to re-pair: %q", ErrFingerprintMismatch.Error())
	}
}

func TestAllowedUntrusted(t *testing.T) {
	allowed := map[Type]bool{TypeHello: true, TypePing: true, TypePong: true, TypeError: true, TypeBye: true, TypePairStart: true, TypePairConfirm: true}
	for typ := range constructors {
		if AllowedUntrusted(typ) != allowed[typ] {
			t.Errorf("AllowedUntrusted(%s) = %v", typ, !allowed[typ])
		}
	}
}

func FuzzReadFrame(f *testing.F) {
	for _, m := range sampleMessages() {
		var b bytes.Buffer
		_ = WriteMessage(&b, m)
		f.Add(b.Bytes())
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		for {
			b, err := ReadFrame(r, 0)
			if err != nil {
				return
			}
			if len(b) == 0 || len(b) > MaxFrame {
				t.Fatalf("frame of %d bytes accepted", len(b))
			}
		}
	})
}

func FuzzDecode(f *testing.F) {
	for _, m := range sampleMessages() {
		b, _ := Encode(m)
		f.Add(b)
	}
	f.Add([]byte(`{"type":"x"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := Decode(in)
		if err != nil {
			if !errors.Is(err, ErrMalformedFrame) && !errors.Is(err, ErrUnknownMessage) && !errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		// Whatever decodes re-encodes and decodes to the same message.
		b, err := Encode(m)
		if err != nil {
			t.Fatalf("re-encode %T: %v", m, err)
		}
		m2, err := Decode(b)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-decode: %v %#v %#v", err, m, m2)
		}
	})
}

func BenchmarkEncodeDecode(b *testing.B) {
	m := Status{RMSDBFS: -40, PeakDBFS: -30, Listeners: 1}
	b.ReportAllocs()
	for b.Loop() {
		buf, _ := Encode(m)
		if _, err := Decode(buf); err != nil {
			b.Fatal(err)
		}
	}
}
