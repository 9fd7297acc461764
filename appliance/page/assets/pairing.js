// Cradle dashboard: the monitor's pairing window on its card, and wrong
// setup codes (loaded after app.js, whose state, api and cardOf it uses).
'use strict';

// ---- the monitor's pairing window, and wrong setup codes ----

// withDeadline dates a pairing state's end on this page's clock.
function withDeadline(p) {
  return Object.assign({}, p, { deadline: p.open ? Date.now() + (p.remaining_ms || 0) : 0 });
}

function pairingOpen(p) {
  return !!(p && p.open && p.deadline > Date.now());
}

// applyPairing takes a pairing state (an event, or the answer to Add a
// phone or Stop pairing) unless the card holds a newer one, and warns
// when more wrong setup codes were tried.
function applyPairing(v, p) {
  if (!p) return;
  const old = v.pairing;
  if (old && new Date(p.at) < new Date(old.at)) return;
  v.pairing = withDeadline(p);
  render(v.id);
  if (p.failed_attempts > ((old && old.failed_attempts) || 0)) {
    const text = `${v.name}: ${wrongCodesText(p.failed_attempts)}`;
    toast(text);
    if (window.isSecureContext && 'Notification' in window && Notification.permission === 'granted') {
      try { new Notification('Cradle', { body: text, tag: 'cradle-pairing-' + v.id }); } catch (e) { /* the toast shows it */ }
    }
  }
}

function wrongCodesText(n) {
  return (n === 1 ? '1 wrong setup code was tried.' : `${n} wrong setup codes were tried.`) +
    ' If that was not you, someone on your Wi-Fi may be guessing the code.';
}

// The warning, once a parent says "That was me", stays hidden in this
// browser until another wrong code is tried.
function warningKey(p) {
  return `${p.failed_attempts}@${p.last_failure || ''}`;
}

function isDismissed(id, p) {
  let k = state.dismissed.get(id);
  try { k = localStorage.getItem('cradle-warning-' + id) || k; } catch (e) { /* private mode */ }
  return k === warningKey(p);
}

function dismissWarning(id) {
  const v = state.monitors.get(id);
  if (!v || !v.pairing) return;
  state.dismissed.set(id, warningKey(v.pairing));
  try { localStorage.setItem('cradle-warning-' + id, warningKey(v.pairing)); } catch (e) { /* kept in memory */ }
  render(id);
}

function renderPairing(id) {
  const v = state.monitors.get(id);
  const card = cardOf(id);
  if (!v || !card) return;
  const f = (name) => card.querySelector(`[data-field="${name}"]`);
  const p = v.pairing;
  const open = pairingOpen(p);
  const failed = (p && p.failed_attempts) || 0;
  card.dataset.pairing = open ? 'open' : 'closed';
  card.dataset.failedAttempts = String(failed);
  card.dataset.pairingClosed = (p && !p.open && p.closed) || '';

  const online = v.presence === 'online';
  const busy = state.pairingBusy.has(id);
  const text = f('pairing-open');
  text.hidden = !open || !online;
  if (open) {
    const s = Math.max(0, Math.ceil((p.deadline - Date.now()) / 1000));
    text.textContent = `Pairing open — ${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')} left: pair the new phone with the code on the monitor's card.`;
  }
  const add = card.querySelector('[data-action="open-pairing"]');
  add.hidden = open && online;
  add.disabled = !online || busy;
  const stop = card.querySelector('[data-action="close-pairing"]');
  stop.hidden = !(open && online);
  stop.disabled = busy;

  const warn = f('pairing-warning');
  warn.hidden = failed === 0 || isDismissed(id, p);
  if (failed > 0) {
    f('pairing-warning-text').textContent = wrongCodesText(failed);
    const more = [];
    if (p.last_failure) more.push(`The last one at ${new Date(p.last_failure).toLocaleTimeString()}.`);
    if (p.closed === 'too-many-failures') more.push('The monitor closed pairing after too many wrong codes: nobody can pair until you open it again.');
    else if (open) more.push('Pairing is still open: press Stop pairing if you are not adding a phone now.');
    f('pairing-warning-more').textContent = more.join(' ');
  }
}

// setPairing opens the monitor's pairing window (Add a phone) or closes it.
async function setPairing(id, open) {
  state.pairingBusy.add(id);
  renderPairing(id);
  try {
    const res = await api('POST', `/api/monitors/${encodeURIComponent(id)}/pairing/${open ? 'open' : 'close'}`, {});
    const v = state.monitors.get(id);
    if (v) applyPairing(v, res.pairing);
  } catch (e) {
    toast(problemText(e));
  } finally {
    state.pairingBusy.delete(id);
    renderPairing(id);
  }
}
