// Cradle page: night mode (loaded after listen.js, whose listening state,
// setPhase, playChecked and teardown it uses). Plain JavaScript.
'use strict';

// ---- night mode ----
//
// For a phone on the night table, screen locked. One tap starts:
//   - the night stream (night.mp3: endless MP3, which every phone engine
//     plays with the screen locked) in the card's <audio> element, with
//     Media Session metadata and the screen wake lock where offered;
//   - an alarm that does not depend on this page's timers: a Web Audio
//     graph started by the same tap, which plays an inaudible keep-alive
//     all night and holds the alarm scheduled on the audio clock a few
//     seconds ahead (a dead man's switch). Every sign of life pushes it
//     back: the stream's time advancing (timeupdate events) and the
//     server's events (its beat every second). When either stops, nothing
//     pushes it and it sounds from audio that is already running, even
//     with the page hidden and its timers throttled to one a minute. It
//     repeats until a tap acknowledges it or life returns.
//   - The monitor's own alarms (its microphone, its sound) are inside the
//     stream, and on the card.
//
// Close to live: Chromium plays a progressive stream some 32 KiB behind
// what arrived; the server sends 320 kbit/s so that is about 1 s, and the
// page plays slightly faster (1.15×, pitch kept) while more than half a
// second is buffered ahead, so it stays close to live all night (the two
// clocks drift apart otherwise).

const NIGHT_STALL_S = 3.5;   // the stream's time stands still this long after it played: alarm
const NIGHT_SILENT_S = 3.5;  // no event from the server for this long: alarm
const NIGHT_REMINDER_MS = 5 * 60 * 1000; // an acknowledged alarm sounds again after this, if life has not returned
const NIGHT_AHEAD_S = 0.45;  // buffered ahead beyond this (its minimum over 2 s): play faster
const NIGHT_RATE = 1.15;

// nightGraph is the one Web Audio graph (created by a tap: browsers start
// audio only after one).
let nightGraph = null;

function makeNightGraph() {
  if (nightGraph) return nightGraph;
  const AC = window.AudioContext || window.webkitAudioContext;
  if (!AC) return null;
  // iPhone: keep Web Audio running with the screen locked (Safari 16.4+).
  try { if (navigator.audioSession) navigator.audioSession.type = 'playback'; } catch (e) { /* not offered */ }
  const ctx = new AC();
  // The alarm's sound runs all the time, silent behind two gains: 1000 and
  // 1500 Hz in turn, a quarter second each, switched by a 2 Hz square
  // wave on the audio thread (no automation to renew, no timer).
  const tone = (hz) => { const o = ctx.createOscillator(); o.type = 'square'; o.frequency.value = hz; return o; };
  const lo = tone(1000);
  const hi = tone(1500);
  const lfo = tone(2);
  const loGain = ctx.createGain();
  const hiGain = ctx.createGain();
  loGain.gain.value = 0.25; // 0.25 + 0.25 × the square wave: 0 or 0.5
  hiGain.gain.value = 0.25;
  const invert = ctx.createGain();
  invert.gain.value = -1;
  lfo.connect(loGain.gain);
  lfo.connect(invert).connect(hiGain.gain);
  const pattern = ctx.createGain();
  lo.connect(loGain).connect(pattern);
  hi.connect(hiGain).connect(pattern);
  // The dead man's switch: 0 until the deadline, then the alarm.
  const alarm = ctx.createGain();
  alarm.gain.value = 0;
  pattern.connect(alarm).connect(ctx.destination);
  // Test the alarm: the same sound, its own gain.
  const test = ctx.createGain();
  test.gain.value = 0;
  pattern.connect(test).connect(ctx.destination);
  // The keep-alive: a 200 Hz hum at -70 dBFS, inaudible, that keeps the
  // graph (and on a phone its audio session) alive all night.
  const keep = tone(200);
  keep.type = 'sine';
  const keepGain = ctx.createGain();
  keepGain.gain.value = 0.0003;
  keep.connect(keepGain).connect(ctx.destination);
  for (const o of [lo, hi, lfo, keep]) o.start();
  nightGraph = { ctx, alarm, test, armedAt: 0 };
  debug.nightGraph = nightGraph;
  return nightGraph;
}

// armAlarm sets the alarm to sound from audio time at on, until the next
// armAlarm or disarm: every sign of life moves it (two automation events).
function armAlarm(at) {
  const g = nightGraph;
  if (!g) return;
  const now = g.ctx.currentTime;
  at = Math.max(at, now);
  const p = g.alarm.gain;
  p.cancelScheduledValues(now);
  p.setValueAtTime(0, now);
  p.setValueAtTime(1, at);
  g.armedAt = at;
}

// disarm silences the alarm until the next armAlarm.
function disarm() {
  const g = nightGraph;
  if (!g) return;
  const now = g.ctx.currentTime;
  g.alarm.gain.cancelScheduledValues(now);
  g.alarm.gain.setValueAtTime(0, now);
  g.armedAt = 0;
}

