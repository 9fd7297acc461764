package page

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cradle-monitor/cradle/appliance/control"
	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/appliance/listener"
	"github.com/cradle-monitor/cradle/appliance/monitor"
	"github.com/cradle-monitor/cradle/media"
)

// The monitor's host: the page served by cradled to the parents' phones.
// It differs from the dashboard's in three things only:
//   - its one card is the monitor itself, followed by a listener.Session
//     over an in-process control connection (MonitorHost.Connect with no
//     device), while some page is open (lazylink.go): the card's
//     presence, levels, pairing window and notices come through the same
//     listener library as everywhere else;
//   - a page signs in by pairing the phone (the setup code, through the
//     monitor's pairing window) and holds a cookie per device; devices
//     are listed, renamed and revoked on the page (devices.go);
//   - a phone's media comes straight from the monitor: its WebRTC offer
//     goes over an in-process connection of its own device to the
//     monitor's answerer (the QUIC listeners' answerer, limits and trust
//     checks; one encryption hop), and the continuous stream is the
//     monitor's own Opus frames.

// MonitorHost is what the monitor's page needs of its monitor
// (*monitor.Monitor, through ForMonitor).
type MonitorHost interface {
	// Self describes the monitor as its card shows it.
	Self() listener.PairedMonitor
	// Identity signs the page's HTTPS certificate.
	Identity() *identity.Identity
	// Connect opens an in-process control connection for device (a
	// trusted phone's id), or for the page itself with device "". It is
	// closed by the monitor when the device is revoked.
	Connect(ctx context.Context, device string, remote netip.AddrPort) (listener.Conn, control.HelloAck, error)
	// The web devices (see package monitor).
	PairDevice(ctx context.Context, source netip.Addr, code, name string) (string, monitor.Device, error)
	DeviceByCredential(cred string) (monitor.Device, bool)
	Devices() []monitor.Device
	RenameDevice(ctx context.Context, id, name string) error
	RevokeDevice(ctx context.Context, id string) error
	DeviceGone(id string) <-chan struct{}
	// PageAudio subscribes device to the monitor's Opus frames.
	PageAudio(device string) (*media.Subscription[media.Sample], error)
}

// ForMonitor is m as the page's host.
func ForMonitor(m *monitor.Monitor) MonitorHost { return monitorHost{m} }

type monitorHost struct{ *monitor.Monitor }

func (h monitorHost) Self() listener.PairedMonitor {
	addr := ""
	if a := h.Addr(); a != nil {
		addr = a.String()
	}
	return listener.PairedMonitor{DeviceID: h.DeviceID(), Name: h.Name(), Fingerprint: h.Fingerprint(), Address: addr}
}

func (h monitorHost) Connect(ctx context.Context, device string, remote netip.AddrPort) (listener.Conn, control.HelloAck, error) {
	c, ack, err := h.ConnectLocal(ctx, monitor.LocalPeer{Device: device, Remote: remote})
	if err != nil {
		return nil, ack, err
	}
	return c, ack, nil
}

// selfDialer reaches the monitor for the page's own session.
type selfDialer struct{ h MonitorHost }

func (d selfDialer) Dial(ctx context.Context, _ listener.PairedMonitor) (listener.Conn, control.HelloAck, error) {
	return d.h.Connect(ctx, "", netip.AddrPort{})
}

func (d selfDialer) Rediscover(context.Context, listener.PairedMonitor) (string, error) {
	return "", errors.New("page: the monitor's own page has nothing to rediscover")
}

// monitorSessions makes the pool's session source the monitor itself: one
// card, whose session runs while some page is open (lazyLink).
func monitorSessions(sp *sessionPool, h MonitorHost, sopt listener.SessionOptions) {
	sp.list = func() ([]listener.PairedMonitor, error) { return []listener.PairedMonitor{h.Self()}, nil }
	sp.start = func(m listener.PairedMonitor) (sessionLink, *listener.Session) {
		opt := sopt
		opt.Stream = listener.StreamOff
		// In process: a connection that ends is the monitor closing;
		// come back at once.
		opt.Backoff = listener.Backoff{Min: 100 * time.Millisecond, Max: time.Second}
		return newLazyLink(m, func() liveLink {
			sess := listener.StartSession(m, selfDialer{h}, opt)
			return liveLink{sess: sess, sub: sess.Subscribe(listener.SubscribeOptions{})}
		}), nil
	}
}

