// Cradle dashboard: plain JavaScript, no build step, no network beyond
// this listener. State lives in `state`; every server event updates it
// and re-renders the monitor's card. window.cradleDebug exposes the
// pieces tests drive (peer connections, players, state).
'use strict';

const state = {
  tab: null,            // this tab's id (from the event stream's hello)
  session: {},          // GET /api/session
  monitors: new Map(),  // id -> view (see the server's monitorView)
  listening: new Map(), // id -> {video, pc, mode: 'webrtc'|'ogg'|'night', status}
  night: null,          // night mode (night.js), while it runs
  lastNotice: new Map(),
  pairingBusy: new Set(), // ids whose Add a phone or Stop pairing is on its way
  dismissed: new Map(),   // id -> the wrong-code warning dismissed here (when localStorage is off)
};

const debug = { pcs: {}, players: {}, state, tab: () => state.tab, events: [] };
window.cradleDebug = debug;

const $ = (sel, root = document) => root.querySelector(sel);

// api calls the listener; a failure throws an Error carrying the
// server's problem (code, message, action).
async function api(method, path, body) {
  const opt = { method, credentials: 'same-origin', headers: {} };
  if (body !== undefined) {
    opt.headers['Content-Type'] = 'application/json';
    opt.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, opt);
  } catch (e) {
    throw Object.assign(new Error('The listener did not answer.'), { code: 'offline', sentence: true, action: 'Check that cradle dashboard still runs on the computer.' });
  }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    throw Object.assign(new Error(data.message || `The listener refused (${res.status}).`), { sentence: true, code: data.code || String(res.status), action: data.action || '', status: res.status });
  }
  return data;
}

function problemText(p) {
  return p.action ? `${p.message} ${p.action}` : p.message;
}

function toast(text) {
  const t = document.createElement('div');
  t.className = 'toast';
  t.textContent = text;
  $('#toasts').append(t);
  setTimeout(() => t.remove(), 8000);
}

// ---- sign in and the event stream ----

async function start() {
  const m = location.hash.match(/token=([0-9a-f]+)/i);
  if (m) {
    try { await api('POST', '/api/session', { token: m[1] }); } catch (e) { /* shown below */ }
    history.replaceState(null, '', location.pathname + location.search);
  }
  try {
    state.session = await api('GET', '/api/session');
  } catch (e) {
    $('#connection').textContent = e.message;
    return;
  }
  const onMonitor = state.session.host === 'monitor';
  document.body.dataset.host = onMonitor ? 'monitor' : 'listener';
  if (onMonitor) document.title = 'Cradle: the nursery';
  if (!state.session.signed_in) {
    if (onMonitor) {
      showPhonePairing(); // phones.js
      return;
    }
    $('#signin').hidden = false;
    $('#connection').textContent = 'Not signed in.';
    return;
  }
  if (onMonitor) {
    $('#pairing').hidden = true;
    showPhones(); // phones.js
  } else if (!state.session.loopback) {
    // The dashboard beyond loopback: this browser's own credential can be
    // given up here (--new-token signs every browser out).
    $('#signout').hidden = false;
    $('#signout').onclick = async () => {
      if (!confirm('Sign this browser out? It will need the link that cradle dashboard printed to sign in again.')) return;
      try { await api('POST', '/api/session/signout', {}); location.reload(); } catch (e) { toast(problemText(e)); }
    };
  }
  $('#discovery').hidden = !state.session.discovery;
  setupAlarmTest();
  setupNotifications();
  connect();
}

