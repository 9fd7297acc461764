// Package clitool is what the command lines of cradle (the listener) and
// cradled (the monitor) share: the exit codes, usage errors, the log level
// and the subcommand table.
package clitool

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Exit codes common to both programs. cradle adds its own above
// ExitUsage, one per pairing failure a user must tell apart.
const (
	ExitOK    = 0 // done
	ExitError = 1 // the command failed; the error says why
	ExitUsage = 2 // the command line is wrong; nothing was done
)

// UsageError is a mistake in the command line; its text says what to
// type instead. ExitCode maps it to ExitUsage.
type UsageError string

func (u UsageError) Error() string { return string(u) }

// Usagef returns a UsageError with a formatted text.
func Usagef(format string, args ...any) error { return UsageError(fmt.Sprintf(format, args...)) }

// ExitCode returns ExitOK for nil, ExitUsage for a UsageError, for any
// error of a command's Parse (a flag error, a malformed value) and for
// flag.ErrHelp (the flag package already printed the usage), and
// ExitError otherwise.
func ExitCode(err error) int {
	var ue UsageError
	var pe parseError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue), errors.As(err, &pe), errors.Is(err, flag.ErrHelp):
		return ExitUsage
	}
	return ExitError
}

// parseError is an error of a command's Parse: the command line is wrong
// and nothing was done.
type parseError struct{ err error }

func (p parseError) Error() string { return p.err.Error() }
func (p parseError) Unwrap() error { return p.err }

// LogLevels are the values --log-level and log_level accept.
var LogLevels = []string{"debug", "info", "warn", "error"}

// ParseLogLevel parses a log level; anything but LogLevels is an error
// that names them.
func ParseLogLevel(s string) (slog.Level, error) {
	for _, l := range LogLevels {
		if s == l {
			var lvl slog.Level
			err := lvl.UnmarshalText([]byte(s))
			return lvl, err
		}
	}
	return slog.LevelInfo, fmt.Errorf("%q is not %s or %s", s, strings.Join(LogLevels[:len(LogLevels)-1], ", "), LogLevels[len(LogLevels)-1])
}

// Logger returns a text logger writing to w at level, for a level already
// checked by ParseLogLevel (an invalid one gives info).
func Logger(w io.Writer, level string) *slog.Logger {
	lvl, _ := ParseLogLevel(level)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl}))
}

// Command is one subcommand of a program whose state is an E and whose
// commands, once parsed, are an R (a func that runs them). Parse's shape
// is a method expression's, (*env).status, so that a table lists methods.
//
// Parse checks the command's arguments, its flags and its positional
// arguments, and returns what running it does; it does nothing else (no
// file, no socket, no network), so that the program runs every command in
// two steps and a test of the documentation can take the first step alone
// for every command line the docs show.
type Command[E, R any] struct {
	Name  string
	Parse func(e E, args []string) (R, error)
}

// Commands is a program's subcommand table.
type Commands[E, R any] []Command[E, R]

// Lookup returns the command called name.
func (cs Commands[E, R]) Lookup(name string) (Command[E, R], bool) {
	for _, c := range cs {
		if c.Name == name {
			return c, true
		}
	}
	return Command[E, R]{}, false
}

// Parse parses the arguments of the command called name and returns what
// running it does. A name not in the table is a UsageError; any error of
// the command's Parse is one for ExitCode (it keeps its text and wraps
// the original).
func (cs Commands[E, R]) Parse(e E, name string, args []string) (R, error) {
	c, ok := cs.Lookup(name)
	if !ok {
		var none R
		return none, Usagef("unknown command %q", name)
	}
	r, err := c.Parse(e, args)
	if err != nil {
		return r, parseError{err}
	}
	return r, nil
}

// NoArgs parses the arguments of a command that takes none: no flag
// (but --help) and no positional argument.
func NoArgs(name string, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return Usagef("%s takes no arguments", name)
	}
	return nil
}

// Complaint is what a program printed about a command line it refused,
// without the usage text that follows: for Check functions' errors.
func Complaint(stderr string) string {
	s, _, _ := strings.Cut(stderr, "usage:")
	s, _, _ = strings.Cut(s, "Usage of ")
	s = strings.TrimSpace(s)
	if s == "" {
		return "(the usage text only)"
	}
	return s
}
