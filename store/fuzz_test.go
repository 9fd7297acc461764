package store

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// Fuzz targets for every decoder of bytes read from disk: the record
// envelope, each payload type and the snapshot. Seeds are added with f.Add
// and committed under testdata/fuzz/<FuzzName>/ (regenerate them with
// CRADLE_STORE_WRITE_CORPUS=1 go test -run TestWriteFuzzCorpus ./store).

// sampleRecord encodes one sample payload as the record with seq 1.
func sampleRecord(p Payload) []byte {
	return encodeRecord(Event{Seq: 1, Type: p.EventType(), Version: codecs[p.EventType()].version,
		Time: time.Unix(1700000000, 1).UTC(), Boot: [16]byte{1}, Mono: time.Second}, p.(encoder))
}

func sampleSnapshot() []byte {
	st := State{HistoryLen: 3}
	for i, p := range samplePayloads() {
		st = st.Apply(Event{Seq: uint64(i + 1), Time: time.Unix(int64(i), 0).UTC(), Payload: p})
	}
	st = st.Apply(Event{Seq: 99, Payload: ListenerTrusted{Fingerprint: fp(9), Name: "x"}})
	st = st.Apply(Event{Seq: 100, Payload: DeviceTrusted{ID: "D1", Name: "phone", CredentialHash: fp(8)}})
	return encodeSnapshot(st)
}

func FuzzDecodeRecord(f *testing.F) {
	for _, p := range samplePayloads() {
		f.Add(sampleRecord(p))
	}
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, rec []byte) {
		if len(rec) > headerLen+MaxRecordSize+1 {
			t.Skip()
		}
		checkRecord(t, rec)
		if len(rec) >= headerLen { // again with a valid checksum, to reach the payload decoders
			rec = append([]byte(nil), rec...)
			sealRecord(rec, 1)
			checkRecord(t, rec)
		}
	})
}

func checkRecord(t *testing.T, rec []byte) {
	e, err := decodeRecord(1, rec)
	if e.Payload == nil || e.Seq != 1 {
		t.Fatalf("decodeRecord gave %+v", e)
	}
	if _, unknown := e.Payload.(Unknown); unknown != (err != nil) {
		t.Fatalf("err = %v with payload %T", err, e.Payload)
	}
	if err != nil {
		return
	}
	again, err := decodeRecord(1, encodeRecord(e, e.Payload.(encoder)))
	if err != nil || !reflect.DeepEqual(again, e) {
		t.Fatalf("re-encoding changed the event: %+v, %v; want %+v", again, err, e)
	}
}

// fuzzPayload fuzzes the decoder of one payload type.
func fuzzPayload(f *testing.F, seed Payload) {
	typ := seed.EventType()
	w := wbuf{}
	seed.(encoder).encode(&w)
	f.Add(w.b)
	f.Add([]byte{})
	f.Add(w.b[:len(w.b)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > MaxRecordSize+1 {
			t.Skip()
		}
		p, err := decodePayload(typ, codecs[typ].version, b)
		if err != nil {
			if _, ok := p.(Unknown); !ok {
				t.Fatalf("err = %v with payload %T", err, p)
			}
			return
		}
		if p.EventType() != typ {
			t.Fatalf("decoded %T as %s", p, typ)
		}
		w := wbuf{}
		p.(encoder).encode(&w)
		again, err := decodePayload(typ, codecs[typ].version, w.b)
		if err != nil || !reflect.DeepEqual(again, p) {
			t.Fatalf("re-encoding changed the payload: %+v, %v; want %+v", again, err, p)
		}
	})
}

func payloadSeed(typ Type) Payload {
	for _, p := range samplePayloads() {
		if p.EventType() == typ {
			return p
		}
	}
	panic(fmt.Sprint("no sample payload of type ", typ))
}

