// Package appliance is the root of Cradle's core: the control protocol,
// pairing, the trust gate, heartbeat, WebRTC signalling and the monitor and
// listener roles live in its subpackages. This package itself holds only
// tests that check the whole module's shape (package docs, layering).
package appliance
