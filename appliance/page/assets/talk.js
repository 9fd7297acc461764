// Cradle: hold to talk (loaded after app.js and listen.js, whose state,
// debug, api, problemText, cardOf and hasWebRTC it uses). While the
// button is held, the page's microphone goes to the monitor over WebRTC
// (a sendonly offer the server hands to the monitor) and plays on its
// speaker; the card's nursery audio is muted meanwhile, so the parent
// does not hear their own voice come back. One talker at a time: every
// page hears from the monitor who talks (talk_state), and its button
// says so.
'use strict';

// TALK_CONNECT_MS bounds the wait for the talk's connection once the
// monitor answered.
const TALK_CONNECT_MS = 10000;

// state.talk is this page's talk, while the button is held (one at a
// time): {id, phase: 'mic'|'connecting'|'talking', pc, stream, released}.

function talkSetup(card, id) {
  const b = card.querySelector('[data-action="talk"]');
  const down = (ev) => {
    if (ev) ev.preventDefault();
    if (!b.disabled) talkStart(id);
  };
  const up = () => { if (state.talk && state.talk.id === id) talkStop(id); };
  b.addEventListener('pointerdown', (ev) => {
    if (ev.button !== 0) return;
    // A touch is captured by the button it started on: let it go, so that
    // a finger sliding off the button stops the talk (pointerleave).
    try { if (b.hasPointerCapture(ev.pointerId)) b.releasePointerCapture(ev.pointerId); } catch (e) { /* not captured */ }
    down(ev);
  });
  b.addEventListener('pointerup', up);
  b.addEventListener('pointercancel', up);
  b.addEventListener('pointerleave', up);
  b.addEventListener('contextmenu', (ev) => ev.preventDefault()); // a long press on a phone
  b.addEventListener('keydown', (ev) => {
    if (ev.key !== ' ' && ev.key !== 'Enter') return;
    ev.preventDefault();
    if (!ev.repeat) down();
  });
  b.addEventListener('keyup', (ev) => { if (ev.key === ' ' || ev.key === 'Enter') { ev.preventDefault(); up(); } });
  b.addEventListener('blur', up);
  b.addEventListener('click', (ev) => ev.preventDefault()); // press and release is all
}

// A page that is hidden (the phone locked, another app) stops talking: its
// button can no longer be released.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'hidden' && state.talk) talkStop(state.talk.id);
});

// applyTalk takes the monitor's talk state (who talks, and whether it
// has a speaker).
function applyTalk(v, t) {
  if (!t) return;
  if (v.talk && new Date(t.at) < new Date(v.talk.at)) return;
  if (v.talk && v.talk.talking && !t.talking && state.talkError && state.talkError.id === v.id) state.talkError = null; // who talked has stopped
  v.talk = t;
  render(v.id);
}

// speakerOf says whether the monitor has a speaker: its talk state says
// so, else its sound state; unknown counts as yes (the monitor answers).
function speakerOf(v) {
  if (v.talk && typeof v.talk.speaker === 'boolean') return v.talk.speaker;
  if (v.sound && typeof v.sound.speaker === 'boolean') return v.sound.speaker;
  return true;
}

// talkBlocked is why this page cannot talk to monitor v now ('' if it can).
function talkBlocked(v) {
  if (!hasWebRTC()) return 'Talking needs a browser with WebRTC: open this page in Chrome, Firefox or Safari.';
  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return 'Talking needs the microphone, which the browser gives only to a secure page: open the page by its https:// address.';
  }
  if (!speakerOf(v)) return 'This monitor has no speaker, so talking to the nursery is off.';
  if (v.presence !== 'online') return 'The monitor is not connected.';
  const mine = state.talk && state.talk.id === v.id;
  if (!mine && v.talk && v.talk.talking) return `${v.talk.by || 'Someone'} is talking.`;
  return '';
}

function renderTalk(id) {
  const v = state.monitors.get(id);
  const card = cardOf(id);
  if (!v || !card) return;
  const b = card.querySelector('[data-action="talk"]');
  const line = card.querySelector('[data-field="talk-state"]');
  const t = state.talk && state.talk.id === id ? state.talk : null;
  const blocked = t ? '' : talkBlocked(v);
  b.disabled = !!blocked || (!!state.talk && !t); // one talk per page
  b.dataset.talking = t ? 'true' : 'false';
  // "Talking" only once the monitor hears: before that, a release cancels.
  b.textContent = !t ? 'Hold to talk' : t.phase === 'talking' ? 'Talking… release to stop' : 'Release to cancel';
  card.dataset.talk = t ? t.phase : v.talk && v.talk.talking ? 'other' : '';
  let text = '', kind = '';
  if (t) {
    kind = t.phase === 'talking' ? 'talking' : 'starting';
    text = t.phase === 'mic' ? 'Asking for the microphone…' : t.phase === 'connecting' ? 'Connecting to the monitor…' : 'Talking… the nursery hears you. The nursery\'s sound is muted here meanwhile.';
  } else if (blocked) {
    text = blocked;
    kind = v.talk && v.talk.talking ? 'other' : 'blocked';
  } else if (state.talkError && state.talkError.id === id) {
    text = state.talkError.text;
    kind = 'error';
  }
  line.textContent = text;
  line.dataset.talk = kind;
}

