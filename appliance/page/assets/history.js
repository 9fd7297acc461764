// Cradle page: the night at a glance (a card's "The night" section).
// Plain JavaScript; it draws its own SVG (nothing from the internet).
//
// The page asks GET /api/monitors/{id}/history?from=MS&to=MS for a night
// it computes itself in the phone's local time, as history.Night does in
// Go: 18:00 to 10:00 the next day; "Earlier night" goes one night back.
// The server answers the monitor's history (levels per minute, noise
// episodes, microphone faults, who listened) and the night's summary,
// counted in Go (history.Summarize) so the page and `cradle history`
// agree; the page writes it in the words of Go's Summary.Text, with the
// phone's local times.
//
// The drawing: the level as a band (each pixel column's lowest to
// highest minute) with its mean as a line; the noise episodes as marks
// above it, shading the level under them; microphone faults shaded red;
// times with no level record (the monitor off, or not hearing) hatched
// grey; who listened as a thin lane under it; an hour axis in local time.
// SVG units are CSS pixels: an element's x and width are its times.
// Every episode and fault carries data-start-ms and data-end-ms.
'use strict';

const HIST_NIGHT_START = 18; // history.NightStart
const HIST_NIGHT_END = 10;   // history.NightEnd
const HIST_MIN_DB = -80;     // the band's floor (dBFS); 0 is its top
const HIST_TAIL_MS = 7 * 60 * 1000; // the monitor writes every 5 minutes: a fresher end is not a gap
const SVG_NS = 'http://www.w3.org/2000/svg';

// The nights shown, by monitor: how many nights back, and the last answer.
const histState = new Map(); // id -> {back, data, seq, error}
let histPatterns = 0;

// histNight is [from, to) of the night back nights before the latest one
// that has started at now, in local time (Go: history.Night).
function histNight(back, now = new Date()) {
  let from = new Date(now.getFullYear(), now.getMonth(), now.getDate(), HIST_NIGHT_START);
  if (now < from) from = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1, HIST_NIGHT_START);
  from = new Date(from.getFullYear(), from.getMonth(), from.getDate() - back, HIST_NIGHT_START);
  const to = new Date(from.getFullYear(), from.getMonth(), from.getDate() + 1, HIST_NIGHT_END);
  return { from: from.getTime(), to: to.getTime() };
}

// histClock is a time as Go's "15:04" in local time.
function histClock(ms) {
  const d = new Date(ms);
  return String(d.getHours()).padStart(2, '0') + ':' + String(d.getMinutes()).padStart(2, '0');
}

