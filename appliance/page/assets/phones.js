// Phones on the monitor's own page (served by cradled): pairing this
// phone with the setup code, the list of paired phones (rename, remove),
// and the notice when a phone is added. On the dashboard only the notice
// applies. Uses app.js's state, api, $, toast and connect.
'use strict';

// showPhonePairing shows the pairing form; the card's QR code opens the
// page with the code in the fragment (#code=12345678), which never
// reaches the server and is dropped from the address bar at once.
function showPhonePairing(why) {
  $('#phone-pair').hidden = false;
  $('#pairing').hidden = true;
  $('#phones').hidden = true;
  $('#connection').textContent = why || 'This phone is not paired with the monitor yet.';
  const m = location.hash.match(/code=([0-9-]+)/);
  if (m) {
    $('#phone-code').value = m[1];
    history.replaceState(null, '', location.pathname + location.search);
  }
  $('#phone-pair-form').onsubmit = async (e) => {
    e.preventDefault();
    const btn = $('#phone-pair-button');
    const out = $('#phone-pair-result');
    btn.disabled = true;
    out.textContent = 'Pairing…';
    try {
      await api('POST', '/api/devices/pair', { name: $('#phone-name').value.trim(), code: $('#phone-code').value.replace(/\s/g, '') });
      out.textContent = '';
      $('#phone-pair').hidden = true;
      $('#phone-code').value = '';
      state.session = await api('GET', '/api/session');
      $('#pairing').hidden = true;
      showPhones();
      setupAlarmTest(); // app.js
      connect();
    } catch (err) {
      out.textContent = problemText(err);
    } finally {
      btn.disabled = false;
    }
  };
}

// showPhones shows the list of paired phones. A phone removed with
// `cradled revoke` tells no page: the list is read again every 30 s too.
function showPhones() {
  $('#phones').hidden = false;
  loadPhones();
  if (!state.phonesTimer) state.phonesTimer = setInterval(() => { if (!$('#phones').hidden) loadPhones(); }, 30000);
}

async function loadPhones() {
  let res;
  try {
    res = await api('GET', '/api/devices');
  } catch (err) {
    if (err.status === 401) return lostPairing();
    return;
  }
  const list = $('#phone-list');
  list.replaceChildren(...res.devices.map(phoneItem));
}

function phoneItem(d) {
  const li = document.createElement('li');
  li.className = 'phone';
  li.dataset.device = d.id;
  const name = document.createElement('strong');
  name.textContent = d.name + (d.this ? ' (this phone)' : '');
  const when = document.createElement('span');
  when.className = 'facts';
  when.textContent = ` paired ${new Date(d.paired_at).toLocaleString()}`;
  const rename = document.createElement('button');
  rename.type = 'button';
  rename.className = 'secondary';
  rename.textContent = 'Rename';
  rename.onclick = async () => {
    const n = prompt('New name for this phone', d.name);
    if (!n || n.trim() === d.name) return;
    try { await api('POST', `/api/devices/${encodeURIComponent(d.id)}/rename`, { name: n.trim() }); loadPhones(); } catch (err) { toast(problemText(err)); }
  };
  const remove = document.createElement('button');
  remove.type = 'button';
  remove.className = 'secondary';
  remove.dataset.action = 'revoke';
  remove.textContent = 'Remove';
  remove.onclick = async () => {
    if (!confirm(`Remove "${d.name}"? It will stop hearing the nursery at once, and must be paired again with the setup code.`)) return;
    try { await api('POST', `/api/devices/${encodeURIComponent(d.id)}/revoke`, {}); loadPhones(); } catch (err) { toast(problemText(err)); }
  };
  li.append(name, when, ' ', rename, ' ', remove);
  return li;
}

// onDeviceAdded: every page says when a phone is paired, so that a
// parent notices one they do not know.
function onDeviceAdded(ev) {
  const d = ev.device || {};
  const at = d.paired_at ? new Date(d.paired_at).toLocaleTimeString() : '';
  toast(`A phone was paired with the monitor: "${d.name}" at ${at}. If you do not know it, remove it` + (state.session.host === 'monitor' ? ' under Phones.' : ' with cradled revoke.'));
  if (state.session.host === 'monitor') loadPhones();
}

// checkStillPaired: when the event stream drops on the monitor's page,
// find out whether this phone was removed; if so stop everything and
// show the pairing form with a sentence.
async function checkStillPaired(es) {
  let st;
  try { st = await api('GET', '/api/session'); } catch (e) { return; } // the monitor is unreachable: the stream retries
  if (!st.signed_in) {
    es.close();
    lostPairing();
  }
}

function lostPairing() {
  for (const id of [...state.listening.keys()]) stopLocal(id);
  state.monitors.clear();
  syncCards();
  showPhonePairing('This phone was removed from the monitor (or the monitor was reset). Pair it again with the setup code to listen.');
}
