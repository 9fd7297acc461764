// Package discovery finds monitors on the local network with mDNS / DNS-SD
// (service type _cradle._udp), built on github.com/hashicorp/mdns.
//
// A monitor runs an Advertiser: its room name is the instance name; it
// answers address queries for its host name (HostName: the room name
// folded to a DNS label plus the short device id, e.g.
// nursery-aeea6fq.local), which is also its SRV target, and for its short
// alias (ShortHostName: nursery.local, shared by monitors with the same
// room name); and its TXT record carries the protocol version (v=1), the short device id
// (id=), the full fingerprint (fp=, the human form without dashes) and
// whether its pairing window is open (pair=1 or pair=0). A listener calls
// Browse. docs/DISCOVERY.md says what phones see and why.
//
// Discovery only helps a listener find an address: anyone on the network
// can advertise anything. Trust comes from pairing and the pinned
// fingerprint, never from an answer to Browse.
//
// Caller duties:
//  1. Create the Advertiser once the identity and the control port are
//     known; Close it on shutdown (it sends goodbye packets).
//  2. Call SetPairingOpen(true) when the pairing window opens and
//     SetPairingOpen(false) when it closes, for any reason.
//  3. Give each monitor a distinct room name: hashicorp/mdns does not
//     probe for name conflicts, and two monitors answering for the same
//     instance name are merged by every resolver. (Host names cannot
//     conflict: they carry the device id.)
//  4. Browse returns candidates; connect with the fingerprint as the pin.
//
// Limits of hashicorp/mdns and what this package does about them:
//   - it never announces: the Advertiser sends its own announcements (on
//     start, on every change, twice a second apart) and goodbyes on Close,
//     from port 5353 as RFC 6762 requires;
//   - it answers every query by unicast to the querier's address and port,
//     which Apple's resolver ignores unless it asked so: the Advertiser also
//     multicasts its records, at most once a second, when a query that did
//     not ask for a unicast answer matches;
//   - it fixes addresses when a service is built: the Advertiser polls the
//     interface addresses and rebuilds the server when they change;
//   - its Query waits out the whole timeout and its client keeps writing
//     entries it has handed out: Browse queries in short rounds and reads
//     entries only after each round returns;
//   - it does not filter answers by service name: Browse does, and parses
//     TXT records defensively.
//
// Testing: hashicorp's client joins the multicast group on the host's
// interfaces even when pinned to one, so every test that sends mDNS runs
// in a network namespace that the test creates.
package discovery

import "errors"

// Errors. Each is wrapped with details.
var (
	// ErrInvalidConfig: an AdvertiseConfig or BrowseConfig field is wrong.
	ErrInvalidConfig = errors.New("discovery: invalid configuration")
	// ErrClosed: the Advertiser was closed.
	ErrClosed = errors.New("discovery: advertiser closed")
	// ErrNoInterface: the named network interface does not exist.
	ErrNoInterface = errors.New("discovery: no such network interface")
	// ErrMalformedTXT: an answer's TXT record is not a monitor's.
	ErrMalformedTXT = errors.New("discovery: malformed TXT record")
)