function connect() {
  const es = new EventSource('/api/events');
  debug.eventSource = es;
  es.onopen = () => { $('#connection').textContent = state.session.host === 'monitor' ? 'Connected to the monitor.' : 'Connected to the listener.'; };
  es.onerror = () => {
    $('#connection').textContent = state.session.host === 'monitor' ? 'Connection to the monitor lost: reconnecting…' : 'Connection to the listener lost: reconnecting…';
    linkLost(); // what the page showed is no longer known to be true
    if (state.session.host === 'monitor') checkStillPaired(es); // phones.js
  };
  es.onmessage = (msg) => {
    state.lastEventAt = Date.now();
    nightHeard(); // night.js: the server is alive
    let ev;
    try { ev = JSON.parse(msg.data); } catch (e) { return; }
    debug.events.push(ev.type);
    if (debug.events.length > 200) debug.events.shift();
    onEvent(ev);
  };
}

// linkLost: the page no longer hears its server, so it does not know the
// monitor's presence either: every card says connecting until the next
// snapshot says what is true.
function linkLost(presence = 'connecting') {
  for (const [id, v] of state.monitors) {
    if (v.presence === 'online' || v.presence === 'connecting') v.presence = presence;
    render(id);
  }
}

// On the monitor's own page the card's status arrives five times a second
// while the monitor runs: a page that heard nothing for 2.5 s (the monitor
// frozen, a half-dead Wi-Fi link that never errors, in either direction)
// shows the monitor offline, as the heartbeat would (its rule: 3.25 s;
// this leaves room for a cut phone's own packets, which the monitor's TCP
// still answers for a moment), and starts its event stream again.
const SILENT_LINK_MS = 2500;
setInterval(() => {
  const es = debug.eventSource;
  if (state.session.host !== 'monitor' || !es || es.readyState === EventSource.CLOSED || !state.lastEventAt) return;
  if (Date.now() - state.lastEventAt < SILENT_LINK_MS) return;
  state.lastEventAt = 0;
  $('#connection').textContent = 'No news from the monitor: reconnecting…';
  linkLost('offline');
  es.close();
  connect();
}, 250);

function onEvent(ev) {
  const v = ev.monitor && state.monitors.get(ev.monitor);
  switch (ev.type) {
    case 'hello': {
      const old = state.tab;
      state.tab = ev.tab;
      if (old && old !== ev.tab) relisten(); // the listener forgot the old tab's listens
      break;
    }
    case 'snapshot': {
      const old = state.monitors;
      state.monitors = new Map((ev.monitors || []).map((m) => [m.id, m]));
      // The page's own alarm (listen.js) is not the server's to clear.
      for (const [id, m] of state.monitors) {
        const o = old.get(id);
        if (o && o.alarm && o.alarm.local && !(m.alarm && m.alarm.active)) m.alarm = o.alarm;
      }
      for (const m of state.monitors.values()) {
        if (m.pairing) m.pairing = withDeadline(m.pairing);
        if (m.sound) m.sound = withSoundDeadline(m.sound); // soothe.js
      }
      syncCards();
      break;
    }
    case 'presence':
      if (!v) return;
      Object.assign(v, { presence: ev.presence, at: ev.at, address: ev.address, rtt_ms: ev.rtt_ms || 0, last_seen: ev.last_seen, error: ev.error || null });
      render(ev.monitor);
      break;
    case 'status':
      if (!v) return;
      v.status = ev.status;
      if (ev.rtt_ms) v.rtt_ms = ev.rtt_ms;
      if (ev.last_seen) v.last_seen = ev.last_seen;
      render(ev.monitor);
      break;
    case 'noise':
      if (!v) return;
      v.noises = (v.noises || []).concat([ev.at]).slice(-10);
      render(ev.monitor);
      notifyNoise(v);
      break;
    case 'chime':
      if (v) notifyNoise(v);
      break;
    case 'alarm':
      if (!v) return;
      if (v.alarm && v.alarm.local && !(ev.alarm && ev.alarm.active)) return; // the page's own
      v.alarm = ev.alarm;
      render(ev.monitor);
      updateAlarmSound();
      break;
    case 'stream':
      if (!v) return;
      v.stream_state = ev.state;
      render(ev.monitor);
      break;
    case 'listen':
      if (!v) return;
      v.stream = ev.stream;
      render(ev.monitor);
      break;
    case 'pairing':
      if (v) applyPairing(v, ev.pairing);
      break;
    case 'sound':
      if (v) applySound(v, ev.sound); // soothe.js
      break;
    case 'talk':
      if (v) applyTalk(v, ev.talk); // talk.js
      break;
    case 'device':
      onDeviceAdded(ev); // phones.js
      break;
    case 'devices':
      if (state.session.host === 'monitor') loadPhones(); // phones.js
      break;
  }
}

