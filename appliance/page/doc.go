// Package page is the parents' web page's one package for its two hosts:
// the monitor's own page (served by cradled, to the parents' phones) and
// `cradle dashboard` (a listener's page, a laptop watching several
// monitors). Both serve the page through the same HTTP layer; neither
// forks it. So far it holds that layer:
//   - Guard (guard.go): the rules every request passes. The Host header
//     names this server (DNS rebinding), with or without the port when
//     the port is the scheme's default (443, 80); the API and every POST
//     come from the page's own origin (Origin, Sec-Fetch-Site); POSTs are
//     JSON; bodies are bounded (MaxBody, in BodyTimeout); API calls need
//     the host's credential (Guard.Authorized), and security headers go
//     on every answer.
//   - Protect (conns.go): the server's connections, bounded so that no
//     stranger can lock the parents out (see Limits and DefaultLimits).
//
// # Connections: strangers and signed-in devices
//
// A connection is a stranger's until one of its requests carries a valid
// credential (the guard then calls Trust); from then on it is a signed-in
// device's. DefaultLimits:
//   - 128 connections at once in all (file descriptors stay for the
//     rest of the process);
//   - 64 of them at most strangers', 8 per source address: one device
//     alone cannot fill the strangers' pool, and 64 or more are always
//     left to signed-in devices;
//   - a stranger's connection that is new (no request yet: slow headers,
//     a TLS handshake) or idle between requests is evicted, oldest first,
//     when a new connection needs its place (from its own address once
//     the address holds 8, or from anyone once the pool is full): a phone
//     that wakes or reloads always gets in; a stranger's connection in a
//     request is never evicted, and its requests are short (the API needs
//     the credential);
//   - headers and a TLS handshake within 5 s; a stranger's idle
//     keep-alive ends after 5 s and its answer must be written within
//     10 s; a signed-in device's idle keep-alive lasts 2 minutes.
//
// Callers: build the http.Server, pass it and the listener to Protect,
// serve on the listener Protect returns, and wrap the handler with a
// Guard whose Authorized checks the credential.
package page
