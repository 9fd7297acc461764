package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
)

// The wipe, for giving the monitor away: the second level of reset. The
// first (FactoryReset) forgets the listeners and makes a new setup code;
// the wipe forgets everything the monitor was told or made: its identity
// (a new key and fingerprint), the event log with all its history, the
// setup code, the phones' page certificate. It is asked for by holding
// the button to hw.Config.WipeHold (30 s) or by `cradled wipe --yes`.
//
// How: Wipe writes WipeMarker into the state directory and stops the
// monitor with ErrWiped (cradled exits with ExitWiped; systemd starts it
// again). The next Open (or OfflineSetupInfo, or `cradled provision`)
// finds the marker and, before it reads anything, removes everything in
// the state directory, the marker last: a power cut in between only
// repeats the wipe. On the image, the unit's ExecStopPost hook
// (deploy/image/cradle-wipe) sees the marker too and also removes the
// Wi-Fi and SSH credentials from the card, then reboots.

// WipeMarker is the file in the state directory that asks for a wipe.
const WipeMarker = "wipe-requested"

// ErrWiped is delivered on Fatal after Wipe: the monitor stopped so that
// its next start is a new monitor.
var ErrWiped = errors.New("monitor: wiped for giving it away: it starts again as a new monitor (new identity, new setup code, no history)")

// Wipe asks for the wipe and stops the monitor (ErrWiped on Fatal). The
// marker is on disk when it returns.
func (m *Monitor) Wipe(context.Context) error {
	if err := writeWipeMarker(m.cfg.StateDir); err != nil {
		return err
	}
	m.log.Warn("wipe: the monitor forgets everything and starts again as a new monitor")
	m.fail(ErrWiped)
	return nil
}

func writeWipeMarker(dir string) error {
	path := filepath.Join(dir, WipeMarker)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("monitor: cannot ask for the wipe: %w", err)
	}
	_, werr := f.WriteString("wipe the monitor's state at its next start\n")
	serr := f.Sync()
	if err := errors.Join(werr, serr, f.Close()); err != nil {
		return fmt.Errorf("monitor: cannot ask for the wipe: %w", err)
	}
	return syncDir(dir)
}

// WipeIfRequested carries out a wipe asked for in dir: every entry but
// the marker goes, then the marker. It reports whether it wiped. A
// directory that does not exist holds nothing to wipe.
func WipeIfRequested(dir string, log *slog.Logger) (bool, error) {
	if _, err := os.Stat(filepath.Join(dir, WipeMarker)); errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("monitor: wipe: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, fmt.Errorf("monitor: wipe: %w", err)
	}
	for _, e := range entries {
		if e.Name() == WipeMarker {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return false, fmt.Errorf("monitor: wipe: %w", err)
		}
	}
	if err := syncDir(dir); err != nil {
		return false, err
	}
	if err := os.Remove(filepath.Join(dir, WipeMarker)); err != nil {
		return false, fmt.Errorf("monitor: wipe: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return false, err
	}
	if log != nil {
		log.Warn("wiped: this is a new monitor (new identity, new setup code, no history)", "removed", len(entries)-1)
	}
	return true, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("monitor: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("monitor: sync %s: %w", dir, err)
	}
	return nil
}
