package store

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// fold applies payloads as events 1..n, a second apart from t0.
func fold(st State, ps ...Payload) State {
	for _, p := range ps {
		seq := st.Seq + 1
		st = st.Apply(Event{Seq: seq, Type: p.EventType(), Time: t0.Add(time.Duration(seq) * time.Second), Payload: p})
	}
	return st
}

func TestAllowlist(t *testing.T) {
	tests := []struct {
		name string
		ps   []Payload
		want map[[32]byte]string // fingerprint -> name
	}{
		{"trust", []Payload{ListenerTrusted{Fingerprint: fp(1), Name: "a"}}, map[[32]byte]string{fp(1): "a"}},
		{"retrust renames", []Payload{ListenerTrusted{Fingerprint: fp(1), Name: "a"}, ListenerTrusted{Fingerprint: fp(1), Name: "b"}},
			map[[32]byte]string{fp(1): "b"}},
		{"revoke", []Payload{ListenerTrusted{Fingerprint: fp(1)}, ListenerTrusted{Fingerprint: fp(2)}, ListenerRevoked{Fingerprint: fp(1)}},
			map[[32]byte]string{fp(2): ""}},
		{"revoke unknown", []Payload{ListenerTrusted{Fingerprint: fp(1)}, ListenerRevoked{Fingerprint: fp(9)}},
			map[[32]byte]string{fp(1): ""}},
		{"reset", []Payload{ListenerTrusted{Fingerprint: fp(1)}, TrustReset{}}, nil},
		{"trust after reset", []Payload{ListenerTrusted{Fingerprint: fp(1)}, TrustReset{}, ListenerTrusted{Fingerprint: fp(2)}},
			map[[32]byte]string{fp(2): ""}},
		{"unknown skipped", []Payload{ListenerTrusted{Fingerprint: fp(1)}, Unknown{Type: TypeListenerRevoked, Version: 9}},
			map[[32]byte]string{fp(1): ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := fold(State{}, tt.ps...)
			got := map[[32]byte]string{}
			for k, l := range st.Allowlist {
				if l.Fingerprint != k {
					t.Errorf("entry %x holds fingerprint %x", k[:2], l.Fingerprint[:2])
				}
				got[k] = l.Name
			}
			if len(got) == 0 {
				got = nil
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("allowlist = %v, want %v", got, tt.want)
			}
			if st.Seq != uint64(len(tt.ps)) {
				t.Errorf("Seq = %d, want %d", st.Seq, len(tt.ps))
			}
		})
	}
}

func TestTrustedPairedAt(t *testing.T) {
	at := time.Date(2024, 5, 5, 0, 0, 0, 0, time.UTC)
	st := fold(State{}, ListenerTrusted{Fingerprint: fp(1), At: at}, ListenerTrusted{Fingerprint: fp(2)})
	if l, ok := st.Trusted(fp(1)); !ok || !l.PairedAt.Equal(at) || l.Seq != 1 {
		t.Errorf("Trusted(1) = %+v, %v; want PairedAt %v, Seq 1", l, ok, at)
	}
	if l, _ := st.Trusted(fp(2)); !l.PairedAt.Equal(t0.Add(2 * time.Second)) {
		t.Errorf("zero At: PairedAt = %v, want the event time", l.PairedAt)
	}
	if _, ok := st.Trusted(fp(3)); ok {
		t.Error("Trusted(3) = true")
	}
}

