package rtc

import (
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// Defaults for zero Config fields.
const (
	DefaultMaxSessionsPerConn = 2
	DefaultMaxSessions        = 8
	DefaultGatherTimeout      = 2 * time.Second
	DefaultConnectTimeout     = 10 * time.Second
	DefaultDisconnectedAfter  = 2 * time.Second
	DefaultFailedAfter        = 4 * time.Second
	DefaultKeepalive          = time.Second
)

// Payload types Cradle registers. They only need to agree within one SDP,
// but fixed numbers make captures easier to read.
const (
	ptOpus = 111
	ptVP8  = 96
	ptH264 = 102
)

// Config configures WebRTC for both roles. The zero value is usable: host
// candidates on every up, non-loopback interface, VP8 preferred, the
// default limits and timeouts.
type Config struct {
	// IncludeLoopback gathers 127.0.0.1 and ::1 candidates. For
	// development and tests; a real monitor and listener never need it.
	IncludeLoopback bool
	// Interfaces, when not empty, limits candidates to these interface
	// names (e.g. "wlan0"); loopback interfaces pass it when
	// IncludeLoopback is set.
	Interfaces []string
	// UDPPortMin and UDPPortMax bound the local UDP ports; both zero means
	// any port.
	UDPPortMin, UDPPortMax uint16

	// VideoMimeType is the preferred video codec: webrtc.MimeTypeVP8
	// (default) or webrtc.MimeTypeH264. Both are registered so that either
	// side can send what its track carries; the preferred one is listed
	// first in offers.
	VideoMimeType string

	// MaxSessionsPerConn bounds the peer connections one Answerer holds
	// (one control connection); MaxSessions bounds them across all
	// Answerers of an Engine. Offers beyond either fail with busy.
	MaxSessionsPerConn int
	MaxSessions        int

	// GatherTimeout bounds how long Start and HandleOffer wait for host
	// candidates to be gathered into the SDP they return. Candidates found
	// later trickle through OnCandidate.
	GatherTimeout time.Duration
	// ConnectTimeout closes an answered session that did not connect in
	// time (an offer flood that never follows up costs no more than this).
	ConnectTimeout time.Duration
	// DisconnectedAfter and FailedAfter are ICE's consent timeouts: the
	// connection reads "disconnected" after DisconnectedAfter without
	// traffic and "failed" FailedAfter later. Keepalive is the interval of
	// ICE keepalives.
	DisconnectedAfter time.Duration
	FailedAfter       time.Duration
	Keepalive         time.Duration

	// Logger receives pion's warnings and errors (its info and debug lines
	// at debug level). Nil means slog.Default().
	Logger *slog.Logger
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	switch c.VideoMimeType {
	case "", webrtc.MimeTypeVP8, webrtc.MimeTypeH264:
	default:
		return fmt.Errorf("rtc: video codec %q is not supported: use %s or %s", c.VideoMimeType, webrtc.MimeTypeVP8, webrtc.MimeTypeH264)
	}
	if c.UDPPortMin > c.UDPPortMax || (c.UDPPortMin == 0) != (c.UDPPortMax == 0) {
		return fmt.Errorf("rtc: UDP port range %d-%d is invalid: set both bounds, min <= max (or neither)", c.UDPPortMin, c.UDPPortMax)
	}
	for _, n := range []int{c.MaxSessionsPerConn, c.MaxSessions} {
		if n < 0 {
			return fmt.Errorf("rtc: session limit %d is negative", n)
		}
	}
	for _, d := range []time.Duration{c.GatherTimeout, c.ConnectTimeout, c.DisconnectedAfter, c.FailedAfter, c.Keepalive} {
		if d < 0 {
			return fmt.Errorf("rtc: timeout %v is negative", d)
		}
	}
	return nil
}

// withDefaults returns a copy with zero fields filled.
func (c Config) withDefaults() Config {
	if c.VideoMimeType == "" {
		c.VideoMimeType = webrtc.MimeTypeVP8
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.MaxSessionsPerConn, DefaultMaxSessionsPerConn)
	def(&c.MaxSessions, DefaultMaxSessions)
	defd := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	defd(&c.GatherTimeout, DefaultGatherTimeout)
	defd(&c.ConnectTimeout, DefaultConnectTimeout)
	defd(&c.DisconnectedAfter, DefaultDisconnectedAfter)
	defd(&c.FailedAfter, DefaultFailedAfter)
	defd(&c.Keepalive, DefaultKeepalive)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Interfaces = slices.Clone(c.Interfaces)
	return c
}

// Engine holds the pion API built from a Config and the session budget
// shared by every Answerer made from it. One per process; it has no
// goroutines and needs no Close.
type Engine struct {
	cfg Config
	api *webrtc.API
	log *slog.Logger

	mu   sync.Mutex
	live int // peer connections held by Answerers, including ones closing
}

// NewEngine validates cfg and builds the pion API: host-only ICE (no
// STUN/TURN, no mDNS candidates, UDP only), Opus and VP8/H.264, NACK and
// RTCP reports.
func NewEngine(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	api, err := newAPI(cfg)
	if err != nil {
		return nil, err
	}
	return &Engine{cfg: cfg, api: api, log: cfg.Logger}, nil
}

// API returns the pion API, for callers that need a peer connection of
// their own with the same settings.
func (e *Engine) API() *webrtc.API { return e.api }

// Sessions returns the number of peer connections held by all Answerers.
func (e *Engine) Sessions() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.live
}