// histDuration says a length as Go's history.FormatDuration does.
function histDuration(ms) {
  if (ms < 60000) return `${Math.round(ms / 1000)} s`;
  if (ms < 3600000) return `${Math.round(ms / 60000)} min`;
  const m = Math.round(ms / 60000);
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

// histSummaryText is Go's history.Summary.Text, in local time.
function histSummaryText(s) {
  const parts = [];
  parts.push(s.wakeups === 0 ? 'no wake-ups' : s.wakeups === 1 ? '1 wake-up' : `${s.wakeups} wake-ups`);
  if (s.wakeups > 0) parts.push('the longest ' + histDuration(s.longest_ms));
  if (s.short === 1) parts.push('1 short noise');
  else if (s.short > 1) parts.push(`${s.short} short noises`);
  if (s.noise) parts.push(`noise now (since ${histClock(s.noise_since_ms)})`);
  else if (s.quiet_since_ms) parts.push('quiet since ' + histClock(s.quiet_since_ms));
  else parts.push('quiet throughout');
  return parts.join(', ');
}

function histEmpty(h) {
  return !h.minutes.length && !h.episodes.length && !h.faults.length && !h.connections.length;
}

// histTitle names the night: "Night of Sun 6 Dec", "Tonight, so far".
function histTitle(h) {
  if (h.now_ms >= h.from_ms && h.now_ms < h.to_ms) return 'Tonight, so far';
  const d = new Date(h.from_ms);
  return 'Night of ' + d.toLocaleDateString(undefined, { weekday: 'short', day: 'numeric', month: 'short' });
}

function svgEl(name, attrs, parent) {
  const e = document.createElementNS(SVG_NS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.append(e);
  return e;
}

// histGaps lists the times in [from, end) with no level record, where end
// is now (or the range's end, if earlier): the monitor was off or heard
// nothing. minutes are in the monitor's order (by start).
function histGaps(minutes, step, from, to, now) {
  const gaps = [];
  const end = Math.min(to, now);
  let cursor = from;
  for (const m of minutes) {
    const s = m[0];
    if (s - cursor >= step && s > from) gaps.push([cursor, Math.min(s, end)]);
    if (s + step > cursor) cursor = s + step;
  }
  const tail = now < to ? HIST_TAIL_MS : step;
  if (end - cursor >= tail) gaps.push([cursor, end]);
  return gaps.filter(([a, b]) => b > a);
}

// histDraw draws h (the server's answer) into box, width the box's own,
// and returns the SVG.
function histDraw(box, h) {
  const W = Math.max(240, Math.floor(box.clientWidth || 320));
  const padL = 16, padR = 16;
  const plotW = W - padL - padR;
  const laneY = 0, laneH = 8;          // episode marks
  const lvlY = 10, lvlH = 96;          // the level band
  const connY = lvlY + lvlH + 3, connH = 5;
  const axisY = connY + connH + 3;
  const H = axisY + 18;
  const from = h.from_ms, to = h.to_ms, span = to - from;
  const step = h.step_ms || 60000;
  const x = (ms) => padL + (Math.min(Math.max(ms, from), to) - from) / span * plotW;
  const y = (ddb) => lvlY + lvlH * Math.min(1, Math.max(0, (ddb / 10) / HIST_MIN_DB));
  const svg = svgEl('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: 'history-chart', role: 'img',
    'data-from-ms': from, 'data-to-ms': to, 'data-plot-x': padL, 'data-plot-width': plotW });
  svg.setAttribute('aria-label', 'Sound level over the night, with noise, microphone problems and who listened');
  const defs = svgEl('defs', {}, svg);
  const hatch = 'hist-hatch-' + (++histPatterns); // one per drawing: a closed card's does not serve another's
  const pat = svgEl('pattern', { id: hatch, width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' }, defs);
  svgEl('rect', { width: 6, height: 6, fill: '#15171d' }, pat);
  svgEl('line', { x1: 0, y1: 0, x2: 0, y2: 6, stroke: '#3a3e4a', 'stroke-width': 3 }, pat);
  svgEl('rect', { class: 'plot', x: padL, y: lvlY, width: plotW, height: lvlH, fill: '#0b0c10' }, svg);

  const mark = (cls, list, y0, hgt, minW, parent) => {
    for (const it of list) {
      const s = it.start_ms, e = it.ongoing ? Math.max(it.end_ms, Math.min(h.now_ms, to)) : it.end_ms;
      if (e < from || s >= to) continue;
      const x0 = x(s);
      const r = svgEl('rect', { class: cls, x: x0.toFixed(2), y: y0, width: Math.max(x(e) - x0, minW).toFixed(2), height: hgt,
        'data-start-ms': s, 'data-end-ms': e }, parent);
      if (it.ongoing) r.setAttribute('data-ongoing', 'true');
      const title = svgEl('title', {}, r);
      title.textContent = it.title;
    }
  };
  const now = h.now_ms;
  const gaps = histGaps(h.minutes, step, from, to, now).map(([s, e]) => ({ start_ms: s, end_ms: e, title: `Not hearing ${histClock(s)}–${histClock(e)}` }));
  mark('gap', gaps, lvlY, lvlH, 0, svg);
  for (const g of svg.querySelectorAll('rect.gap')) g.setAttribute('fill', `url(#${hatch})`);
  mark('fault', h.faults.map((f) => ({ ...f, title: `Microphone problem ${histClock(f.start_ms)}–${f.ongoing ? 'now' : histClock(f.end_ms)}` })), lvlY, lvlH, 1, svg);
  const eps = h.episodes.map((e) => ({ ...e, title: `Noise ${histClock(e.start_ms)}–${e.ongoing ? 'now' : histClock(e.end_ms)} (${histDuration(e.end_ms - e.start_ms)})` }));
  mark('episode-shade', eps, lvlY, lvlH, 1, svg);

  // The band: per pixel column, the lowest minimum and highest maximum of
  // the minutes in it, and the mean of their means.
  const cols = Math.ceil(plotW);
  const lo = new Float64Array(cols).fill(Infinity), hi = new Float64Array(cols).fill(-Infinity);
  const sum = new Float64Array(cols), n = new Uint32Array(cols);
  const k = plotW / span;
  for (const m of h.minutes) {
    const s = m[0];
    if (s + step <= from || s >= to) continue;
    const c0 = Math.max(0, Math.floor((Math.max(s, from) - from) * k));
    const c1 = Math.min(cols - 1, Math.max(c0, Math.ceil((Math.min(s + step, to) - from) * k) - 1));
    for (let c = c0; c <= c1; c++) {
      if (m[1] < lo[c]) lo[c] = m[1];
      if (m[3] > hi[c]) hi[c] = m[3];
      sum[c] += m[2];
      n[c]++;
    }
  }
  let band = '', mean = '';
  for (let c = 0; c < cols;) {
    if (!n[c]) { c++; continue; }
    let e = c;
    while (e + 1 < cols && n[e + 1]) e++;
    const top = [], bottom = [], line = [];
    for (let i = c; i <= e; i++) {
      const cx = (padL + i + 0.5).toFixed(1);
      top.push(cx + ',' + y(hi[i]).toFixed(1));
      bottom.push(cx + ',' + y(lo[i]).toFixed(1));
      line.push(cx + ',' + y(sum[i] / n[i]).toFixed(1));
    }
    if (c === e) { // one column: give it a width
      const cx = padL + c + 0.5;
      top.unshift((cx - 0.5).toFixed(1) + ',' + y(hi[c]).toFixed(1));
      bottom.unshift((cx - 0.5).toFixed(1) + ',' + y(lo[c]).toFixed(1));
      line.unshift((cx - 0.5).toFixed(1) + ',' + y(sum[c] / n[c]).toFixed(1));
    }
    band += 'M' + top.join('L') + 'L' + bottom.reverse().join('L') + 'Z';
    mean += 'M' + line.join('L');
    c = e + 1;
  }
  svgEl('path', { class: 'band', d: band || 'M0,0', fill: '#4a76b8', 'fill-opacity': 0.45 }, svg);
  svgEl('path', { class: 'mean', d: mean || 'M0,0', fill: 'none', stroke: '#8fb0e0', 'stroke-width': 1.2, 'stroke-linejoin': 'round' }, svg);
  mark('episode', eps, laneY, laneH, 2, svg);
  mark('conn', h.connections.map((c) => ({ ...c, title: `${c.name} (${c.kind}) listened ${histClock(c.start_ms)}–${c.ongoing ? 'now' : histClock(c.end_ms)}` })), connY, connH, 1, svg);
  if (now > from && now < to) svgEl('line', { class: 'now', x1: x(now), x2: x(now), y1: laneY, y2: connY + connH, stroke: '#b4b8c3', 'stroke-dasharray': '2,2' }, svg);

  // The hour axis, local time: a label every few hours, as room allows.
  const pxPerHour = plotW / (span / 3600000);
  const every = [1, 2, 3, 4, 6, 12, 24].find((e) => e * pxPerHour >= 40) || 24;
  const t0 = new Date(from);
  t0.setMinutes(0, 0, 0);
  if (t0.getTime() < from) t0.setTime(t0.getTime() + 3600000);
  for (let t = t0.getTime(); t <= to; t += 3600000) {
    const d = new Date(t);
    if (d.getMinutes() !== 0 || d.getHours() % every !== 0) continue;
    const tx = x(t);
    svgEl('line', { class: 'tick', x1: tx, x2: tx, y1: lvlY, y2: axisY + 2, stroke: '#ffffff1a', 'data-ms': t }, svg);
    const label = svgEl('text', { class: 'hour', x: tx, y: axisY + 14, 'text-anchor': 'middle', 'data-ms': t }, svg);
    label.textContent = every === 24 ? d.toLocaleDateString(undefined, { day: 'numeric', month: 'short' }) : histClock(t);
  }
  box.replaceChildren(svg);
  return svg;
}

// histRender shows a monitor's night: its title, summary and drawing.
function histRender(id) {
  const card = cardOf(id);
  const st = histState.get(id);
  if (!card || !st) return;
  const f = (name) => card.querySelector(`[data-field="${name}"]`);
  const h = st.data;
  const later = card.querySelector('[data-action="history-later"]');
  const earlier = card.querySelector('[data-action="history-earlier"]');
  later.disabled = st.back === 0;
  // The monitor keeps h.days days: the night before the oldest is empty.
  earlier.disabled = !!h && h.days > 0 && st.back + 1 > h.days;
  const summary = f('history-summary');
  delete summary.dataset.error;
  delete summary.dataset.empty;
  if (st.error) {
    summary.textContent = problemText(st.error);
    summary.dataset.error = st.error.code || 'error';
    f('history-chart').replaceChildren();
    return;
  }
  if (!h) {
    summary.textContent = 'Asking the monitor…';
    f('history-chart').replaceChildren(); // another night's drawing is not this one's
    return;
  }
  f('history-night').textContent = histTitle(h);
  if (histEmpty(h)) {
    summary.textContent = 'No sound history for this night: the monitor was off, or kept none.';
    summary.dataset.empty = 'true';
  } else {
    summary.textContent = histSummaryText(h.summary);
  }
  histDraw(f('history-chart'), h);
}

// histLoad asks the server for the night st.back nights back.
async function histLoad(id) {
  const st = histState.get(id) || { back: 0, seq: 0 };
  histState.set(id, st);
  const seq = ++st.seq;
  const { from, to } = histNight(st.back);
  if (!st.data || st.data.from_ms !== from) { // another night: say so while it loads
    st.data = null;
    st.error = null;
    const card = cardOf(id);
    if (card) card.querySelector('[data-field="history-night"]').textContent = histTitle({ from_ms: from, to_ms: to, now_ms: Date.now() });
    histRender(id);
  }
  let data = null, error = null;
  try {
    data = await api('GET', `/api/monitors/${encodeURIComponent(id)}/history?from=${from}&to=${to}`);
  } catch (e) {
    error = e;
  }
  if (seq !== st.seq) return; // a newer request took over
  st.data = data;
  st.error = error;
  histRender(id);
}

// histSetup wires a new card's "The night" section.
function histSetup(card, id) {
  const sec = card.querySelector('[data-field="history"]');
  sec.addEventListener('toggle', () => { if (sec.open) histLoad(id); });
  card.querySelector('[data-action="history-earlier"]').onclick = () => {
    const st = histState.get(id) || { back: 0, seq: 0 };
    st.back++;
    histState.set(id, st);
    histLoad(id);
  };
  card.querySelector('[data-action="history-later"]').onclick = () => {
    const st = histState.get(id);
    if (!st || st.back === 0) return;
    st.back--;
    histLoad(id);
  };
}

// Tonight's drawing grows: ask again every minute while it is shown. A
// turned phone redraws at its new width.
setInterval(() => {
  for (const [id, st] of histState) {
    const card = cardOf(id);
    if (card && card.querySelector('[data-field="history"]').open && st.back === 0 && st.data && st.data.now_ms < st.data.to_ms) histLoad(id);
  }
}, 60000);
let histResize = 0;
window.addEventListener('resize', () => {
  cancelAnimationFrame(histResize);
  histResize = requestAnimationFrame(() => {
    for (const [id, st] of histState) {
      const card = cardOf(id);
      if (card && st.data && !st.error && card.querySelector('[data-field="history"]').open) histDraw(card.querySelector('[data-field="history-chart"]'), st.data);
    }
  });
});

// For tests: the pieces, callable on canned data.
window.cradleHistory = { night: histNight, text: histSummaryText, duration: histDuration, draw: histDraw, gaps: histGaps, state: histState };