// nightLife is called for every sign of life: it pushes the alarm back to
// the earliest of the two deadlines, unless the alarm was acknowledged.
function nightLife(n) {
  const g = nightGraph;
  if (!g || state.night !== n) return;
  const ctxNow = g.ctx.currentTime;
  const wall = performance.now() / 1000;
  // Deadlines in audio time, from the page's clock.
  const progress = n.progressAt ? n.progressAt / 1000 + NIGHT_STALL_S : Infinity;
  const heard = n.heardAt ? n.heardAt / 1000 + NIGHT_SILENT_S : Infinity;
  const due = Math.min(progress, heard);
  if (!isFinite(due)) return; // not playing yet: nothing to miss
  const at = ctxNow + (due - wall);
  if (n.alarming) {
    // It sounds (or was acknowledged): life has returned once both are fresh.
    if (due - wall > 1) nightClear(n);
    return;
  }
  if (n.acked && Date.now() < n.acked) return;
  armAlarm(at);
}

// nightCheck runs from a timer (throttled when hidden: the sound does not
// wait for it): it shows the alarm the audio clock is already sounding,
// keeps its pattern scheduled, and keeps the stream close to live.
function nightCheck() {
  const n = state.night;
  const g = nightGraph;
  if (!n || !g) return;
  const nowWall = performance.now() / 1000;
  const t = g.ctx.currentTime;
  if (g.armedAt && t >= g.armedAt && !n.alarming) nightAlarm(n);
  if (n.alarming && n.ackedNow && n.acked && Date.now() >= n.acked) {
    // The reminder: still nothing heard after NIGHT_REMINDER_MS.
    n.ackedNow = false;
    n.acked = 0;
    armAlarm(t);
    const v = state.monitors.get(n.id);
    if (v && v.alarm && v.alarm.night) Object.assign(v.alarm, { sounding: true, acknowledged: false });
    render(n.id);
  }
  // The stream stalled for good (its connection ended or hangs): try
  // again every few seconds while the alarm sounds.
  const player = nightPlayer(n);
  if (player && n.alarming && nowWall - (n.retriedAt || 0) > 5) {
    n.retriedAt = nowWall;
    n.lastTime = 0; // a new stream's time starts again
    player.src = nightURL(n.id);
    player.play().catch(() => {});
  }
  // Progress seen from here too: timeupdate is a media event, and media
  // events are not trusted alone.
  if (player && player.currentTime > n.lastTime + 0.05) {
    n.lastTime = player.currentTime;
    n.progressAt = performance.now();
  }
  catchUp(n, player);
  nightLife(n);
}
setInterval(nightCheck, 500);

function nightPlayer(n) {
  const card = cardOf(n.id);
  return card && card.querySelector('audio[data-role="player"]');
}

function nightURL(id) {
  return `/api/monitors/${encodeURIComponent(id)}/night.mp3?t=${Date.now()}`;
}

// catchUp plays a little faster while more than NIGHT_AHEAD_S is
// buffered ahead (its minimum over 2 s: Chromium's buffer fills in
// blocks), so the night stream stays about a second behind live.
function catchUp(n, player) {
  if (!player || !player.buffered || !player.buffered.length) return;
  const ahead = player.buffered.end(player.buffered.length - 1) - player.currentTime;
  const now = performance.now();
  n.aheads = (n.aheads || []).filter((a) => now - a[0] < 2000);
  n.aheads.push([now, ahead]);
  const min = Math.min(...n.aheads.map((a) => a[1]));
  n.ahead = ahead;
  const rate = n.aheads.length >= 3 && min > NIGHT_AHEAD_S ? NIGHT_RATE : 1;
  if (player.playbackRate !== rate) {
    player.preservesPitch = true;
    player.playbackRate = rate;
  }
}

// nightAlarm shows the alarm the audio clock started.
function nightAlarm(n) {
  n.alarming = true;
  const v = state.monitors.get(n.id);
  const stalled = n.progressAt && performance.now() / 1000 - n.progressAt / 1000 >= NIGHT_STALL_S;
  if (v) {
    v.alarm = { active: true, reason: stalled ? 'audio lost' : 'link lost', since: new Date().toISOString(), sounding: true, acknowledged: false, local: true, night: true };
    render(n.id);
  }
  setMediaTitle(n, 'ALARM: cannot hear the nursery');
  debug.nightAlarms = (debug.nightAlarms || 0) + 1;
}

// nightClear: sound and the server are back.
function nightClear(n) {
  n.alarming = false;
  n.ackedNow = false;
  n.acked = 0;
  disarm();
  const v = state.monitors.get(n.id);
  if (v && v.alarm && v.alarm.night) {
    v.alarm = { active: false, reason: 'none', sounding: false, acknowledged: false };
    render(n.id);
  }
  setMediaTitle(n, 'listening');
}

