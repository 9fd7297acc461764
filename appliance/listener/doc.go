// Package listener is the listener role: the monitors this device paired
// with (kept in its own event store), pairing with a setup code or payload,
// and connections to paired monitors with their pinned fingerprints.
//
// The store is opened only for the moment it is read or written, so that
// several cradle commands (a long `cradle status --watch` and a `cradle
// pair`, say) can run side by side on one state directory.
package listener
