// Cradle dashboard: listening (loaded after app.js, whose state, debug,
// api, render and cardOf it uses). Plain JavaScript, no build step.
'use strict';

// ---- listening ----
//
// A listen moves through phases: 'starting' (connecting, or waiting for
// the first sound), 'playing', 'stalled' (it played, and then no sound
// arrived), 'blocked' (the browser refused to play: the parent taps) and
// 'failed' (a sentence saying what to do). The card says "listening"
// only in 'playing', which only the watcher below sets: media events
// alone cannot be trusted (a WebKit without WebRTC, a stream that never
// starts, a remote track that plays silence), so it samples the player
// and trusts only its time advancing, unmuted, and, over WebRTC, audio
// packets arriving.

const WATCH_MS = 500;       // how often the watcher samples each player
const NO_SOUND_MS = 10000;  // starting this long without sound: WebRTC falls back, the stream says so
const PAGE_ALARM_MS = 4000; // the monitor's page: heard, then nothing this long: the page sounds the alarm

// hasWebRTC tells whether this browser can receive WebRTC (Debian's
// WebKitGTK, for one, is built without it).
function hasWebRTC() {
  return typeof window.RTCPeerConnection === 'function';
}

// soundAdvanced says whether sound played between two samples of a
// player: it plays unmuted, its time advanced, and (over WebRTC) audio
// packets arrived. Pure: the watcher takes the samples.
function soundAdvanced(prev, now) {
  if (!prev || now.paused || now.muted || now.volume === 0) return false;
  if (!(now.t > prev.t + 0.05)) return false;
  return now.packets === null || now.packets > prev.packets;
}

function listenStatus(l) {
  switch (l.phase) {
    case 'playing': return l.mode === 'night' ? 'Night mode: listening. Lock the phone; it sounds the alarm if it stops hearing the monitor.' : l.mode === 'ogg' ? 'Listening (continuous stream, a few seconds behind).' : 'Listening.';
    case 'stalled': return 'No sound is arriving from the monitor: waiting for it…';
    case 'blocked': return 'The browser blocked the sound: tap the yellow button to hear the nursery.';
    case 'failed': return l.problem;
    default: return l.problem || 'Starting…';
  }
}

// sentenceFor turns anything thrown while starting to listen into a
// sentence for a parent: the listener's own problems carry one; a
// browser's exception ("Can't find variable: …") is never shown.
function sentenceFor(e) {
  if (e && e.sentence) return problemText(e);
  return 'Sound could not start in this browser. Press Listen to try again, or open this page in another browser.';
}

function setPhase(id, l, phase, problem) {
  if (state.listening.get(id) !== l) return;
  if ((phase === 'stalled' || phase === 'failed') && l.phase !== 'stalled' && l.phase !== 'failed') l.quietSince = Date.now();
  if (phase === 'playing') { l.quietSince = 0; l.heard = true; }
  l.phase = phase;
  if (problem !== undefined) l.problem = problem;
  if (phase === 'playing' || phase === 'starting') l.since = Date.now();
  if (phase === 'playing') clearPageAlarm(id);
  render(id);
}

// The monitor's own page has no listener behind it to raise the alarm
// (the monitor cannot tell that it is gone): the page does, when a
// listen that played hears nothing for PAGE_ALARM_MS, whatever failed
// (the monitor, its microphone, the Wi-Fi, this phone's link). It clears
// when sound plays again; Acknowledge silences it, the banner stays.
function checkPageAlarm(id, l, now) {
  if (state.session.host !== 'monitor' || l.mode === 'night' || !l.heard || !l.quietSince || now - l.quietSince < PAGE_ALARM_MS) return;
  const v = state.monitors.get(id);
  if (!v || (v.alarm && v.alarm.active)) return;
  v.alarm = { active: true, reason: 'audio lost', since: new Date(l.quietSince).toISOString(), sounding: true, acknowledged: false, local: true };
  render(id);
  updateAlarmSound();
}

function clearPageAlarm(id) {
  const v = state.monitors.get(id);
  if (!v || !v.alarm || !v.alarm.local) return;
  v.alarm = { active: false, reason: 'none', sounding: false, acknowledged: false };
  render(id);
  updateAlarmSound();
}

