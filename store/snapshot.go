package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"slices"
)

// Snapshot layout, format 2:
//
//	[0]     format = 2
//	[1:5]   CRC-32C (Castagnoli) of bytes [5:]
//	[5:]    the State, in the primitive encodings of codec.go:
//	        seq, identity?, setup code?, allowlist, pairing, history, monitors,
//	        devices
//
// Optional values are a presence byte then the payload encoding; maps are
// a count then entries sorted by key (fingerprint, device id), so equal
// States encode to equal bytes.
//
// Format 1 (before web devices) had no devices. A format-1 snapshot is
// not read but ignored (a full replay instead): a release without
// devices may have written it over a log that holds device events it
// skipped.
const snapshotFormat = 2

// maxSnapshotSize bounds what decodeSnapshot reads.
const maxSnapshotSize = 64 << 20

func encodeSnapshot(st State) []byte {
	w := wbuf{b: make([]byte, 5, 512)}
	w.b[0] = snapshotFormat
	w.uvarint(st.Seq)
	w.bool(st.Identity != nil)
	if st.Identity != nil {
		st.Identity.encode(&w)
	}
	w.bool(st.SetupCode != nil)
	if st.SetupCode != nil {
		st.SetupCode.encode(&w)
	}

	w.uvarint(uint64(len(st.Allowlist)))
	for _, fp := range sortedKeys(st.Allowlist) {
		l := st.Allowlist[fp]
		w.fp(l.Fingerprint)
		w.str(l.Name)
		w.time(l.PairedAt)
		w.uvarint(l.Seq)
	}

	p := st.Pairing
	w.bool(p.Open)
	w.time(p.OpenedAt)
	w.time(p.Until)
	w.uvarint(uint64(p.Failures))
	w.uvarint(uint64(p.LifetimeFailures))
	w.str(string(p.LastClose))

	w.uvarint(uint64(len(st.History)))
	for _, r := range st.History {
		w.str(r.ConnID)
		w.fp(r.Fingerprint)
		w.str(r.Remote)
		w.time(r.OpenedAt)
		w.uvarint(r.Seq)
		w.bool(r.Closed)
		w.time(r.ClosedAt)
		w.str(r.Reason)
		w.dur(r.Duration)
	}

	w.uvarint(uint64(len(st.Monitors)))
	for _, fp := range sortedKeys(st.Monitors) {
		m := st.Monitors[fp]
		w.str(m.DeviceID)
		w.str(m.Name)
		w.fp(m.Fingerprint)
		w.str(m.Address)
		w.time(m.PairedAt)
		w.time(m.AddressSeenAt)
		w.uvarint(m.Seq)
	}

	w.uvarint(uint64(len(st.Devices)))
	for _, id := range slices.Sorted(maps.Keys(st.Devices)) {
		d := st.Devices[id]
		w.str(d.ID)
		w.str(d.Name)
		w.fp(d.CredentialHash)
		w.time(d.PairedAt)
		w.uvarint(d.Seq)
	}
	binary.BigEndian.PutUint32(w.b[1:], crc32.Checksum(w.b[5:], castagnoli))
	return w.b
}

func sortedKeys[V any](m map[[32]byte]V) [][32]byte {
	keys := make([][32]byte, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	return keys
}

// decodeSnapshot decodes a snapshot. Its HistoryLen is left zero: the
// caller sets it (and trims History) from its options.
func decodeSnapshot(b []byte) (State, error) {
	switch {
	case len(b) > maxSnapshotSize:
		return State{}, errors.New("snapshot too large")
	case len(b) < 5:
		return State{}, errors.New("snapshot truncated")
	case b[0] != snapshotFormat:
		return State{}, fmt.Errorf("snapshot format %d is unknown (written by a newer release?)", b[0])
	case binary.BigEndian.Uint32(b[1:]) != crc32.Checksum(b[5:], castagnoli):
		return State{}, errors.New("snapshot checksum mismatch")
	}
	r := rbuf{b: b[5:]}
	var st State
	st.Seq = r.uvarint()
	if r.bool() {
		var p IdentityCreated
		p.decode(&r, 1)
		st.Identity = &p
	}
	if r.bool() {
		var p SetupCodeSet
		p.decode(&r, 1)
		st.SetupCode = &p
	}

	if n := r.count(32); n > 0 {
		st.Allowlist = make(map[[32]byte]TrustedListener, n)
		for range n {
			l := TrustedListener{Fingerprint: r.fp(), Name: r.str(), PairedAt: r.time(), Seq: r.uvarint()}
			st.Allowlist[l.Fingerprint] = l
		}
	}

	p := &st.Pairing
	p.Open, p.OpenedAt, p.Until = r.bool(), r.time(), r.time()
	p.Failures, p.LifetimeFailures = r.int(), r.int()
	p.LastClose = CloseReason(r.str())

	if n := r.count(32); n > 0 {
		st.History = make([]ConnectionRecord, n)
		for i := range st.History {
			h := &st.History[i]
			h.ConnID, h.Fingerprint, h.Remote, h.OpenedAt, h.Seq = r.str(), r.fp(), r.str(), r.time(), r.uvarint()
			h.Closed, h.ClosedAt, h.Reason, h.Duration = r.bool(), r.time(), r.str(), r.dur()
		}
	}

	if n := r.count(32); n > 0 {
		st.Monitors = make(map[[32]byte]PairedMonitor, n)
		for range n {
			m := PairedMonitor{DeviceID: r.str(), Name: r.str(), Fingerprint: r.fp(), Address: r.str(),
				PairedAt: r.time(), AddressSeenAt: r.time(), Seq: r.uvarint()}
			st.Monitors[m.Fingerprint] = m
		}
	}
	if n := r.count(1 + 1 + 32 + 2 + 1); n > 0 {
		st.Devices = make(map[string]TrustedDevice, n)
		for range n {
			d := TrustedDevice{ID: r.deviceID(), Name: r.deviceName(), CredentialHash: r.fp(), PairedAt: r.time(), Seq: r.uvarint()}
			st.Devices[d.ID] = d
		}
	}
	if err := r.done(); err != nil {
		return State{}, fmt.Errorf("snapshot does not decode: %w", err)
	}
	if len(st.Allowlist) == 0 {
		st.Allowlist = nil
	}
	if len(st.Monitors) == 0 {
		st.Monitors = nil
	}
	if len(st.Devices) == 0 {
		st.Devices = nil
	}
	return st, nil
}
