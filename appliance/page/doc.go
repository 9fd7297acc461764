// Package page is the parents' web page, one package for its two hosts:
// the monitor's own page (served by cradled, to the parents' phones) and
// `cradle dashboard` (a listener's page, a laptop watching several
// monitors). Both serve the same assets, through the same handlers and
// the same HTTP layer; neither forks them.
//
// # The HTTP layer
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
//
// # The page
//
// A card per monitor with its presence (from the heartbeat), sound
// level, recent noise and alarm; Listen, Video and Stop; hold to talk and
// soothing sounds; discovery and pairing; all on one local HTTP server, with plain HTML, CSS and
// JavaScript embedded (no build step, nothing from the internet).
//
// # Sessions and listening
//
// The dashboard starts one listener.Session per paired monitor (and one
// more after each pairing), shared by every open tab. A session streams
// while its listen count is above zero; the count is held by:
//   - a tab that pressed Listen or Video (POST /api/monitors/{id}/listen),
//     until Stop, or until the tab's event stream ends (it closed or lost
//     its connection: it listens again after reconnecting);
//   - each GET /api/monitors/{id}/audio.ogg or night.mp3, for as long as
//     it lasts.
//
// A tab's WebRTC offer (POST .../offer) goes to the Relay only while the
// tab holds a listen; the Relay gets a context that ends when the listen
// does. A page without WebRTC (Debian's WebKit), or whose WebRTC fails
// or stays silent, plays audio.ogg instead, holding both counts until it
// stops. The page (assets/listen.js) calls a card listening only while its
// player's time advances with sound; docs/DESIGN.md, "Listening in the
// page". Night mode (assets/night.js, night.go) plays night.mp3 and
// raises the page's own alarm from the audio clock; docs/DESIGN.md,
// "Night mode".
//
// # The night at a glance
//
// GET /api/monitors/{id}/history (history.go) reads the monitor's sound
// history through its session, as info does (the same session, the same
// sign-in), every page of it (listener.FetchHistory; Options.History
// replaces it in tests), and answers it as JSON with the summary of its
// episodes counted in Go (listener.HistorySummary), so that the page and
// `cradle history` agree. The range is ?from=MS&to=MS, which the page
// sends: the night (18:00 to 10:00, history.Night) computed in the
// phone's own time zone, which the server does not know; ?night=N is
// the same in the server's time zone. A range is at most 31 days (its
// last 31). The page (assets/history.js) writes the summary in the
// words of history.Summary.Text with the phone's times, and draws the
// night as SVG: the level, noise episodes, microphone faults, the times
// with no level record, who listened, an hour axis.
//
// # Soothing sounds and talking to the nursery
//
// A card plays one of the monitor's soothing sounds on its speaker (POST
// /api/monitors/{id}/sound/start {sound, minutes}, .../sound/stop;
// soothe.go) and shows the speaker as every listener hears of it
// (sound_state, through the card's session): the sound, who started it
// and the time left, or that the monitor has no speaker. On the
// dashboard the dashboard's listener asks, through its session; on the
// monitor's host the phone asks over an in-process connection of its own
// device, so that every page names the phone.
//
// Hold to talk (talk.go, assets/talk.js): while a parent holds a card's
// button (pointer or space bar; releasing it, or sliding off it, stops),
// the page takes its microphone (getUserMedia: a secure page only, the
// monitor's HTTPS or the dashboard on loopback or HTTPS) and sends it to
// the monitor over WebRTC: POST /api/monitors/{id}/talk {tab, sdp} hands
// the browser's sendonly offer to the monitor as a stream of kind talk
// and answers with the monitor's answer; .../talk/stop ends it, as does
// the tab's leaving (its event stream ends) or its next talk. The offer
// goes over a control connection of its own (connRelay), which lasts as
// long as the talk: on the monitor's host an in-process one of the
// phone's device (directRelay, as for listening); on the dashboard one
// its listener dials to the monitor (listenerTalk; the Relay carries only
// the session's media, so the browser's voice goes to the monitor
// itself). The monitor lets one talker at a time and tells every
// listener who talks (talk_state): other cards say who, and their button
// is disabled, as it is (with the reason) when the monitor has no
// speaker, the browser has no WebRTC (Debian's WebKit) or the page is not
// secure. While the button is held, the card's nursery audio is muted,
// so the talker does not hear their own voice come back; the listening
// watcher (listen.js) does not take that for a stall.
//
// # Adding a phone, and wrong setup codes
//
// A card's "Add a phone" (POST /api/monitors/{id}/pairing/open) asks the
// monitor, over the paired session, to open its pairing window for its
// default time, so that a new phone pairs with the setup code without
// anyone pressing the monitor's button; "Stop pairing" (.../pairing/close)
// closes it. The monitor tells every paired listener when the window
// opens or closes and when a wrong setup code is tried; the card shows
// the window with the time left and, prominently, how many wrong codes
// were tried: if the parents did not try them, someone on their network
// may be guessing the code. The warning stays after the window closes
// (in every tab, and after a reload: the pool keeps it; a dashboard
// started later hears it from the monitor when its session connects)
// until the next window opens; "That was me" hides it in one browser.
//
// # Security
//
// The dashboard on loopback (its default) is plain HTTP with no token.
// Beyond loopback it is HTTPS, with a certificate signed by the
// listener's own key, and needs the access token (128 random bits kept in
// STATE_DIR/dashboard/token): the printed URL carries it in its fragment,
// the page posts it to /api/session once and gets an HttpOnly, Secure,
// SameSite=Strict cookie holding a credential of that browser's own, not
// the token (browsers.go). The monitor's page is always HTTPS, with the
// monitor's identity key, and a phone signs in by pairing (devices.go).
// On both, on every request the Host header must name this server (the
// port may be left out on 443); every API call and every POST must come
// from the page's own origin and POSTs must be JSON; bodies are bounded
// (64 KiB); connections are bounded per source address, a stranger's are
// kept short, and room is kept for signed-in pages (see DefaultLimits).
// The page bounds the open event and audio streams (16) and the listens
// (16). No credential is ever logged: the log gets the dashboard's link
// without its token, and only the command's own output (cradlecli)
// prints the link with it.
//
// # Goroutines
//
// Serve owns all of them and stops them all before it returns:
//   - the HTTP server's accept loop and its connection goroutines
//     (net/http): when ctx ends, Serve cancels the requests' base context
//     (ending the event streams and audio streams), then Shutdown waits;
//   - per monitor, a pump that reads the session's subscription and fans
//     events out to the tabs: stopped by the pool's close, which cancels
//     its context and waits;
//   - each session's own goroutines (see listener.Session): stopped by
//     Session.Close in the pool's close, or when a monitor is forgotten;
//   - the relay's peer connections: stopped by Relay.Close;
//   - per talk (and per phone's listen on the monitor's host), a drain
//     reading its control connection (connRelay): it ends when the talk's
//     context ends or the monitor closes the connection; Close waits.
//
// Each event stream is served on its request's goroutine, with its own
// queue (a media/fanout subscription it reads with Next). A tab that
// falls behind loses its oldest status events, never a presence, alarm,
// noise, chime, stream, listen or pairing change.
//
// # Locks
//
// The session pool (one listener.Session per monitor, shared by the
// tabs) never holds its lock while it calls into a session: a session
// that is slow, or that calls back, cannot stall the other tabs, their
// event streams or the other monitors. See sessionPool.
package page
