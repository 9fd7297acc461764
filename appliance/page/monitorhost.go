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

// directRelay answers a phone's WebRTC offer with the monitor's own
// answerer, over an in-process connection of the phone's device that
// lasts as long as the tab listens (ctx): the monitor counts it against
// its listener limits and closes it when the device is revoked.
type directRelay struct {
	h  MonitorHost
	n  atomic.Uint64
	wg sync.WaitGroup // the drains
}

// answerTimeout bounds the monitor's answer to a phone's offer.
const answerTimeout = 10 * time.Second

func (d *directRelay) Answer(ctx context.Context, o mediaRequest) (string, error) {
	if o.Device == "" {
		return "", errUnauthorized
	}
	c, _, err := d.h.Connect(ctx, o.Device, o.Remote)
	if err != nil {
		return "", err
	}
	session := fmt.Sprintf("page-%d", d.n.Add(1))
	kind := control.StreamAudio
	if o.Video {
		kind = control.StreamAudioVideo
	}
	actx, cancel := context.WithTimeout(ctx, answerTimeout)
	defer cancel()
	answer, err := offerOver(actx, c, session, kind, o.SDP)
	if err != nil {
		c.Close(control.CodeGoingAway, "")
		return "", err
	}
	// The connection (and with it the monitor's peer connection) lasts
	// while the tab listens; the monitor ends it first on a revocation.
	// Until then it is read and what comes is dropped: the monitor sends
	// its status to every trusted connection, and a connection that does
	// not read is closed as a slow peer (and the phone's sound with it).
	stop := context.AfterFunc(ctx, func() { c.Close(control.CodeGoingAway, "the page stopped listening") })
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
// tab's listen, and with it every phone's connection.
func (d *directRelay) Close() error {
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