func (e *Engine) acquire() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.live >= e.cfg.MaxSessions {
		return false
	}
	e.live++
	return true
}

func (e *Engine) release() {
	e.mu.Lock()
	e.live--
	e.mu.Unlock()
}

func newAPI(cfg Config) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := registerCodecs(m, cfg.VideoMimeType); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	if err := webrtc.ConfigureNack(m, reg); err != nil {
		return nil, fmt.Errorf("rtc: nack: %w", err)
	}
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return nil, fmt.Errorf("rtc: rtcp reports: %w", err)
	}

	var s webrtc.SettingEngine
	s.LoggerFactory = pionLogger{cfg.Logger}
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	s.SetIncludeLoopbackCandidate(cfg.IncludeLoopback)
	s.SetICETimeouts(cfg.DisconnectedAfter, cfg.FailedAfter, cfg.Keepalive)
	if cfg.UDPPortMin != 0 {
		if err := s.SetEphemeralUDPPortRange(cfg.UDPPortMin, cfg.UDPPortMax); err != nil {
			return nil, fmt.Errorf("rtc: port range: %w", err)
		}
	}
	if len(cfg.Interfaces) > 0 {
		names, loop := cfg.Interfaces, cfg.IncludeLoopback
		s.SetInterfaceFilter(func(name string) bool {
			return slices.Contains(names, name) || (loop && isLoopback(name))
		})
	}
	if !cfg.IncludeLoopback {
		// pion already skips loopback interfaces; this also drops loopback
		// addresses configured on other interfaces.
		s.SetIPFilter(func(ip net.IP) bool { return !ip.IsLoopback() })
	}
	return webrtc.NewAPI(
		webrtc.WithMediaEngine(m),
		webrtc.WithSettingEngine(s),
		webrtc.WithInterceptorRegistry(reg),
	), nil
}

// registerCodecs registers Opus (48 kHz, 2 channels in SDP, as RFC 7587
// requires whatever the encoder's channel count) and both video codecs,
// the preferred one first.
func registerCodecs(m *webrtc.MediaEngine, videoMime string) error {
	opus := webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1",
		},
		PayloadType: ptOpus,
	}
	if err := m.RegisterCodec(opus, webrtc.RTPCodecTypeAudio); err != nil {
		return fmt.Errorf("rtc: register opus: %w", err)
	}
	fb := []webrtc.RTCPFeedback{{Type: "ccm", Parameter: "fir"}}
	vp8 := webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb},
		PayloadType:        ptVP8,
	}
	h264 := webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: fb,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
		},
		PayloadType: ptH264,
	}
	video := []webrtc.RTPCodecParameters{vp8, h264}
	if videoMime == webrtc.MimeTypeH264 {
		video = []webrtc.RTPCodecParameters{h264, vp8}
	}
	for _, c := range video {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			return fmt.Errorf("rtc: register %s: %w", c.MimeType, err)
		}
	}
	return nil
}

func isLoopback(name string) bool {
	ifi, err := net.InterfaceByName(name)
	return err == nil && ifi.Flags&net.FlagLoopback != 0
}