func TestPairing(t *testing.T) {
	until := t0.Add(time.Hour)
	fail := PairingAttemptFailed{Peer: fp(7), Reason: "bad"}
	tests := []struct {
		name string
		ps   []Payload
		want PairingState
	}{
		{"open", []Payload{PairingWindowOpened{Duration: time.Minute, Until: until}},
			PairingState{Open: true, OpenedAt: t0.Add(time.Second), Until: until}},
		{"open without until", []Payload{PairingWindowOpened{Duration: time.Minute}},
			PairingState{Open: true, OpenedAt: t0.Add(time.Second), Until: t0.Add(time.Second + time.Minute)}},
		{"failures in window", []Payload{PairingWindowOpened{Until: until}, fail, fail},
			PairingState{Open: true, OpenedAt: t0.Add(time.Second), Until: until, Failures: 2, LifetimeFailures: 2}},
		{"failure outside window", []Payload{fail},
			PairingState{LifetimeFailures: 1}},
		{"reopen resets window failures", []Payload{PairingWindowOpened{Until: until}, fail, PairingWindowClosed{Reason: CloseTimeout},
			PairingWindowOpened{Until: until}},
			PairingState{Open: true, OpenedAt: t0.Add(4 * time.Second), Until: until, LifetimeFailures: 1, LastClose: CloseTimeout}},
		{"close", []Payload{PairingWindowOpened{Until: until}, fail, PairingWindowClosed{Reason: CloseTooManyFailures}},
			PairingState{OpenedAt: t0.Add(time.Second), Failures: 1, LifetimeFailures: 1, LastClose: CloseTooManyFailures}},
		{"reset clears lifetime", []Payload{PairingWindowOpened{Until: until}, fail, fail, TrustReset{}},
			PairingState{LastClose: CloseReset}},
		{"reset while closed", []Payload{fail, PairingWindowOpened{}, PairingWindowClosed{Reason: CloseManual}, TrustReset{}},
			PairingState{LastClose: CloseManual}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fold(State{}, tt.ps...).Pairing; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("pairing = %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestHistory(t *testing.T) {
	st := State{HistoryLen: 3}
	for i := range 5 {
		st = fold(st, ConnectionOpened{ConnID: fmt.Sprint("c", i), Fingerprint: fp(i)})
	}
	st = fold(st,
		ConnectionClosed{ConnID: "c3", Reason: "eof", Duration: time.Second},
		ConnectionClosed{ConnID: "c0", Reason: "gone"}, // fell out of the history: a closed-only record
	)
	var got []string
	for _, r := range st.History {
		got = append(got, fmt.Sprintf("%s/%v/%s", r.ConnID, r.Closed, r.Reason))
	}
	want := []string{"c3/true/eof", "c4/false/", "c0/true/gone"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("history = %v, want %v", got, want)
	}
	if r := st.History[0]; r.Seq != 4 || !r.OpenedAt.Equal(t0.Add(4*time.Second)) || !r.ClosedAt.Equal(t0.Add(6*time.Second)) || r.Duration != time.Second {
		t.Errorf("c3 = %+v", r)
	}
	if r := st.History[2]; !r.OpenedAt.IsZero() || r.Seq != 7 {
		t.Errorf("closed-only record = %+v", r)
	}
	if len(fold(State{}, make([]Payload, 0)...).History) != 0 {
		t.Error("empty state has history")
	}
}

func TestDefaultHistoryLen(t *testing.T) {
	var st State
	for i := range DefaultHistoryLen + 10 {
		st = fold(st, ConnectionOpened{ConnID: fmt.Sprint(i)})
	}
	if len(st.History) != DefaultHistoryLen || st.History[0].ConnID != "10" {
		t.Errorf("history has %d records starting at %s", len(st.History), st.History[0].ConnID)
	}
}

func TestMonitors(t *testing.T) {
	st := fold(State{},
		MonitorPaired{DeviceID: "A", Name: "nursery", Fingerprint: fp(1), Address: "192.0.2.1:1"},
		MonitorPaired{DeviceID: "B", Fingerprint: fp(2), Address: "192.0.2.2:1"},
		MonitorAddressSeen{Fingerprint: fp(1), Address: "192.0.2.9:1"},
		MonitorAddressSeen{Fingerprint: fp(3), Address: "192.0.2.3:1"}, // not paired: ignored
		MonitorForgotten{Fingerprint: fp(2)},
	)
	want := map[[32]byte]PairedMonitor{fp(1): {DeviceID: "A", Name: "nursery", Fingerprint: fp(1), Address: "192.0.2.9:1",
		PairedAt: t0.Add(time.Second), AddressSeenAt: t0.Add(3 * time.Second), Seq: 1}}
	if !reflect.DeepEqual(st.Monitors, want) {
		t.Errorf("monitors = %+v\nwant %+v", st.Monitors, want)
	}
	if m, ok := st.Monitor(fp(1)); !ok || m.DeviceID != "A" {
		t.Errorf("Monitor(1) = %+v, %v", m, ok)
	}
	if st = fold(st, TrustReset{}); st.Monitors != nil {
		t.Errorf("monitors after reset = %v", st.Monitors)
	}
}

func TestIdentityAndSetupCodeSurviveReset(t *testing.T) {
	id := IdentityCreated{Role: "monitor", Fingerprint: fp(1), Name: "n"}
	code := SetupCodeSet{Scheme: "s", Verifier: []byte{1}}
	st := fold(State{}, id, code, TrustReset{})
	if st.Identity == nil || *st.Identity != id {
		t.Errorf("identity = %v", st.Identity)
	}
	if st.SetupCode == nil || !reflect.DeepEqual(*st.SetupCode, code) {
		t.Errorf("setup code = %v", st.SetupCode)
	}
}

// TestApplyIsPure checks that Apply never changes the State it is called
// on, whatever the event.
func TestApplyIsPure(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	st := State{HistoryLen: 3}
	for i := range 2000 {
		before := encodeSnapshot(st)
		hist := append([]ConnectionRecord(nil), st.History...)
		next := st.Apply(Event{Seq: uint64(i + 1), Time: randTime(r), Payload: randPayload(r)})
		if string(encodeSnapshot(st)) != string(before) || !reflect.DeepEqual(hist, append([]ConnectionRecord(nil), st.History...)) {
			t.Fatalf("event %d modified the state it was applied to", i+1)
		}
		st = next
	}
}

// TestBuilderMatchesApply checks that one builder applying a long run (as
// replay does) gives the same state as Apply one event at a time (as the
// live path does, batch by batch).
func TestBuilderMatchesApply(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 5))
		limit := 1 + r.IntN(5)
		one := State{HistoryLen: limit}
		b := builder{st: State{HistoryLen: limit}}
		for i := range 300 {
			e := Event{Seq: uint64(i + 1), Time: randTime(r), Payload: randPayload(r)}
			one = one.Apply(e)
			b.apply(e)
			if r.IntN(50) == 0 { // hand over midway, as a commit does
				diffState(t, fmt.Sprintf("seed %d event %d", seed, i+1), b.state(), one)
			}
		}
		diffState(t, fmt.Sprintf("seed %d", seed), b.state(), one)
	}
}
