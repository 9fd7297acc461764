package store

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPayloadRoundTrip(t *testing.T) {
	seen := map[Type]bool{}
	for _, p := range samplePayloads() {
		t.Run(p.EventType().String(), func(t *testing.T) {
			seen[p.EventType()] = true
			e := Event{Seq: 42, Type: p.EventType(), Version: 1, Time: time.Unix(1700000000, 5).UTC(),
				Boot: [16]byte{9, 8, 7}, Mono: 1234 * time.Millisecond, Payload: p}
			rec := encodeRecord(e, p.(encoder))
			got, err := decodeRecord(42, rec)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, e) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, e)
			}
		})
	}
	for typ := range codecs {
		if !seen[typ] {
			t.Errorf("samplePayloads has no %s", typ)
		}
	}
}

func TestTypeNames(t *testing.T) {
	for typ := range codecs {
		if _, ok := typeNames[typ]; !ok {
			t.Errorf("type %d has no name", typ)
		}
	}
	if got := Type(999).String(); got != "type-999" {
		t.Errorf("Type(999).String() = %q", got)
	}
}

func TestDecodeRecordRejects(t *testing.T) {
	good := encodeRecord(Event{Seq: 7, Type: TypeListenerTrusted, Version: 1},
		ListenerTrusted{Fingerprint: fp(1), Name: "a"})
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	reseal := func(b []byte) []byte { sealRecord(b, 7); return b }
	tests := []struct {
		name   string
		rec    []byte
		reason string
	}{
		{"empty", nil, "empty record"},
		{"newer envelope", mutate(func(b []byte) []byte { b[0] = 2; return b }), "envelope format 2"},
		{"short", good[:20], "shorter than its header"},
		{"bit flip", mutate(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), "checksum"},
		{"wrong seq", mutate(func(b []byte) []byte { sealRecord(b, 8); return b }), "holds seq 8"},
		{"unknown type", mutate(func(b []byte) []byte { b[14] = 200; return reseal(b) }), "unknown event type"},
		{"newer version", mutate(func(b []byte) []byte { b[16] = 2; return reseal(b) }), "unknown schema version"},
		{"version 0", mutate(func(b []byte) []byte { b[16] = 0; return reseal(b) }), "unknown schema version"},
		{"trailing", mutate(func(b []byte) []byte { return reseal(append(b, 0)) }), "trailing bytes"},
		{"truncated payload", mutate(func(b []byte) []byte { return reseal(b[:len(b)-2]) }), "truncated"},
		{"too large", make([]byte, headerLen+MaxRecordSize+1), "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := decodeRecord(7, tt.rec)
			if err == nil || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.reason)
			}
			u, ok := e.Payload.(Unknown)
			if !ok || e.Seq != 7 {
				t.Fatalf("event = %+v, want seq 7 with an Unknown payload", e)
			}
			if len(tt.rec) > 0 && len(u.Raw) == 0 {
				t.Errorf("Unknown.Raw is empty")
			}
		})
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	st := State{HistoryLen: 4}
	for i := range 500 {
		st = st.Apply(Event{Seq: uint64(i + 1), Time: randTime(r), Payload: randPayload(r)})
		got, err := decodeSnapshot(encodeSnapshot(st))
		if err != nil {
			t.Fatal(err)
		}
		got.HistoryLen = st.HistoryLen
		diffState(t, "snapshot", got, st)
		if t.Failed() {
			t.Fatalf("after %d events", i+1)
		}
	}
}

func TestSnapshotRejects(t *testing.T) {
	good := encodeSnapshot(State{Seq: 3, Allowlist: map[[32]byte]TrustedListener{fp(1): {Fingerprint: fp(1), Name: "a"}}})
	for name, b := range map[string][]byte{
		"empty":     nil,
		"newer":     append([]byte{9}, good[1:]...),
		"bit flip":  append(bytes.Clone(good[:len(good)-1]), good[len(good)-1]^1),
		"truncated": good[:len(good)-1],
	} {
		if _, err := decodeSnapshot(b); err == nil {
			t.Errorf("%s: decodeSnapshot succeeded", name)
		}
	}
}

func TestSetupCodeNotPrinted(t *testing.T) {
	p := SetupCodeSet{Scheme: "spake2+", Salt: []byte("SALTSALT"), Verifier: []byte("SECRETVERIFIER")}
	var lb logBuffer
	lb.logger().Info("x", "setup", p)
	for _, s := range []string{lb.String(), p.String()} {
		if strings.Contains(s, "SECRET") || strings.Contains(s, "SALT") {
			t.Errorf("setup code material printed: %s", s)
		}
	}
}