// ---- cards ----

function cardOf(id) {
  return document.querySelector(`.card[data-monitor="${CSS.escape(id)}"]`);
}

function syncCards() {
  const root = $('#monitors');
  for (const card of root.querySelectorAll('.card')) {
    if (!state.monitors.has(card.dataset.monitor)) {
      stopLocal(card.dataset.monitor);
      card.remove();
    }
  }
  for (const id of state.monitors.keys()) {
    if (!cardOf(id)) root.append(makeCard(id));
    render(id);
  }
  $('#no-monitors').hidden = state.monitors.size > 0;
  updateAlarmSound();
}

function makeCard(id) {
  const card = $('#card-template').content.firstElementChild.cloneNode(true);
  card.dataset.monitor = id;
  card.id = 'card-' + id;
  const name = card.querySelector('[data-field="name"]');
  name.id = 'name-' + id;
  card.setAttribute('aria-labelledby', name.id);
  card.querySelector('[data-action="listen"]').onclick = () => startListening(id, false);
  card.querySelector('[data-action="video"]').onclick = () => startListening(id, true);
  card.querySelector('[data-action="stop"]').onclick = () => stopListening(id);
  card.querySelector('[data-action="night"]').onclick = () => startNight(id);
  card.querySelector('[data-action="ack"]').onclick = () => acknowledge(id);
  card.querySelector('[data-action="tap"]').onclick = () => tapToPlay(id);
  card.querySelector('[data-action="forget"]').onclick = () => forget(id);
  card.querySelector('[data-action="open-pairing"]').onclick = () => setPairing(id, true);
  card.querySelector('[data-action="close-pairing"]').onclick = () => setPairing(id, false);
  card.querySelector('[data-action="dismiss-warning"]').onclick = () => dismissWarning(id);
  const details = card.querySelector('[data-field="details"]');
  details.addEventListener('toggle', () => { if (details.open) loadInfo(id); });
  histSetup(card, id); // history.js: the night at a glance
  soundSetup(card, id); // soothe.js: soothing sounds
  talkSetup(card, id); // talk.js: hold to talk
  const player = card.querySelector('audio[data-role="player"]');
  player.addEventListener('pause', () => { if (state.listening.has(id) && !player.ended) needTap(id); });
  player.addEventListener('volumechange', () => { if (state.listening.has(id) && player.muted && !talkMuted(id)) needTap(id); });
  debug.players[id] = player;
  return card;
}

function cardState(id) {
  const v = state.monitors.get(id);
  if (v.alarm && v.alarm.active) return 'alarm';
  if (v.presence !== 'online') return 'offline';
  const l = state.listening.get(id);
  if (l && l.phase === 'playing') return 'listening';
  return 'online';
}

// levelWord says the nursery's sound in a parent's words: the monitor's
// noise detector decides "Crying level"; the level, quiet or some sound.
// The number itself (dBFS) is under Details.
function levelWord(st) {
  if (st.noise) return 'Crying level';
  return st.rms_dbfs >= -45 ? 'Some sound' : 'Quiet';
}