async function startListening(id, video) {
  const prev = state.listening.get(id);
  if (prev) teardown(id, prev);
  const l = { video, phase: 'starting', problem: '', since: Date.now(), last: null, stalls: 0 };
  state.listening.set(id, l);
  render(id);
  try {
    await api('POST', `/api/monitors/${encodeURIComponent(id)}/listen`, { tab: state.tab, video });
    if (state.listening.get(id) !== l) return;
    const ogg = !!state.session.ogg;
    if (hasWebRTC() && (state.session.relay || !ogg)) {
      try {
        await startWebRTC(id, l);
        return;
      } catch (e) {
        if (state.listening.get(id) !== l) return;
        if (!ogg) throw e;
        dropWebRTC(id, l);
      }
    }
    if (!ogg) {
      throw Object.assign(new Error('This browser cannot receive live sound (it has no WebRTC), and this listener has no sound stream.'),
        { sentence: true, action: 'Open the page in Chrome or Firefox, or use cradle listen in a terminal.' });
    }
    startOgg(id, l);
  } catch (e) {
    if (state.listening.get(id) !== l) return;
    setPhase(id, l, 'failed', sentenceFor(e));
    if (e.code !== 'relay_unavailable') toast(sentenceFor(e));
  }
}

async function startWebRTC(id, l) {
  const card = cardOf(id);
  const player = card.querySelector('audio[data-role="player"]');
  const video = card.querySelector('video[data-role="video"]');
  const pc = new RTCPeerConnection({ iceServers: [] });
  l.pc = pc;
  l.mode = 'webrtc';
  debug.pcs[id] = pc;
  pc.addTransceiver('audio', { direction: 'recvonly' });
  if (l.video) pc.addTransceiver('video', { direction: 'recvonly' });
  pc.ontrack = (ev) => {
    const stream = ev.streams[0] || new MediaStream([ev.track]);
    if (ev.track.kind === 'video') {
      video.srcObject = stream;
      video.muted = true; // its sound plays through the audio player
      video.play().catch(() => {});
    } else {
      player.srcObject = stream;
      playChecked(id, player);
    }
  };
  pc.onconnectionstatechange = () => {
    if (state.listening.get(id) !== l || l.pc !== pc) return;
    if (pc.connectionState === 'failed') fallBack(id, l);
  };
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  // No wait for ICE gathering: the relay answers with its own host
  // candidates and learns the browser's address from its connectivity
  // checks (peer-reflexive), the way browsers hide their addresses anyway.
  const res = await api('POST', `/api/monitors/${encodeURIComponent(id)}/offer`, { tab: state.tab, sdp: pc.localDescription.sdp, video: l.video });
  if (state.listening.get(id) !== l) return;
  await pc.setRemoteDescription({ type: 'answer', sdp: res.sdp });
}

function dropWebRTC(id, l) {
  if (l.pc) l.pc.close();
  if (debug.pcs[id] === l.pc) delete debug.pcs[id];
  l.pc = null;
}

// fallBack leaves a WebRTC listen that failed or stayed silent for the
// continuous stream, where the listener serves one.
function fallBack(id, l) {
  dropWebRTC(id, l);
  if (!state.session.ogg) {
    setPhase(id, l, 'failed', 'The live connection to the monitor failed. Press Listen to try again.');
    return;
  }
  startOgg(id, l);
}

// startOgg plays the continuous Ogg/Opus stream (a few seconds behind,
// but it keeps playing on a locked phone, and WebKit plays it).
function startOgg(id, l) {
  const player = cardOf(id).querySelector('audio[data-role="player"]');
  l.mode = 'ogg';
  l.last = null;
  setPhase(id, l, 'starting', l.video ? 'Starting… (sound only: video needs WebRTC)' : '');
  player.srcObject = null;
  player.src = `/api/monitors/${encodeURIComponent(id)}/audio.ogg?t=${Date.now()}`;
  player.onerror = () => {
    if (state.listening.get(id) !== l) return;
    const code = player.error && player.error.code;
    setPhase(id, l, 'failed', code === 4
      ? 'This browser cannot play the monitor\'s sound stream. Open the page in another browser.'
      : 'The sound stream from the listener stopped. Press Listen to try again.');
  };
  playChecked(id, player);
}

