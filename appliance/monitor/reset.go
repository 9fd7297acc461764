package monitor

import (
	"context"
	"crypto/rand"

	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/store"
)

// The factory reset: a long press or `cradled reset` appends trust-reset;
// the core, reading it back, closes every connection and asks for a new
// setup code (RenewCode), which the applier makes here.

// FactoryReset forgets every listener and clears the failure counter.
func (m *Monitor) FactoryReset(ctx context.Context) error {
	_, err := m.st.Append(ctx, store.TrustReset{Reason: "factory reset"})
	return err
}

// renewCode makes a new setup code after a factory reset: the old one,
// printed on the card, may have been seen by anyone. A code pinned in the
// configuration (setup_code) is the parent's choice and is kept. On a card
// made from the image, cradle-setup-card.path writes the new code to the
// boot partition (deploy/image). It runs on the applier.
func (m *Monitor) renewCode() {
	if m.cfg.SetupCode != "" {
		m.log.Warn("factory reset: the setup code stays the one set in the configuration (setup_code)")
		return
	}
	code, err := pairing.RenewCode(m.cfg.StateDir, rand.Reader)
	if err != nil {
		m.log.Error("factory reset: cannot make a new setup code; the old one stays", "err", err)
		return
	}
	m.codeMu.Lock()
	m.code = code
	m.codeMu.Unlock()
	if err := recordCodeGeneration(m.events); err != nil {
		m.log.Error("cannot record the new setup code's generation", "err", err)
	}
	m.log.Warn("factory reset: a new setup code was made; read it with `cradled setup-code` (or from cradle-setup.txt on the card's boot partition)")
}

// recordCodeGeneration appends a setup-code-set event for a new code:
// only a random generation id, as the event log never holds the code.
func recordCodeGeneration(events eventLog) error {
	gen, err := pairing.NewCodeID(rand.Reader)
	if err != nil {
		return err
	}
	_, err = events.Append(context.Background(), store.SetupCodeSet{Scheme: "generation-id", Salt: gen[:]})
	return err
}
