package conformance

import (
	"errors"
	"fmt"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/transport"
)

const historyStrangerName = "trust gate: history_request from an unpaired listener gets error untrusted, then close untrusted (2), and no history"

// checkHistoryStranger sends history_request as a stranger: the monitor
// must refuse it with untrusted and close, and send no history. With the
// pairing window closed, the monitor closes a stranger with
// pairing_closed right after hello_ack, whichever comes first.
func (r *runner) checkHistoryStranger() error {
	c, ack, err := r.session(r.stranger)
	if err != nil {
		return err
	}
	defer c.close()
	now := time.Now().UnixMilli()
	if err := c.send(control.HistoryRequest{FromMillis: now - 12*3600*1000, ToMillis: now}); err != nil && ack.PairingOpen {
		return err
	}
	msgs, code, err := c.closing(r.opts.Wait + transport.CloseLinger)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if _, ok := m.(control.History); ok {
			return errors.New("the monitor sent its history to a stranger")
		}
	}
	if !ack.PairingOpen && code == control.CodePairingClosed {
		return nil // closed before the request was read: nothing answered either
	}
	if code != control.CodeUntrusted {
		return fmt.Errorf("closed with %v (%d), want untrusted (2)", code, code.QUIC())
	}
	if len(msgs) == 0 {
		return errors.New("closed with untrusted but no error frame came before the close")
	}
	em, ok := msgs[len(msgs)-1].(control.ErrorMsg)
	if !ok || em.Code != control.CodeUntrusted.String() || em.Ref != control.TypeHistoryRequest {
		return fmt.Errorf("last frame before the close is %s, want error untrusted (ref history_request)", describe(msgs[len(msgs)-1]))
	}
	return nil
}