// watch samples every listening player: only sound advancing makes a
// card "listening"; a listen that stays silent says so, and WebRTC that
// stays silent falls back to the stream.
async function watch() {
  const now = Date.now();
  debug.watchTicks = (debug.watchTicks || 0) + 1;
  for (const [id, l] of [...state.listening]) {
    const card = cardOf(id);
    if (card) checkPageAlarm(id, l, now);
    if (!card || l.sampling || l.phase === 'failed') continue;
    if (talkMuted(id)) { l.last = null; continue; } // talk.js: muted while the parent talks, not silent
    const player = card.querySelector('audio[data-role="player"]');
    const s = { t: player.currentTime, paused: player.paused, muted: player.muted, volume: player.volume, packets: null };
    if (l.mode === 'webrtc') {
      l.sampling = true;
      s.packets = await inboundPackets(l.pc);
      l.sampling = false;
      if (state.listening.get(id) !== l) continue;
    }
    const advanced = soundAdvanced(l.last, s);
    l.last = s;
    if (advanced) {
      l.stalls = 0;
      if (l.phase !== 'playing') { hideTap(id); setPhase(id, l, 'playing', ''); }
      continue;
    }
    if (l.phase === 'playing' && ++l.stalls >= 2) setPhase(id, l, 'stalled');
    if (l.phase === 'starting' && now - l.since > NO_SOUND_MS) {
      if (l.mode === 'webrtc' && state.session.ogg) fallBack(id, l);
      else if (!l.problem) setPhase(id, l, 'starting', 'No sound has arrived yet. Check that the monitor is on, or press Stop and Listen to try again.');
    }
  }
}
setInterval(watch, WATCH_MS);

async function inboundPackets(pc) {
  if (!pc) return 0;
  let n = 0;
  try {
    (await pc.getStats()).forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'audio') n += r.packetsReceived || 0; });
  } catch (e) { /* closed meanwhile: no packets */ }
  return n;
}

// playChecked starts a player with sound and asks for a tap when the
// browser blocks it (play() rejected, or the element stays paused or
// muted): never play silently.
function playChecked(id, player) {
  player.muted = talkMuted(id); // talk.js: muted while the parent talks
  player.volume = 1;
  let p;
  try { p = player.play(); } catch (e) { needTap(id); return; }
  const check = () => { if (player.paused || (player.muted && !talkMuted(id))) needTap(id); else hideTap(id); };
  if (p && p.then) p.then(check, (e) => { if (!e || e.name === 'NotAllowedError') needTap(id); }); else check();
}

function needTap(id) {
  const l = state.listening.get(id);
  if (!l || l.phase === 'failed') return;
  const card = cardOf(id);
  if (!card) return;
  card.querySelector('[data-action="tap"]').hidden = false;
  card.dataset.blocked = 'true';
  setPhase(id, l, 'blocked');
}

function hideTap(id) {
  const card = cardOf(id);
  if (!card) return;
  card.querySelector('[data-action="tap"]').hidden = true;
  delete card.dataset.blocked;
  const l = state.listening.get(id);
  if (l && l.phase === 'blocked') setPhase(id, l, 'starting', '');
}

function tapToPlay(id) {
  const player = cardOf(id).querySelector('audio[data-role="player"]');
  playChecked(id, player);
  updateAlarmSound();
}

function teardown(id, l) {
  dropWebRTC(id, l);
  const card = cardOf(id);
  if (!card) return;
  const player = card.querySelector('audio[data-role="player"]');
  player.onplaying = player.onerror = null;
  player.pause();
  player.srcObject = null;
  player.removeAttribute('src');
  player.load();
  const video = card.querySelector('video[data-role="video"]');
  video.srcObject = null;
  card.querySelector('[data-action="tap"]').hidden = true;
  delete card.dataset.blocked;
}
