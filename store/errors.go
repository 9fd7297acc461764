package store

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	berrors "go.etcd.io/bbolt/errors"
)

var (
	// ErrClosed is returned by operations on a closed Store or Subscription.
	ErrClosed = errors.New("store: closed")

	// ErrCorrupt means the database file (or a page read from it) is not a
	// valid store. Open wraps it in an *OpenError.
	ErrCorrupt = errors.New("store: database file is corrupt")

	// ErrLocked means another process holds the database file open.
	ErrLocked = errors.New("store: database file is in use by another process")

	// ErrInvalidPayload is returned by Append for a payload it cannot store:
	// nil, Unknown, a type from outside this package, or one larger than
	// MaxRecordSize.
	ErrInvalidPayload = errors.New("store: payload cannot be stored")
)

// OpenError is returned by Open when the database cannot be used. Its
// message names the file and says what to do; errors.Is(err, ErrCorrupt)
// and errors.Is(err, ErrLocked) tell the common cases apart.
type OpenError struct {
	Path string
	Err  error
}

func (e *OpenError) Error() string {
	cause := strings.TrimPrefix(e.Err.Error(), "store: ")
	var hint string
	switch {
	case errors.Is(e.Err, ErrCorrupt):
		hint = "move it aside and restore a backup, or re-pair listeners"
	case errors.Is(e.Err, ErrLocked):
		hint = "stop the other cradled using it (only one process may open the store) and try again"
	case errors.Is(e.Err, fs.ErrPermission):
		hint = "check the owner and permissions of the file and its directory"
	default:
		return fmt.Sprintf("store: cannot open %s: %s", e.Path, cause)
	}
	return fmt.Sprintf("store: cannot open %s: %s: %s", e.Path, cause, hint)
}

func (e *OpenError) Unwrap() error { return e.Err }

// openError classifies an error from opening or loading the database.
func openError(path string, err error) *OpenError {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		err = ErrLocked
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrInvalidMapping),
		errors.Is(err, berrors.ErrIncompatibleValue), isTooSmall(err):
		err = fmt.Errorf("%w (%w)", ErrCorrupt, err)
	}
	return &OpenError{Path: path, Err: err}
}

// isTooSmall matches bbolt's unexported error for a file shorter than its
// two meta pages.
func isTooSmall(err error) bool { return strings.Contains(err.Error(), "file size too small") }
