package pairing

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Errors returned by ParseCode and Generate. ParseCode's errors are distinct
// so a listener app can tell the parent which mistake was made.
var (
	// ErrCodeLength: the code does not have exactly 8 digits.
	ErrCodeLength = errors.New("pairing: a setup code has 8 digits: check the code on the monitor's label or screen")
	// ErrCodeDigits: the code holds something other than digits, '-' and spaces.
	ErrCodeDigits = errors.New("pairing: a setup code holds only the digits 0-9: check the code on the monitor's label or screen")
	// ErrCodeTrivial: the code is one that is too easy to guess (00000000,
	// 11111111 ... 99999999, 12345678, 87654321); no monitor ever uses one.
	ErrCodeTrivial = errors.New("pairing: this is not a valid setup code (too easy to guess): check the code on the monitor's label or screen")
	// ErrRandom: the random source failed or kept returning rejected values.
	ErrRandom = errors.New("pairing: cannot read random numbers to make a setup code")
	// ErrProvisioned: LoadOrCreateCode was given a code that differs from
	// the one the monitor already stores.
	ErrProvisioned = errors.New("pairing: the monitor already has a different setup code: to change it, factory-reset the monitor (hold the button 10 s)")
)

// CodeFile is the name of the file, inside the state directory, that holds
// the setup code.
const CodeFile = "setup-code"

// Code is an 8-digit setup code, digits only ("12345678"). Its zero value is
// not a valid code. Show it with String ("1234-5678"); it never reaches a
// log through slog, which prints "[redacted]".
//
// A monitor's code is random (Generate), never derived from a serial number
// or MAC address. Codes that are easy to guess are rejected as Matter does:
// 00000000, 11111111 ... 99999999, 12345678 and 87654321. The remaining
// codes lie in 00000001..99999998.
type Code string

const codeDigits = 8

// isTrivial reports whether v is one of the codes Matter forbids.
func isTrivial(v uint32) bool {
	if v%11111111 == 0 { // 00000000, 11111111 ... 99999999
		return true
	}
	return v == 12345678 || v == 87654321
}

// Generate returns a uniformly random non-trivial code read from rand
// (crypto/rand.Reader when rand is nil).
func Generate(rand io.Reader) (Code, error) {
	if rand == nil {
		rand = cryptoRand
	}
	// Rejection sampling over 27 bits (2^27 > 10^8): about 1.35 reads per
	// code. The bound only stops a broken source (one that returns zeros)
	// from looping forever; a good one fails 64 times in a row with
	// probability below 1e-38.
	var b [4]byte
	for range 64 {
		if _, err := io.ReadFull(rand, b[:]); err != nil {
			return "", fmt.Errorf("%w: %w", ErrRandom, err)
		}
		v := binary.BigEndian.Uint32(b[:]) & (1<<27 - 1)
		if v >= 1e8 || isTrivial(v) {
			continue
		}
		return codeFromUint(v), nil
	}
	return "", fmt.Errorf("%w: the source returned only rejected values", ErrRandom)
}

var cryptoRand = rand.Reader

func codeFromUint(v uint32) Code {
	return Code(fmt.Sprintf("%08d", v))
}

// ParseCode parses a code as a parent types it: "1234-5678", "12345678",
// "1234 5678" (spaces and dashes anywhere are ignored). It returns
// ErrCodeDigits, ErrCodeLength or ErrCodeTrivial.
func ParseCode(s string) (Code, error) {
	if len(s) > 64 { // far more than any honest typing of 8 digits
		return "", ErrCodeLength
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '-' || r == ' ' || r == '\t':
		default:
			return "", ErrCodeDigits
		}
	}
	digits := b.String()
	if len(digits) != codeDigits {
		return "", ErrCodeLength
	}
	v, _ := strconv.ParseUint(digits, 10, 32) // 8 digits always fit
	if isTrivial(uint32(v)) {
		return "", ErrCodeTrivial
	}
	return Code(digits), nil
}

// Validate reports whether c is a well-formed, non-trivial code.
func (c Code) Validate() error {
	_, err := ParseCode(string(c))
	if err == nil && len(c) != codeDigits { // separators are not allowed in a Code
		err = ErrCodeDigits
	}
	return err
}

// value returns the code's numeric value (0 when c is malformed).
func (c Code) value() uint32 {
	if len(c) != codeDigits {
		return 0
	}
	v, err := strconv.ParseUint(string(c), 10, 32)
	if err != nil {
		return 0
	}
	return uint32(v)
}

