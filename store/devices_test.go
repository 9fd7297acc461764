package store

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDevices(t *testing.T) {
	h1, h2 := fp(21), fp(22)
	tests := []struct {
		name string
		ps   []Payload
		want map[string]string // id -> name
	}{
		{"trust", []Payload{DeviceTrusted{ID: "A", Name: "Bedside phone", CredentialHash: h1}}, map[string]string{"A": "Bedside phone"}},
		{"rename", []Payload{DeviceTrusted{ID: "A", Name: "a", CredentialHash: h1}, DeviceRenamed{ID: "A", Name: "b"}}, map[string]string{"A": "b"}},
		{"rename unknown", []Payload{DeviceTrusted{ID: "A", Name: "a"}, DeviceRenamed{ID: "B", Name: "b"}}, map[string]string{"A": "a"}},
		{"revoke", []Payload{DeviceTrusted{ID: "A", Name: "a"}, DeviceTrusted{ID: "B", Name: "b", CredentialHash: h2}, DeviceRevoked{ID: "A"}},
			map[string]string{"B": "b"}},
		{"revoke unknown", []Payload{DeviceTrusted{ID: "A", Name: "a"}, DeviceRevoked{ID: "Z"}}, map[string]string{"A": "a"}},
		{"reset forgets devices", []Payload{DeviceTrusted{ID: "A", Name: "a"}, TrustReset{}}, nil},
		{"trust after reset", []Payload{DeviceTrusted{ID: "A"}, TrustReset{}, DeviceTrusted{ID: "B", Name: "b"}}, map[string]string{"B": "b"}},
		{"listener revoke leaves devices", []Payload{DeviceTrusted{ID: "A", Name: "a"}, ListenerRevoked{Fingerprint: fp(1)}}, map[string]string{"A": "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := fold(State{}, tt.ps...)
			var got map[string]string
			for id, d := range st.Devices {
				if got == nil {
					got = map[string]string{}
				}
				if d.ID != id {
					t.Errorf("entry %s holds id %s", id, d.ID)
				}
				got[id] = d.Name
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("devices = %v, want %v", got, tt.want)
			}
		})
	}
	st := fold(State{}, DeviceTrusted{ID: "A", Name: "a", CredentialHash: h1})
	d, ok := st.Device("A")
	if !ok || d.CredentialHash != h1 || d.Seq != 1 || !d.PairedAt.Equal(t0.Add(1e9)) {
		t.Errorf("Device(A) = %+v, %v; want its hash, seq 1 and the event's time", d, ok)
	}
}

// TestDevicesSurviveReopen appends device events, then reopens with the
// snapshot and without it: both rebuild the same devices.
func TestDevicesSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s := openTest(t, path, Options{SnapshotEvery: 2})
	mustAppend(t, s, DeviceTrusted{ID: "A", Name: "Bedside phone", CredentialHash: fp(1)},
		DeviceTrusted{ID: "B", Name: "Kitchen tablet", CredentialHash: fp(2)})
	mustAppend(t, s, DeviceRenamed{ID: "A", Name: "Mum's phone"}, DeviceRevoked{ID: "B", Reason: "lost"})
	mustAppend(t, s, DeviceTrusted{ID: "C", Name: "Old phone", CredentialHash: fp(3)})
	want := s.State()
	if len(want.Devices) != 2 || want.Devices["A"].Name != "Mum's phone" {
		t.Fatalf("devices = %+v", want.Devices)
	}
	checkClose(t, s)
	for _, ignore := range []bool{false, true} {
		s = openTest(t, path, Options{ignoreSnapshot: ignore})
		diffState(t, "reopen", s.State(), want)
		checkClose(t, s)
	}
	s = openTest(t, path, Options{})
	mustAppend(t, s, TrustReset{Reason: "factory reset"})
	checkClose(t, s)
	s = openTest(t, path, Options{ignoreSnapshot: true})
	if d := s.State().Devices; d != nil {
		t.Errorf("after a reset and a reopen, devices = %v", d)
	}
	checkClose(t, s)
}

// TestDeviceLimits: Append refuses a device event beyond the codec's
// bounds, and stores one at them.
func TestDeviceLimits(t *testing.T) {
	s := openTest(t, "", Options{})
	for name, p := range map[string]Payload{
		"long name":        DeviceTrusted{ID: "A", Name: strings.Repeat("x", MaxDeviceNameLen+1)},
		"name not utf-8":   DeviceTrusted{ID: "A", Name: "\xff"},
		"empty id":         DeviceTrusted{Name: "a"},
		"long id":          DeviceTrusted{ID: strings.Repeat("A", MaxDeviceIDLen+1)},
		"id with a space":  DeviceTrusted{ID: "A B"},
		"rename long name": DeviceRenamed{ID: "A", Name: strings.Repeat("é", MaxDeviceNameLen/2+1)},
		"revoke bad id":    DeviceRevoked{ID: "A\n"},
	} {
		if _, err := s.Append(context.Background(), p); !errors.Is(err, ErrInvalidPayload) {
			t.Errorf("%s: err = %v, want ErrInvalidPayload", name, err)
		}
	}
	mustAppend(t, s, DeviceTrusted{ID: strings.Repeat("z", MaxDeviceIDLen), Name: strings.Repeat("é", MaxDeviceNameLen/2)})
	if n := len(s.State().Devices); n != 1 {
		t.Errorf("%d devices after appending one at the limits", n)
	}
}

func TestDeviceLogValueHidesHash(t *testing.T) {
	h := fp(0xAB)
	for _, v := range []any{DeviceTrusted{ID: "A", Name: "n", CredentialHash: h}, TrustedDevice{ID: "A", Name: "n", CredentialHash: h}} {
		var lb logBuffer
		lb.logger().Info("x", "device", v)
		if strings.Contains(strings.ToLower(lb.String()), "abab") || strings.Contains(lb.String(), "171") {
			t.Errorf("%T logs its hash: %s", v, lb.String())
		}
	}
}