function ago(t) {
  if (!t) return '';
  const s = Math.max(0, Math.round((Date.now() - new Date(t).getTime()) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return new Date(t).toLocaleString();
}

function render(id) {
  const v = state.monitors.get(id);
  const card = cardOf(id);
  if (!v || !card) return;
  const f = (name) => card.querySelector(`[data-field="${name}"]`);
  card.dataset.state = cardState(id);
  f('name').textContent = v.name || id;
  f('presence').textContent = v.presence === 'online' ? 'Online' : v.presence === 'connecting' ? 'Connecting…' : 'Offline';
  f('last-seen').textContent = v.last_seen ? `Last seen ${ago(v.last_seen)}.` : '';
  f('rtt').textContent = v.presence === 'online' && v.rtt_ms ? `Round trip ${v.rtt_ms.toFixed(1)} ms.` : '';
  // On the monitor's own page, the address to give another phone is this
  // page's (where .local names do not open, it is the monitor's address).
  f('address').textContent = state.session.host === 'monitor' ? `This page: ${location.origin}/ (open it on another phone on this Wi-Fi).`
    : v.address ? `Address ${v.address}.` : '';
  const prob = f('problem');
  prob.hidden = !(v.error && v.presence !== 'online');
  prob.textContent = v.error ? problemText(v.error) : '';

  const st = v.status;
  const meter = card.querySelector('.meter');
  if (st && v.presence !== 'online') {
    // An old level is not the nursery's now: say so, empty the meter.
    f('level').style.width = '0%';
    f('peak').style.left = '0%';
    f('level-word').textContent = 'No sound level: the monitor is not connected';
    f('level-word').dataset.level = 'none';
  } else if (st) {
    const pct = (db) => Math.max(0, Math.min(100, (db + 60) / 60 * 100));
    f('level').style.width = pct(st.rms_dbfs) + '%';
    f('peak').style.left = pct(st.peak_dbfs) + '%';
    meter.setAttribute('aria-valuenow', Math.round(Math.max(-60, st.rms_dbfs)));
    const word = levelWord(st);
    f('level-word').textContent = word;
    f('level-word').dataset.level = word === 'Crying level' ? 'crying' : word === 'Some sound' ? 'sound' : 'quiet';
    f('level-text').textContent = st.faults && st.faults.length ? `Microphone problem: ${st.faults.join(', ')}.` : '';
    f('dbfs').textContent = `Sound level ${st.rms_dbfs.toFixed(0)} dBFS (peak ${st.peak_dbfs.toFixed(0)}).`;
  }

  const a = v.alarm || {};
  f('alarm').hidden = !a.active;
  if (a.active) {
    const why = { 'link lost': 'the monitor went offline', 'audio lost': 'its sound stopped', 'microphone fault': 'its microphone does not work', 'access refused': 'it no longer accepts this device: pair it again' }[a.reason] || a.reason;
    f('alarm-text').textContent = `${v.name}: ${why}` + (a.since ? ` (since ${new Date(a.since).toLocaleTimeString()})` : '') + (a.acknowledged ? ' — acknowledged' : '');
    card.querySelector('[data-action="ack"]').hidden = !!a.acknowledged && !a.sounding;
  }

  const l = state.listening.get(id);
  card.querySelector('[data-action="listen"]').disabled = !!l && !l.video;
  card.querySelector('[data-action="video"]').disabled = !!l && l.video;
  card.querySelector('[data-action="stop"]').disabled = !l;
  card.querySelector('[data-action="night"]').disabled = !!l && l.mode === 'night';
  card.querySelector('[data-action="night"]').hidden = !state.session.night;
  card.querySelector('video[data-role="video"]').hidden = !(l && l.video);
  f('listen-status').textContent = l ? listenStatus(l) : '';
  card.dataset.listen = l ? l.phase : '';

  renderPairing(id);
  renderSound(id); // soothe.js
  renderTalk(id); // talk.js

  const list = f('noises');
  const times = (v.noises || []).slice().reverse();
  list.replaceChildren(...times.map((t) => { const li = document.createElement('li'); li.textContent = new Date(t).toLocaleTimeString(); return li; }));
  if (!times.length) list.replaceChildren(Object.assign(document.createElement('li'), { textContent: 'none yet' }));
}

setInterval(() => { for (const id of state.monitors.keys()) render(id); }, 5000);
setInterval(() => { for (const [id, v] of state.monitors) if (v.pairing && v.pairing.open) renderPairing(id); }, 1000);

// ---- the monitor's pairing window: pairing.js ----

// ---- listening: listen.js ----

// stopLocal forgets a listen without telling the server.
function stopLocal(id) {
  const l = state.listening.get(id);
  if (!l) return;
  if (state.night && state.night.id === id) stopNight(); // night.js
  clearPageAlarm(id); // listen.js: nobody listens, nothing to miss
  state.listening.delete(id);
  teardown(id, l);
}

async function stopListening(id) {
  stopLocal(id);
  render(id);
  try {
    await api('POST', `/api/monitors/${encodeURIComponent(id)}/stop`, { tab: state.tab });
  } catch (e) {
    if (e.code !== 'tab_gone') toast(problemText(e));
  }
}

// relisten restores this tab's listens after the event stream reconnected.
function relisten() {
  for (const [id, l] of [...state.listening]) {
    // Night mode's stream holds its own listen: only tell the new tab's
    // listen, never touch a player that plays (or sounds the alarm).
    if (l.mode === 'night') api('POST', `/api/monitors/${encodeURIComponent(id)}/listen`, { tab: state.tab, video: false }).catch(() => {});
    else startListening(id, l.video);
  }
}

async function acknowledge(id) {
  const v = state.monitors.get(id);
  if (nightAck(id)) return; // night mode's own alarm (night.js)
  if (v && v.alarm && v.alarm.local) { // the page's own alarm (listen.js)
    v.alarm.sounding = false;
    v.alarm.acknowledged = true;
    render(id);
    updateAlarmSound();
    return;
  }
  try {
    await api('POST', `/api/monitors/${encodeURIComponent(id)}/ack`, {});
  } catch (e) {
    toast(problemText(e));
  }
}

async function forget(id) {
  const v = state.monitors.get(id);
  if (!confirm(`Forget ${v ? v.name : id}? You will need its setup code to pair it again.`)) return;
  try {
    await api('POST', `/api/monitors/${encodeURIComponent(id)}/forget`, {});
  } catch (e) {
    toast(problemText(e));
  }
}

async function loadInfo(id) {
  const box = cardOf(id).querySelector('[data-field="info"]');
  box.textContent = 'Asking the monitor…';
  try {
    const info = await api('GET', `/api/monitors/${encodeURIComponent(id)}/info`);
    const dl = document.createElement('dl');
    for (const [k, val] of Object.entries(info)) {
      dl.append(Object.assign(document.createElement('dt'), { textContent: k }));
      dl.append(Object.assign(document.createElement('dd'), { textContent: typeof val === 'object' ? JSON.stringify(val) : String(val) }));
    }
    box.replaceChildren(dl);
  } catch (e) {
    box.textContent = problemText(e);
  }
}

// ---- the alarm ----

function updateAlarmSound() {
  const sound = $('#alarm-sound');
  debug.alarmAudio = sound;
  let sounding = false;
  for (const v of state.monitors.values()) if (v.alarm && v.alarm.active && v.alarm.sounding) sounding = true;
  if (state.testAlarmUntil > Date.now()) sounding = true;
  document.body.classList.toggle('alarming', sounding);
  // In night mode the alarm sounds from audio already running (night.js):
  // the monitor's inside the stream, the page's own from its graph.
  if (!sounding || state.night) {
    sound.pause();
    sound.currentTime = 0;
    $('#alarm-tap').hidden = true;
    return;
  }
  sound.muted = false;
  sound.volume = 1;
  const p = sound.play();
  const blocked = () => { $('#alarm-tap').hidden = false; };
  if (p && p.then) p.then(() => { $('#alarm-tap').hidden = !(sound.paused || sound.muted); }, blocked);
}

// setupAlarmTest: "Test the alarm" plays the alarm for 3 s, so that a
// parent hears it (and its volume) before sleeping. The tap also lets
// the browser play the alarm later without another one.
function setupAlarmTest() {
  $('#alarm-test').hidden = false;
  $('#test-alarm').onclick = () => {
    state.testAlarmUntil = Date.now() + 3000;
    $('#test-alarm').disabled = true;
    if (state.night) nightTestAlarm(); // night.js: the graph a real alarm would use
    updateAlarmSound();
    setTimeout(() => {
      state.testAlarmUntil = 0;
      $('#test-alarm').disabled = false;
      updateAlarmSound();
    }, 3000);
  };
}

// ---- noise notifications ----

function setupNotifications() {
  if (window.isSecureContext && 'Notification' in window && Notification.permission === 'default') {
    $('#notify-offer').hidden = false;
    $('#notify-enable').onclick = async () => {
      await Notification.requestPermission().catch(() => {});
      $('#notify-offer').hidden = true;
    };
  }
}

function notifyNoise(v) {
  const now = Date.now();
  if (now - (state.lastNotice.get(v.id) || 0) < 10000) return;
  state.lastNotice.set(v.id, now);
  const text = `Noise in ${v.name} at ${new Date().toLocaleTimeString()}`;
  if (window.isSecureContext && 'Notification' in window && Notification.permission === 'granted') {
    try {
      new Notification('Cradle', { body: text, tag: 'cradle-noise-' + v.id });
      return;
    } catch (e) { /* Android wants a service worker: fall back to the page */ }
  }
  toast(text);
}

// ---- discovery and pairing ----

async function discover() {
  const list = $('#discovered');
  list.replaceChildren(Object.assign(document.createElement('li'), { textContent: 'Looking…' }));
  try {
    const res = await api('GET', '/api/discover');
    if (!res.monitors.length) {
      list.replaceChildren(Object.assign(document.createElement('li'), { textContent: 'No monitor answered. Check that it is on and on the same Wi-Fi, or type its address below.' }));
      return;
    }
    list.replaceChildren(...res.monitors.map((m) => {
      const li = document.createElement('li');
      li.dataset.device = m.device_id;
      const flag = m.paired ? 'already paired' : m.pairing_open ? 'ready to pair' : 'press its button to pair';
      li.append(`${m.name} (${m.device_id}, ${m.address || 'no address'}) — ${flag} `);
      const use = Object.assign(document.createElement('button'), { type: 'button', textContent: 'Use this monitor', className: 'secondary' });
      use.onclick = () => { $('#pair-target').value = m.address || m.name; $('#pair-code').focus(); };
      li.append(use);
      return li;
    }));
  } catch (e) {
    list.replaceChildren(Object.assign(document.createElement('li'), { textContent: problemText(e) }));
  }
}

async function pair(ev) {
  ev.preventDefault();
  const out = $('#pair-result');
  const button = $('#pair-button');
  const body = { target: $('#pair-target').value.trim(), code: $('#pair-code').value.trim(), payload: $('#pair-payload').value.trim() };
  out.textContent = 'Pairing… (this takes a few seconds)';
  out.dataset.result = 'pending';
  button.disabled = true;
  try {
    const res = await api('POST', '/api/pair', body);
    out.textContent = `Paired with ${res.monitor.name}.`;
    out.dataset.result = 'ok';
    $('#pair-code').value = '';
    $('#pair-payload').value = '';
  } catch (e) {
    out.replaceChildren(Object.assign(document.createElement('span'), { className: 'error', textContent: problemText(e) }));
    out.dataset.result = e.code;
  } finally {
    button.disabled = false;
  }
}

$('#discover').onclick = discover;
$('#pair-form').onsubmit = pair;
$('#alarm-tap').onclick = () => { updateAlarmSound(); for (const id of state.listening.keys()) tapToPlay(id); };
// Start once every script (listen.js, pairing.js) has run.
document.addEventListener('DOMContentLoaded', start);