// String returns the code as shown to a parent: "1234-5678". A malformed
// code is returned unchanged.
func (c Code) String() string {
	if len(c) != codeDigits {
		return string(c)
	}
	return string(c[:4]) + "-" + string(c[4:])
}

// LogValue keeps the code out of logs.
func (c Code) LogValue() slog.Value {
	return slog.StringValue("[redacted]")
}

// LoadOrCreateCode returns the monitor's setup code, stored in dir/setup-code
// (mode 0600). created reports whether the code was made by this call.
//
// The first time (no file yet) it stores provided when it is non-empty (after
// ParseCode, so "1234-5678" is accepted), or else a fresh random code. Once
// the file exists the stored code is used: a non-empty provided code that
// differs from it is refused with ErrProvisioned, because silently ignoring
// or silently replacing the code would leave a printed label that no longer
// matches. Changing the code takes a factory reset, which calls RemoveCode.
//
// When created is true the caller records a "setup code set" event holding a
// fresh CodeID, never the code nor a hash of it (see CodeID).
func LoadOrCreateCode(dir string, provided string) (code Code, created bool, err error) {
	var want Code
	if provided != "" {
		if want, err = ParseCode(provided); err != nil {
			return "", false, fmt.Errorf("provided setup code: %w", err)
		}
	}
	path := filepath.Join(dir, CodeFile)
	code, err = readCode(path)
	switch {
	case err == nil:
		if want != "" && want != code {
			return "", false, ErrProvisioned
		}
		return code, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", false, err
	}
	code = want
	if code == "" {
		if code, err = Generate(nil); err != nil {
			return "", false, err
		}
	}
	if err := writeFileAtomic(dir, CodeFile, []byte(string(code)+"\n")); err != nil {
		return "", false, fmt.Errorf("pairing: store setup code: %w", err)
	}
	return code, true, nil
}

// RenewCode replaces the stored setup code with a fresh random one (drawn
// from rand; crypto/rand when nil), atomically: a power cut leaves the old
// code or the new one, never none. It is the factory reset's.
func RenewCode(dir string, rand io.Reader) (Code, error) {
	code, err := Generate(rand)
	if err != nil {
		return "", err
	}
	if err := writeFileAtomic(dir, CodeFile, []byte(string(code)+"\n")); err != nil {
		return "", fmt.Errorf("pairing: store the new setup code: %w", err)
	}
	return code, nil
}

// RemoveCode deletes the stored setup code (part of a factory reset), so the
// next LoadOrCreateCode makes a new one. A missing file is not an error.
func RemoveCode(dir string) error {
	err := os.Remove(filepath.Join(dir, CodeFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func readCode(path string) (Code, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if st.Mode().Perm()&0o077 != 0 {
		// Someone loosened it: tighten rather than refuse to start.
		if err := f.Chmod(0o600); err != nil {
			return "", fmt.Errorf("pairing: %s is readable by others and cannot be fixed: %w", path, err)
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, 64))
	if err != nil {
		return "", err
	}
	c, err := ParseCode(strings.TrimSpace(string(b)))
	if err != nil {
		return "", fmt.Errorf("pairing: %s is damaged (%v): factory-reset the monitor to make a new code", path, err)
	}
	return c, nil
}

// writeFileAtomic writes dir/name through a 0600 temporary file, fsync and
// rename, then syncs the directory, so a power cut leaves either no file or
// the whole file.
func writeFileAtomic(dir, name string, data []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+name+".tmp*") // created 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// CodeID names one generation of the setup code in the event log. The store
// never holds the code or a hash of it: with only 10^8 codes, any hash could
// be reversed in seconds by whoever copies the database. A "setup code set"
// event holds a fresh random CodeID instead, so the audit trail shows when
// the code changed without revealing it.
type CodeID [16]byte

// NewCodeID returns a random CodeID read from rand (crypto/rand.Reader when
// rand is nil).
func NewCodeID(rand io.Reader) (CodeID, error) {
	if rand == nil {
		rand = cryptoRand
	}
	var id CodeID
	if _, err := io.ReadFull(rand, id[:]); err != nil {
		return CodeID{}, fmt.Errorf("%w: %w", ErrRandom, err)
	}
	return id, nil
}

// String returns the id in lower-case hex.
func (id CodeID) String() string { return hex.EncodeToString(id[:]) }
