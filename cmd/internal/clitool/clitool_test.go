package clitool

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestExitCode(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{errors.New("disk full"), ExitError},
		{UsageError("needs --yes"), ExitUsage},
		{fmt.Errorf("reset: %w", Usagef("needs %s", "--yes")), ExitUsage},
		{flag.ErrHelp, ExitUsage},
	} {
		if got := ExitCode(tt.err); got != tt.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

func TestParseLogLevel(t *testing.T) {
	for s, want := range map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError} {
		if got, err := ParseLogLevel(s); err != nil || got != want {
			t.Errorf("ParseLogLevel(%q) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "chatty", "INFO", "warning", "debug+2"} {
		if _, err := ParseLogLevel(s); err == nil || !strings.Contains(err.Error(), "debug, info, warn or error") {
			t.Errorf("ParseLogLevel(%q): %v, want an error naming the levels", s, err)
		}
	}
}

func TestCommands(t *testing.T) {
	var got []string
	cs := Commands[*[]string]{
		{Name: "a", Run: func(e *[]string, _ context.Context, args []string) error {
			*e = append(*e, "a "+strings.Join(args, " "))
			return nil
		}},
		{Name: "b", Run: func(*[]string, context.Context, []string) error { return errors.New("b failed") }},
	}
	ctx := context.Background()
	if err := cs.Run(ctx, &got, "a", []string{"x", "y"}); err != nil || len(got) != 1 || got[0] != "a x y" {
		t.Fatalf("a: %v %q", err, got)
	}
	if err := cs.Run(ctx, &got, "b", nil); ExitCode(err) != ExitError {
		t.Fatalf("b: %v", err)
	}
	err := cs.Run(ctx, &got, "fly", nil)
	if ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), `unknown command "fly"`) {
		t.Fatalf("unknown: %v", err)
	}
}
