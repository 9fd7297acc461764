// Cradle: soothing sounds on the monitor's speaker, from a card (loaded
// after app.js, whose state, api, toast, problemText and cardOf it uses).
// The card shows the speaker as the monitor tells every listener
// (sound_state): which sound plays, who started it and the time left,
// or that the monitor has no speaker.
'use strict';

const SOUND_NAMES = { white: 'White noise', pink: 'Pink noise', brown: 'Brown noise', heartbeat: 'Heartbeat', lullaby: 'Lullaby' };

// withSoundDeadline dates a speaker state's end on this page's clock.
function withSoundDeadline(s) {
  if (!s) return s;
  return Object.assign({}, s, { deadline: s.playing && s.remaining_ms ? Date.now() + s.remaining_ms : 0 });
}

// applySound takes a speaker state (an event, or the answer to Play or
// Stop) unless the card holds a newer one.
function applySound(v, s) {
  if (!s) return;
  if (v.sound && new Date(s.at) < new Date(v.sound.at)) return;
  v.sound = withSoundDeadline(s);
  render(v.id);
}

function soundSetup(card, id) {
  card.querySelector('[data-action="sound-start"]').onclick = () => {
    const sound = card.querySelector('[data-field="sound-pick"]').value;
    const minutes = Number(card.querySelector('[data-field="sound-timer"]').value);
    askSound(id, 'start', { sound, minutes });
  };
  card.querySelector('[data-action="sound-stop"]').onclick = () => askSound(id, 'stop', {});
}

async function askSound(id, what, body) {
  state.soundBusy = state.soundBusy || new Set();
  state.soundBusy.add(id);
  renderSound(id);
  try {
    const res = await api('POST', `/api/monitors/${encodeURIComponent(id)}/sound/${what}`, body);
    const v = state.monitors.get(id);
    if (v) applySound(v, res.sound);
  } catch (e) {
    toast(problemText(e));
  } finally {
    state.soundBusy.delete(id);
    renderSound(id);
  }
}

// soundText says what the speaker does, in a parent's words.
function soundText(s) {
  if (!s.speaker) return 'This monitor has no speaker: it cannot play soothing sounds. Plug a USB speaker into it and restart it.';
  if (!s.playing) return 'No sound is playing.';
  let text = `${SOUND_NAMES[s.sound] || s.sound} is playing`;
  if (s.by) text += `, started by ${s.by}`;
  if (s.fading) return text + ': fading out.';
  if (!s.deadline) return text + ', until stopped.';
  const left = Math.max(0, Math.ceil((s.deadline - Date.now()) / 1000));
  const m = Math.floor(left / 60);
  return text + `: ${m}:${String(left % 60).padStart(2, '0')} left.`;
}

function renderSound(id) {
  const v = state.monitors.get(id);
  const card = cardOf(id);
  if (!v || !card) return;
  const box = card.querySelector('[data-field="soothe"]');
  const s = v.sound;
  box.hidden = !s; // a monitor that never told of its speaker (an older one)
  if (!s) return;
  const online = v.presence === 'online';
  const line = card.querySelector('[data-field="sound-state"]');
  line.textContent = online ? soundText(s) : 'The monitor is not connected.';
  line.dataset.sound = !s.speaker ? 'no-speaker' : s.playing ? 'playing' : 'none';
  card.dataset.sound = line.dataset.sound;
  card.querySelector('.sound-controls').hidden = !s.speaker;
  const busy = state.soundBusy && state.soundBusy.has(id);
  card.querySelector('[data-action="sound-start"]').disabled = !online || busy;
  card.querySelector('[data-action="sound-start"]').textContent = s.playing ? 'Play this instead' : 'Play on the monitor';
  card.querySelector('[data-action="sound-stop"]').disabled = !online || busy || !s.playing;
}

setInterval(() => { for (const [id, v] of state.monitors) if (v.sound && v.sound.playing && v.sound.deadline) renderSound(id); }, 1000);