func FuzzIdentityCreated(f *testing.F)      { fuzzPayload(f, payloadSeed(TypeIdentityCreated)) }
func FuzzSetupCodeSet(f *testing.F)         { fuzzPayload(f, payloadSeed(TypeSetupCodeSet)) }
func FuzzPairingWindowOpened(f *testing.F)  { fuzzPayload(f, payloadSeed(TypePairingWindowOpened)) }
func FuzzPairingWindowClosed(f *testing.F)  { fuzzPayload(f, payloadSeed(TypePairingWindowClosed)) }
func FuzzPairingAttemptFailed(f *testing.F) { fuzzPayload(f, payloadSeed(TypePairingAttemptFailed)) }
func FuzzListenerTrusted(f *testing.F)      { fuzzPayload(f, payloadSeed(TypeListenerTrusted)) }
func FuzzListenerRevoked(f *testing.F)      { fuzzPayload(f, payloadSeed(TypeListenerRevoked)) }
func FuzzTrustReset(f *testing.F)           { fuzzPayload(f, payloadSeed(TypeTrustReset)) }
func FuzzConnectionOpened(f *testing.F)     { fuzzPayload(f, payloadSeed(TypeConnectionOpened)) }
func FuzzConnectionClosed(f *testing.F)     { fuzzPayload(f, payloadSeed(TypeConnectionClosed)) }
func FuzzMonitorPaired(f *testing.F)        { fuzzPayload(f, payloadSeed(TypeMonitorPaired)) }
func FuzzMonitorForgotten(f *testing.F)     { fuzzPayload(f, payloadSeed(TypeMonitorForgotten)) }
func FuzzMonitorAddressSeen(f *testing.F)   { fuzzPayload(f, payloadSeed(TypeMonitorAddressSeen)) }

func FuzzDeviceTrusted(f *testing.F) { fuzzPayload(f, payloadSeed(TypeDeviceTrusted)) }
func FuzzDeviceRenamed(f *testing.F) { fuzzPayload(f, payloadSeed(TypeDeviceRenamed)) }
func FuzzDeviceRevoked(f *testing.F) { fuzzPayload(f, payloadSeed(TypeDeviceRevoked)) }
func FuzzSoundStarted(f *testing.F)  { fuzzPayload(f, payloadSeed(TypeSoundStarted)) }
func FuzzSoundStopped(f *testing.F)  { fuzzPayload(f, payloadSeed(TypeSoundStopped)) }
func FuzzTalkStarted(f *testing.F)   { fuzzPayload(f, payloadSeed(TypeTalkStarted)) }
func FuzzTalkEnded(f *testing.F)     { fuzzPayload(f, payloadSeed(TypeTalkEnded)) }

func FuzzDecodeSnapshot(f *testing.F) {
	f.Add(sampleSnapshot())
	f.Add(encodeSnapshot(State{}))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<20 {
			t.Skip()
		}
		checkSnapshot(t, b)
		if len(b) >= 5 { // again with a valid checksum, to reach the state decoder
			b = append([]byte(nil), b...)
			binary.BigEndian.PutUint32(b[1:], crc32.Checksum(b[5:], castagnoli))
			checkSnapshot(t, b)
		}
	})
}

func checkSnapshot(t *testing.T, b []byte) {
	st, err := decodeSnapshot(b)
	if err != nil {
		return
	}
	again, err := decodeSnapshot(encodeSnapshot(st))
	if err != nil || !reflect.DeepEqual(again, st) {
		t.Fatalf("re-encoding changed the snapshot: %+v, %v; want %+v", again, err, st)
	}
}

// TestFuzzTargetsCovered checks that every payload type has a fuzz target
// with a committed corpus.
func TestFuzzTargetsCovered(t *testing.T) {
	names := []string{"FuzzDecodeRecord", "FuzzDecodeSnapshot"}
	for typ := range codecs {
		names = append(names, "Fuzz"+fmt.Sprintf("%T", payloadSeed(typ))[len("store."):])
	}
	for _, n := range names {
		if entries, err := os.ReadDir(filepath.Join("testdata", "fuzz", n)); err != nil || len(entries) == 0 {
			t.Errorf("no committed corpus for %s", n)
		}
	}
}

// TestWriteFuzzCorpus writes the seed corpus files (run by hand, see top).
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("CRADLE_STORE_WRITE_CORPUS") == "" {
		t.Skip("set CRADLE_STORE_WRITE_CORPUS=1 to regenerate testdata/fuzz")
	}
	write := func(name string, seeds ...[]byte) {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	var recs [][]byte
	for _, p := range samplePayloads() {
		recs = append(recs, sampleRecord(p))
		w := wbuf{}
		p.(encoder).encode(&w)
		name := "Fuzz" + fmt.Sprintf("%T", p)[len("store."):]
		write(name, w.b, w.b[:len(w.b)/2], append(w.b, 0))
	}
	newer := sampleRecord(TrustReset{})
	binary.BigEndian.PutUint16(newer[13:], 999)
	sealRecord(newer, 1)
	write("FuzzDecodeRecord", append(recs, newer, []byte{2, 0})...)
	snap := sampleSnapshot()
	write("FuzzDecodeSnapshot", snap, snap[:len(snap)/2], encodeSnapshot(State{}))
}
