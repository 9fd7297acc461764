package listener

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/pairing"
	"github.com/cradle-monitor/cradle/appliance/pairing/pake"
	"github.com/cradle-monitor/cradle/appliance/transport"
	"github.com/cradle-monitor/cradle/store"
)

// PairRequest says whom to pair with and how.
type PairRequest struct {
	Target  string           // HOST:PORT, a host (the payload gives the port), or a discovered name or id; empty with a payload finds the monitor by its fingerprint over mDNS
	Code    pairing.Code     // with a code only, the PAKE proves the monitor's identity
	Payload *pairing.Payload // with a payload, its fingerprint is pinned before the first byte
}

// Pair runs pairing with a monitor and stores it on success.
func (l *Listener) Pair(ctx context.Context, req PairRequest) (PairedMonitor, error) {
	var pin identity.Fingerprint
	var port uint16
	code := req.Code
	if req.Payload != nil {
		pin, code, port = req.Payload.Fingerprint, req.Payload.Code, req.Payload.Port
	}
	if code == "" {
		return PairedMonitor{}, ErrNoCode
	}
	if req.Target == "" && req.Payload == nil {
		return PairedMonitor{}, errors.New("listener: give the monitor's HOST:PORT or its name")
	}
	addr, err := l.resolveTarget(ctx, req.Target, pin, port)
	if err != nil {
		return PairedMonitor{}, err
	}
	c, ack, err := transport.Dial(ctx, addr, l.id, pin, l.hello(), l.transportConfig())
	if err != nil {
		return PairedMonitor{}, err
	}
	defer c.Close(control.CodeNone, "paired")
	if !ack.Trusted && !ack.PairingOpen {
		// The monitor closes this connection at once (its close may not
		// have arrived yet): say why without asking.
		return PairedMonitor{}, &control.Error{Code: control.CodePairingClosed, Remote: true}
	}
	binding, err := c.Exporter()
	if err != nil {
		return PairedMonitor{}, err
	}
	exchange, err := pake.NewInitiator(pake.Params{Code: string(code), ListenerID: l.id.Fingerprint, MonitorID: c.Peer(), Binding: binding}, rand.Reader)
	if err != nil {
		return PairedMonitor{}, err
	}
	pA, err := exchange.Start()
	if err != nil {
		return PairedMonitor{}, err
	}
	if err := c.Send(ctx, control.PairStart{Name: l.cfg.Name, PA: pA}); err != nil {
		return PairedMonitor{}, err
	}
	reply, err := recvPairing[control.PairReply](ctx, c)
	if err != nil {
		return PairedMonitor{}, err
	}
	cA, err := exchange.Finish(reply.PB)
	if err != nil {
		return PairedMonitor{}, fmt.Errorf("%w: %v", ErrImpostor, err)
	}
	if err := c.Send(ctx, control.PairConfirm{CA: cA}); err != nil {
		return PairedMonitor{}, err
	}
	done, err := recvPairing[control.PairDone](ctx, c)
	if err != nil {
		return PairedMonitor{}, err
	}
	if _, err := exchange.Verify(done.CB); err != nil {
		return PairedMonitor{}, fmt.Errorf("%w: %v", ErrImpostor, err)
	}
	name := done.Name
	if name == "" {
		name = ack.Name
	}
	m := PairedMonitor{DeviceID: c.Peer().DeviceID(), Name: name, Fingerprint: c.Peer(), Address: addr, PairedAt: time.Now()}
	err = l.withStore(func(st *store.Store) error {
		_, err := st.Append(ctx, store.MonitorPaired{DeviceID: m.DeviceID, Name: m.Name, Fingerprint: m.Fingerprint, Address: m.Address, At: m.PairedAt})
		return err
	})
	return m, err
}

// recvPairing waits for a message of type T, turning an error message
// from the monitor into its Go error.
func recvPairing[T control.Message](ctx context.Context, c *transport.Conn) (T, error) {
	var zero T
	for {
		msg, err := c.Recv(ctx)
		if err != nil {
			return zero, err
		}
		switch msg := msg.(type) {
		case T:
			return msg, nil
		case control.ErrorMsg:
			return zero, msg.ToError()
		default:
			if control.IsNotice(msg.MessageType()) {
				continue // a trusted connection may get one at any time
			}
			return zero, control.Errorf(control.CodeProtocol, "expected %s, got %s", zero.MessageType(), msg.MessageType())
		}
	}
}