// talkSentence turns what failed while starting to talk into a sentence
// for a parent (never a browser's exception).
function talkSentence(e) {
  if (e && e.sentence) return problemText(e);
  switch (e && e.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'The browser did not let Cradle use the microphone. Allow the microphone for this page in the browser\'s site settings, then hold the button again.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'This device has no microphone that the browser can use.';
    case 'NotReadableError':
    case 'AbortError':
      return 'The microphone is busy or not working (another app may be using it). Close that app and try again.';
  }
  return 'Talking could not start in this browser. Try again, or open this page in another browser.';
}

// muteNursery mutes (or unmutes) the card's nursery audio, so that the
// talker does not hear their own voice come back from the nursery.
function muteNursery(id, on) {
  const card = cardOf(id);
  if (!card) return;
  const player = card.querySelector('audio[data-role="player"]');
  if (on) {
    card.dataset.talkMuted = 'true';
    player.muted = true;
  } else if (card.dataset.talkMuted) {
    delete card.dataset.talkMuted;
    player.muted = false;
  }
}

// talkMuted says whether the card's audio is muted by a held talk button
// (listen.js then does not take the muted player for a blocked one).
function talkMuted(id) {
  const card = cardOf(id);
  return !!(card && card.dataset.talkMuted);
}

async function talkStart(id) {
  if (state.talk) return;
  const t = { id, phase: 'mic', pc: null, stream: null, released: false };
  state.talk = t;
  debug.talk = t;
  state.talkError = null;
  muteNursery(id, true);
  render(id);
  renderTalks();
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true } });
    t.stream = stream;
    if (t.released) { talkEnd(t); return; }
    t.phase = 'connecting';
    render(id);
    const pc = new RTCPeerConnection({ iceServers: [] });
    t.pc = pc;
    debug.talkPC = pc;
    for (const track of stream.getAudioTracks()) pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
    pc.onconnectionstatechange = () => {
      if (state.talk !== t) return;
      if (pc.connectionState === 'connected') { t.phase = 'talking'; render(id); }
      if (pc.connectionState === 'failed') talkFail(t, 'The connection to the monitor failed. Release the button and try again.');
    };
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const res = await api('POST', `/api/monitors/${encodeURIComponent(id)}/talk`, { tab: state.tab, sdp: pc.localDescription.sdp });
    if (t.released) { // released while the monitor answered: its stop may have come first
      api('POST', `/api/monitors/${encodeURIComponent(id)}/talk/stop`, { tab: state.tab }).catch(() => {});
      return;
    }
    await pc.setRemoteDescription({ type: 'answer', sdp: res.sdp });
    setTimeout(() => {
      if (state.talk === t && t.phase !== 'talking') talkFail(t, 'The monitor did not connect. Release the button and try again; if it keeps happening, check the Wi-Fi.');
    }, TALK_CONNECT_MS);
  } catch (e) {
    talkFail(t, talkSentence(e));
  }
}

// talkFail ends a talk that could not start or broke, and says why.
function talkFail(t, text) {
  if (state.talk === t) state.talkError = { id: t.id, text };
  const told = t.released;
  talkEnd(t);
  if (!told) api('POST', `/api/monitors/${encodeURIComponent(t.id)}/talk/stop`, { tab: state.tab }).catch(() => {});
}

// talkEnd releases the microphone and the peer connection and unmutes
// the nursery.
function talkEnd(t) {
  t.released = true;
  if (t.pc) t.pc.close();
  if (t.stream) for (const track of t.stream.getTracks()) track.stop();
  if (state.talk === t) state.talk = null;
  muteNursery(t.id, false);
  renderTalks(); // every card's button: one talk per page
}

function renderTalks() {
  for (const id of state.monitors.keys()) renderTalk(id);
}

async function talkStop(id) {
  const t = state.talk;
  if (!t || t.id !== id || t.released) return;
  talkEnd(t);
  try {
    await api('POST', `/api/monitors/${encodeURIComponent(id)}/talk/stop`, { tab: state.tab });
  } catch (e) { /* the tab's talk ends with its connection anyway */ }
}