// nightAck: a tap silences the page's alarm until life returns, or for
// NIGHT_REMINDER_MS.
function nightAck(id) {
  const n = state.night;
  if (!n || n.id !== id || !n.alarming) return false;
  disarm();
  n.ackedNow = true;
  n.acked = Date.now() + NIGHT_REMINDER_MS;
  const v = state.monitors.get(id);
  if (v && v.alarm && v.alarm.night) {
    v.alarm.sounding = false;
    v.alarm.acknowledged = true;
    render(id);
  }
  return true;
}

function setMediaTitle(n, what) {
  if (!('mediaSession' in navigator) || typeof MediaMetadata !== 'function') return;
  const v = state.monitors.get(n.id);
  navigator.mediaSession.metadata = new MediaMetadata({ title: `${v ? v.name : 'Nursery'}: ${what}`, artist: 'Cradle baby monitor' });
}

// startNight is the tap on Night mode.
async function startNight(id) {
  const prev = state.listening.get(id);
  if (prev) teardown(id, prev);
  if (state.night) stopNight();
  const g = makeNightGraph();
  if (g && g.ctx.state !== 'running') g.ctx.resume().catch(() => {});
  const l = { video: false, phase: 'starting', problem: '', since: Date.now(), last: null, stalls: 0, mode: 'night' };
  state.listening.set(id, l);
  const n = { id, l, progressAt: 0, heardAt: performance.now(), lastTime: 0 };
  state.night = n;
  debug.night = n;
  const player = cardOf(id).querySelector('audio[data-role="player"]');
  player.srcObject = null;
  player.src = nightURL(id);
  player.ontimeupdate = () => {
    if (state.night !== n) return;
    if (player.currentTime > n.lastTime + 0.05) {
      n.lastTime = player.currentTime;
      n.progressAt = performance.now();
      nightLife(n);
    }
  };
  player.onloadstart = () => { if (state.night === n) n.lastTime = 0; };
  player.onerror = () => {
    if (state.night !== n) return;
    if (player.error && player.error.code === 4) setPhase(id, l, 'failed', 'This browser cannot play the night stream. Open the page in another browser.');
  };
  playChecked(id, player); // in the tap: the browser allows sound
  setMediaTitle(n, 'listening');
  if ('mediaSession' in navigator) {
    try {
      navigator.mediaSession.playbackState = 'playing';
      // Pause on the lock screen is the parent's choice: night mode ends.
      navigator.mediaSession.setActionHandler('pause', () => stopListening(id));
      navigator.mediaSession.setActionHandler('stop', () => stopListening(id));
    } catch (e) { /* an action this browser does not offer */ }
  }
  keepAwake(n);
  render(id);
  try {
    await api('POST', `/api/monitors/${encodeURIComponent(id)}/listen`, { tab: state.tab, video: false });
  } catch (e) {
    if (state.night === n && e.code !== 'tab_gone') toast(problemText(e));
  }
}

// keepAwake holds the screen wake lock while night mode runs (where the
// browser offers it), and takes it again when the page comes back.
async function keepAwake(n) {
  if (!('wakeLock' in navigator) || state.night !== n || document.visibilityState !== 'visible') return;
  try {
    n.wakeLock = await navigator.wakeLock.request('screen');
  } catch (e) { /* refused (battery saver): the stream plays on anyway */ }
}
document.addEventListener('visibilitychange', () => {
  debug.visibility = (debug.visibility || []).concat([document.visibilityState]).slice(-20);
  if (state.night && document.visibilityState === 'visible') keepAwake(state.night);
});

// stopNight ends night mode (Stop, or another listen on the card).
function stopNight() {
  const n = state.night;
  if (!n) return;
  state.night = null;
  disarm();
  if (n.wakeLock) n.wakeLock.release().catch(() => {});
  const player = nightPlayer(n);
  if (player) { player.ontimeupdate = player.onloadstart = null; player.playbackRate = 1; }
  const v = state.monitors.get(n.id);
  if (v && v.alarm && v.alarm.night) v.alarm = { active: false, reason: 'none', sounding: false, acknowledged: false };
  if ('mediaSession' in navigator) {
    try { navigator.mediaSession.playbackState = 'none'; navigator.mediaSession.metadata = null; } catch (e) { /* not offered */ }
  }
}

// nightHeard: every event from the server is a sign of life (app.js).
function nightHeard() {
  const n = state.night;
  if (!n) return;
  n.heardAt = performance.now();
  nightLife(n);
}

// nightTestAlarm: Test the alarm, in night mode, sounds through the same
// graph the real alarm would use, for 3 s.
function nightTestAlarm() {
  const g = makeNightGraph();
  if (!g) return false;
  if (g.ctx.state !== 'running') g.ctx.resume().catch(() => {});
  const t = g.ctx.currentTime;
  g.test.gain.cancelScheduledValues(t);
  g.test.gain.setValueAtTime(1, t);
  g.test.gain.setValueAtTime(0, t + 3);
  return true;
}
