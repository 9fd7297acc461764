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
	type run = func(context.Context) error
	var got []string
	cs := Commands[*[]string, run]{
		{Name: "a", Parse: func(e *[]string, args []string) (run, error) {
			return func(context.Context) error {
				*e = append(*e, "a "+strings.Join(args, " "))
				return nil
			}, nil
		}},
		{Name: "b", Parse: func(*[]string, []string) (run, error) { return nil, UsageError("b needs c") }},
	}
	ctx := context.Background()
	r, err := cs.Parse(&got, "a", []string{"x", "y"})
	if err != nil || len(got) != 0 {
		t.Fatalf("a parsed: %v %q, want nothing run yet", err, got)
	}
	if err := r(ctx); err != nil || len(got) != 1 || got[0] != "a x y" {
		t.Fatalf("a: %v %q", err, got)
	}
	if _, err := cs.Parse(&got, "b", nil); ExitCode(err) != ExitUsage {
		t.Fatalf("b: %v", err)
	}
	cs = append(cs, Command[*[]string, run]{Name: "c", Parse: func(*[]string, []string) (run, error) { return nil, errors.New("flag provided but not defined: -x") }})
	if _, err := cs.Parse(&got, "c", nil); ExitCode(err) != ExitUsage || err.Error() != "flag provided but not defined: -x" {
		t.Fatalf("c: %v (exit %d), want the flag error as a usage error", err, ExitCode(err))
	}
	_, err = cs.Parse(&got, "fly", nil)
	if ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), `unknown command "fly"`) {
		t.Fatalf("unknown: %v", err)
	}
}

func TestNoArgs(t *testing.T) {
	var b strings.Builder
	if err := NoArgs("id", nil, &b); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--json"}, {"extra"}} {
		if err := NoArgs("id", args, &b); err == nil {
			t.Errorf("NoArgs(%q) = nil, want an error", args)
		}
	}
}
