package rtc

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pionLogger routes pion's logs to slog. Pion's info lines (state changes,
// one per event) and its warnings (mostly teardown races: "stream is
// already closed") go to debug, its trace lines nowhere.
type pionLogger struct{ log *slog.Logger }

func (p pionLogger) NewLogger(scope string) logging.LeveledLogger {
	return pionScope{log: p.log.With("pion", scope)}
}

type pionScope struct{ log *slog.Logger }

func (s pionScope) emit(level slog.Level, msg string) {
	s.log.Log(context.Background(), level, msg)
}

func (s pionScope) emitf(level slog.Level, format string, args ...any) {
	if s.log.Enabled(context.Background(), level) {
		s.emit(level, fmt.Sprintf(format, args...))
	}
}

func (s pionScope) Trace(string)              {}
func (s pionScope) Tracef(string, ...any)     {}
func (s pionScope) Debug(m string)            { s.emit(slog.LevelDebug, m) }
func (s pionScope) Debugf(f string, a ...any) { s.emitf(slog.LevelDebug, f, a...) }
func (s pionScope) Info(m string)             { s.emit(slog.LevelDebug, m) }
func (s pionScope) Infof(f string, a ...any)  { s.emitf(slog.LevelDebug, f, a...) }
func (s pionScope) Warn(m string)             { s.emit(slog.LevelDebug, m) }
func (s pionScope) Warnf(f string, a ...any)  { s.emitf(slog.LevelDebug, f, a...) }
func (s pionScope) Error(m string)            { s.emit(slog.LevelError, m) }
func (s pionScope) Errorf(f string, a ...any) { s.emitf(slog.LevelError, f, a...) }
