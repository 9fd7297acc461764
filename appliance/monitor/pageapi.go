package monitor

import (
	"fmt"

	"github.com/cradle-monitor/cradle/appliance/identity"
	"github.com/cradle-monitor/cradle/media"
)

// What the monitor's own page (package page, served by cradled) needs
// beyond the web devices' API (devices.go) and in-process connections.

// Identity is the monitor's identity: its key signs the page's HTTPS
// certificate, so the page and the control channel are one device.
func (m *Monitor) Identity() *identity.Identity { return m.id }

// Name is the room's name, as the monitor tells its listeners.
func (m *Monitor) Name() string { return m.cfg.Name }

// DeviceID is the monitor's device id (the mDNS instance's).
func (m *Monitor) DeviceID() string { return m.id.Fingerprint.DeviceID() }

// PageAudio subscribes trusted device id's page to the monitor's encoded
// audio (the Opus frames its tracks send), for the page's continuous
// stream where WebRTC is missing. ErrUnknownDevice when id is not
// trusted. The caller closes the subscription, and ends it as soon as
// DeviceGone(id) is closed.
func (m *Monitor) PageAudio(id string) (*media.Subscription[media.Sample], error) {
	if !hasDevice(m.st.State(), id) {
		return nil, fmt.Errorf("%w (%s)", ErrUnknownDevice, id)
	}
	return m.hub.SubscribeAudio()
}