// connRelay answers a page's WebRTC offer with the monitor's own
// answerer, over a control connection of its own (connect) that lasts as
// long as the page's media (ctx): the monitor counts it against its
// listener limits, names who it is (a talker), and closes it when the
// device is revoked. The monitor's host connects in process as the
// phone's device (directRelay); the dashboard dials the monitor as its
// listener for a talk (listenerTalk), since its Relay carries only the
// session's media to the browser.
type connRelay struct {
	connect func(ctx context.Context, o mediaRequest) (listener.Conn, error)
	n       atomic.Uint64
	wg      sync.WaitGroup // the drains
}

// directRelay is the monitor's host's relay: each phone's offer goes over
// an in-process connection of the phone's device.
func directRelay(h MonitorHost) *connRelay {
	return &connRelay{connect: func(ctx context.Context, o mediaRequest) (listener.Conn, error) {
		if o.Device == "" {
			return nil, errUnauthorized
		}
		c, _, err := h.Connect(ctx, o.Device, o.Remote)
		return c, err
	}}
}

// listenerTalk is the dashboard's talk relay: the browser's offer goes to
// the monitor over a connection of the dashboard's listener of its own
// (the session's carries the listening), dialled at the session's
// current address.
func listenerTalk(l *listener.Listener) *connRelay {
	return &connRelay{connect: func(ctx context.Context, o mediaRequest) (listener.Conn, error) {
		if o.Session == nil {
			return nil, listener.ErrSessionClosed
		}
		m := o.Session.Monitor()
		if a := o.Session.Snapshot().Address; a != "" {
			m.Address = a
		}
		c, _, err := l.Dial(ctx, m)
		if err != nil {
			return nil, err
		}
		return c, nil
	}}
}

// answerTimeout bounds the monitor's answer to a page's offer.
const answerTimeout = 10 * time.Second

func (d *connRelay) Answer(ctx context.Context, o mediaRequest) (string, error) {
	actx, cancel := context.WithTimeout(ctx, answerTimeout)
	defer cancel()
	c, err := d.connect(actx, o)
	if err != nil {
		return "", err
	}
	session := fmt.Sprintf("page-%d", d.n.Add(1))
	kind := control.StreamAudio
	switch {
	case o.Talk:
		kind = control.StreamTalk
	case o.Video:
		kind = control.StreamAudioVideo
	}
	answer, err := offerOver(actx, c, session, kind, o.SDP)
	if err != nil {
		c.Close(control.CodeGoingAway, "")
		return "", err
	}
	// The connection (and with it the monitor's peer connection) lasts
	// while the page listens or talks; the monitor ends it first on a
	// revocation. Until then it is read and what comes is dropped: the
	// monitor sends its status to every trusted connection, and a
	// connection that does not read is closed as a slow peer (and the
	// phone's sound with it).
	stop := context.AfterFunc(ctx, func() { c.Close(control.CodeGoingAway, "the page stopped") })
	d.wg.Go(func() {
		defer stop()
		for {
			m, err := c.Recv(context.Background()) // ends when c is closed, by ctx or by the monitor
			if err != nil {
				return
			}
			if ss, ok := m.(control.StreamStop); ok && ss.Session == session {
				c.Close(control.CodeGoingAway, "the monitor ended the stream")
				return
			}
		}
	})
	return answer, nil
}

// offerOver sends stream_start and the offer on c and waits for the
// answer (other messages, such as status, are skipped).
func offerOver(ctx context.Context, c listener.Conn, session, kind, sdp string) (string, error) {
	if err := c.Send(ctx, control.StreamStart{Session: session, Kind: kind}); err != nil {
		return "", err
	}
	if err := c.Send(ctx, control.WebRTCOffer{Session: session, SDP: sdp}); err != nil {
		return "", err
	}
	for {
		m, err := c.Recv(ctx)
		if err != nil {
			return "", err
		}
		switch m := m.(type) {
		case control.WebRTCAnswer:
			if m.Session == session {
				return m.SDP, nil
			}
		case control.ErrorMsg:
			return "", m.ToError()
		case control.StreamStop:
			if m.Session == session {
				return "", control.Errorf(control.CodeInternal, "the monitor stopped the stream: %s", m.Reason)
			}
		}
	}
}

// Close waits for the drains: the server's base context has ended every
// tab's listen and talk, and with it every connection.
func (d *connRelay) Close() error {
	d.wg.Wait()
	return nil
}

// remoteOf is a request's source address (zero when it does not parse).
func remoteOf(remote string) netip.AddrPort {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		if h, _, err := net.SplitHostPort(remote); err == nil {
			if a, err := netip.ParseAddr(h); err == nil {
				return netip.AddrPortFrom(a, 0)
			}
		}
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
