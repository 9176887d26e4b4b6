  // The dashboard's script, part 1 of 2: the page's state, helpers, the API and the token, the
  // camera and temperature panels. Plain JavaScript, no library: it talks to the `/v1` API with
  // URLs relative to the page (so `/api/` behind nginx reaches `/api/v1/...`), follows the events
  // stream (`v1/events`) and keeps the page current without reloading it.
  //
  // The gateway serves the parts in order as one `assets/dashboard.js`, inside
  // `'use strict'; (() => { ... })();` (DashboardAssets.swift): they share one scope, and only
  // `window.apertureDashboard` reaches the page's globals.
  const $ = (id) => document.getElementById(id);
  // Behind units/nginx/aperture-instances.conf every camera's dashboard is at /cam/NAME/, all on
  // one origin, and each instance of aperture@.service has its own token: there the key carries
  // NAME. Elsewhere (one camera: the gateway itself, or nginx's /api/) it is 'aperture.token'.
  const INSTANCE = (location.pathname.match(/^\/cam\/([A-Za-z0-9_-]+)\//) || [])[1];
  const TOKEN_KEY = INSTANCE ? 'aperture.token:' + INSTANCE : 'aperture.token';
  const NIGHT_KEY = 'aperture.night-mode';
  const HOUR = 3600 * 1000;

  // State shown by the page; `debug` is read by the browser test.
  const debug = { ready: false, streamOpen: false, events: 0, progressEvents: 0, frameEvents: 0,
                  previewLoads: 0, lastSubmitted: null, dropped: 0, roisDrawn: 0 };
  window.apertureDashboard = debug;
  const state = {
    camera: null, info: null, exposure: null, temps: [], rois: { signal: null, background: null },
    frame: null, previewBusy: false, previewAgain: false, previewURL: null, shownFrame: null,
    night: null, pending: null, source: null, timers: {},
  };

  // ---------------------------------------------------------------- helpers
  function storageGet(key) { try { return window.localStorage.getItem(key); } catch (e) { return null; } }
  function storageSet(key, value) {
    try { if (value === null) window.localStorage.removeItem(key); else window.localStorage.setItem(key, value); } catch (e) { /* private mode */ }
  }
  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') node.className = value; else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children) {
      if (child === undefined || child === null) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  function text(id, value) { const node = $(id); if (node) node.textContent = value; }
  function num(value, digits) {
    if (value === undefined || value === null || value === '') return '–';
    const n = Number(value);
    if (!Number.isFinite(n)) return String(value);
    return digits === undefined ? String(n) : n.toFixed(digits);
  }
  function bytes(n) {
    if (!Number.isFinite(n)) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0; let v = n;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
    return (i === 0 ? String(v) : v.toFixed(1)) + ' ' + units[i];
  }
  function utc(value) {
    if (value === undefined || value === null) return '–';
    const date = typeof value === 'number' ? new Date(value * 1000) : new Date(value);
    if (Number.isNaN(date.getTime())) return String(value);
    return date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, '');
  }
  function duration(seconds) {
    if (!Number.isFinite(seconds)) return '–';
    const s = Math.floor(seconds);
    const d = Math.floor(s / 86400); const h = Math.floor((s % 86400) / 3600); const m = Math.floor((s % 3600) / 60);
    if (d > 0) return d + 'd ' + h + 'h';
    if (h > 0) return h + 'h ' + m + 'm';
    return m + 'm ' + (s % 60) + 's';
  }
  function limit(value) {
    const n = Number(value);
    if (value === null || !Number.isFinite(n)) return '?';
    return Number.isInteger(n) ? String(n) : n.toFixed(1);
  }
  function later(name, ms, fn) {
    if (state.timers[name]) return;
    state.timers[name] = setTimeout(() => { state.timers[name] = null; fn(); }, ms);
  }

  let messageTimer = null;
  function say(message, kind) {
    const box = $('message');
    box.textContent = message;
    box.className = 'banner' + (kind ? ' ' + kind : '');
    box.hidden = false;
    clearTimeout(messageTimer);
    messageTimer = setTimeout(() => { box.hidden = true; }, kind === 'error' ? 12000 : 5000);
  }

  // ---------------------------------------------------------------- API
  class APIError extends Error {
    constructor(status, code, message, field) { super(message); this.status = status; this.code = code; this.field = field; }
  }

  async function api(path, options) {
    const opts = options || {};
    const headers = {};
    const token = storageGet(TOKEN_KEY);
    if (token) headers['Authorization'] = 'Bearer ' + token;
    let body;
    if (opts.body !== undefined) { body = JSON.stringify(opts.body); headers['Content-Type'] = 'application/json'; }
    let response;
    try {
      response = await fetch(path, { method: opts.method || 'GET', headers, body, cache: 'no-store' });
    } catch (e) {
      throw new APIError(0, 'network', 'the gateway does not answer');
    }
    const raw = await response.text();
    let json = null;
    if (raw) { try { json = JSON.parse(raw); } catch (e) { json = null; } }
    if (!response.ok) {
      const detail = (json && json.error) || {};
      throw new APIError(response.status, detail.code || 'http_' + response.status,
                         detail.message || (response.status + ' ' + response.statusText), detail.field);
    }
    return json;
  }

  // A command: on 401 the token field shows and the command is retried once a token is saved.
  async function command(label, path, body, onDone) {
    const run = async () => {
      try {
        const reply = await api(path, { method: 'POST', body });
        if (onDone) onDone(reply);
        return reply;
      } catch (e) {
        if (e.status === 401) {
          state.pending = run;
          showAuth(e.message);
        } else {
          say(label + ': ' + e.message, 'error');
        }
        return null;
      }
    };
    return run();
  }

  // ---------------------------------------------------------------- token
  function showAuth(message) {
    $('auth').hidden = false;
    text('auth-message', message || 'Commands need the gateway\'s bearer token (gateway.token).');
    $('token-input').value = storageGet(TOKEN_KEY) || '';
    $('token-input').focus();
  }
  $('auth-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = $('token-input').value.trim();
    storageSet(TOKEN_KEY, token || null);
    $('auth').hidden = true;
    const pending = state.pending;
    state.pending = null;
    if (pending) pending();
    else say(token ? 'Token saved.' : 'Token removed.', 'ok');
  });
  $('token-forget').addEventListener('click', () => {
    storageSet(TOKEN_KEY, null); $('token-input').value = ''; state.pending = null; $('auth').hidden = true; say('Token removed.', 'ok');
  });
  $('token-close').addEventListener('click', () => { state.pending = null; $('auth').hidden = true; });
  $('token-button').addEventListener('click', () => showAuth('The token is kept in this browser (localStorage) and sent as "Authorization: Bearer".'));

  function applyNight(on) { document.documentElement.classList.toggle('night', on); storageSet(NIGHT_KEY, on ? '1' : null); }
  $('night-button').addEventListener('click', () => applyNight(!document.documentElement.classList.contains('night')));
  applyNight(storageGet(NIGHT_KEY) === '1');

  // ---------------------------------------------------------------- camera
  const busyStates = ['exposing', 'reading', 'saving', 'aborting'];
  function showState(cameraState, connected, reason) {
    const badge = $('camera-state');
    let label = cameraState || 'unknown';
    if (connected === false && cameraState !== 'error') label = 'disconnected';
    badge.textContent = label;
    badge.className = 'badge ' + (label === 'idle' ? 'good' : busyStates.includes(label) ? 'busy' : label === 'error' || label === 'disconnected' ? 'bad' : 'warn');
    text('camera-state-text', label + (reason ? ' — ' + reason : ''));
    $('abort-button').disabled = !busyStates.includes(label) || label === 'aborting';
  }

  function showCamera(report) {
    state.camera = report;
    if (report.info) state.info = report.info;
    showState(report.state, report.connected, report.reason);
    text('camera-driver', report.driver || '–');
    const info = report.info;
    text('camera-sensor', info ? (info.model ? info.model + ', ' : '') + info.width + ' × ' + info.height + ' px' : '–');
    showFilter(report.filter);
    if (report.temperature) showTemperature(report.temperature, true);
    if (report.exposure) {
      state.exposure = report.exposure;
      text('camera-exposure', report.exposure.id + ' (' + report.exposure.status + ')');
    } else {
      text('camera-exposure', 'none running');
    }
  }

  function showFilter(filter) {
    const select = $('exp-filter');
    if (!filter) { text('camera-filter', 'no filter wheel'); select.disabled = true; return; }
    const moving = Number.isInteger(filter.target) ? ', moving to ' + ((filter.filters || [])[filter.target] || 'slot ' + filter.target) : '';
    text('camera-filter', filter.name + ' (slot ' + filter.slot + moving + ')');
    select.disabled = false;
    const names = (filter.filters || []).filter((name) => name);
    const current = Array.from(select.options).slice(1).map((o) => o.value);
    if (names.join('\n') !== current.join('\n')) {
      const chosen = select.value;
      while (select.options.length > 1) select.remove(1);
      for (const name of names) select.append(el('option', { value: name }, name));
      if (names.includes(chosen)) select.value = chosen;
    }
  }

  async function loadCamera() {
    try { showCamera(await api('v1/camera')); return true; } catch (e) {
      showState(e.status === 503 ? 'down' : 'unknown', false, e.message);
      return false;
    }
  }

  // ---------------------------------------------------------------- temperature
  function showTemperature(t, fromStatus) {
    if (!t) return;
    text('temp-celsius', num(t.celsius, 1) + ' °C');
    text('temp-setpoint', num(t.setpoint, 0) + ' °C');
    const power = t.cooler_power === undefined || t.cooler_power === null ? '' : ', ' + num(t.cooler_power, 0) + '%';
    const status = t.state && t.state !== 'off' && t.state !== (t.cooler_on ? 'on' : 'off') ? ' · ' + t.state.replace(/_/g, ' ') : '';
    text('temp-cooler', (t.cooler_on ? 'on' : 'off') + status + power);
    const input = $('cool-setpoint');
    if (document.activeElement !== input && input.value === '') input.value = t.setpoint;
    if (!fromStatus || state.temps.length === 0) addTemperature(t);
  }
  function addTemperature(t) {
    const now = Date.now();
    state.temps.push({ t: now, c: Number(t.celsius), s: Number(t.setpoint) });
    while (state.temps.length && state.temps[0].t < now - HOUR) state.temps.shift();
    later('chart', 200, drawChart);
    later('save-temperatures', 10000, saveTemperatures);
  }
  // The chart's hour survives a reload of the page (kept per page address).
  const TEMPERATURES_KEY = 'aperture.temperatures:' + location.pathname;
  function saveTemperatures() { storageSet(TEMPERATURES_KEY, JSON.stringify(state.temps)); }
  function restoreTemperatures() {
    try {
      const kept = JSON.parse(storageGet(TEMPERATURES_KEY) || '[]');
      const since = Date.now() - HOUR;
      if (Array.isArray(kept)) state.temps = kept.filter((p) => p && Number.isFinite(p.t) && p.t >= since && Number.isFinite(p.c));
    } catch (e) { state.temps = []; }
  }
  window.addEventListener('pagehide', saveTemperatures);

  function drawChart() {
    debug.chartPoints = state.temps.length;
    const canvas = $('temp-chart');
    const ratio = window.devicePixelRatio || 1;
    const cssWidth = canvas.clientWidth || 300;
    const cssHeight = canvas.clientHeight || 180;
    if (canvas.width !== Math.round(cssWidth * ratio) || canvas.height !== Math.round(cssHeight * ratio)) {
      canvas.width = Math.round(cssWidth * ratio);
      canvas.height = Math.round(cssHeight * ratio);
    }
    const g = canvas.getContext('2d');
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, cssWidth, cssHeight);
    const styles = getComputedStyle(document.documentElement);
    const muted = styles.getPropertyValue('--muted').trim() || '#8a96a6';
    const line = styles.getPropertyValue('--line').trim() || '#2c3542';
    const accent = styles.getPropertyValue('--accent').trim() || '#5fa8ff';
    const warn = styles.getPropertyValue('--warn').trim() || '#e0b341';
    const left = 40, right = 8, top = 8, bottom = 20;
    const w = cssWidth - left - right, h = cssHeight - top - bottom;
    const now = Date.now();
    const t0 = now - HOUR;
    const points = state.temps.filter((p) => Number.isFinite(p.c));
    let lo = Infinity, hi = -Infinity;
    for (const p of points) {
      lo = Math.min(lo, p.c, Number.isFinite(p.s) ? p.s : p.c);
      hi = Math.max(hi, p.c, Number.isFinite(p.s) ? p.s : p.c);
    }
    if (!Number.isFinite(lo)) { lo = -20; hi = 20; }
    if (hi - lo < 2) { const mid = (hi + lo) / 2; lo = mid - 1; hi = mid + 1; }
    const pad = (hi - lo) * 0.1; lo -= pad; hi += pad;
    const x = (t) => left + (t - t0) / HOUR * w;
    const y = (c) => top + (hi - c) / (hi - lo) * h;

    g.font = '11px system-ui, sans-serif';
    g.lineWidth = 1;
    g.strokeStyle = line;
    g.fillStyle = muted;
    // Horizontal grid: about five steps of 1, 2, 5 x 10^n degrees.
    const raw = (hi - lo) / 5;
    const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) || raw;
    g.textAlign = 'right'; g.textBaseline = 'middle';
    for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) {
      g.beginPath(); g.moveTo(left, Math.round(y(v)) + 0.5); g.lineTo(left + w, Math.round(y(v)) + 0.5); g.stroke();
      g.fillText(Number(v.toFixed(6)) + '°', left - 4, y(v));
    }
    // Vertical grid every 10 minutes, labelled with the UTC time.
    g.textAlign = 'center'; g.textBaseline = 'top';
    const tenMinutes = 600 * 1000;
    for (let t = Math.ceil(t0 / tenMinutes) * tenMinutes; t <= now; t += tenMinutes) {
      g.beginPath(); g.moveTo(Math.round(x(t)) + 0.5, top); g.lineTo(Math.round(x(t)) + 0.5, top + h); g.stroke();
      g.fillText(new Date(t).toISOString().slice(11, 16), x(t), top + h + 4);
    }
    function series(key, color, dashed) {
      g.strokeStyle = color; g.lineWidth = 1.5; g.setLineDash(dashed ? [5, 4] : []);
      g.beginPath();
      let started = false;
      for (const p of points) {
        if (!Number.isFinite(p[key])) continue;
        if (!started) { g.moveTo(x(p.t), y(p[key])); started = true; } else g.lineTo(x(p.t), y(p[key]));
      }
      if (started) g.stroke();
      g.setLineDash([]);
    }
    series('s', warn, true);
    series('c', accent, false);
    // The newest reading, marked and labelled: with little history the line is short.
    const last = points[points.length - 1];
    if (last) {
      g.fillStyle = accent;
      g.beginPath(); g.arc(x(last.t), y(last.c), 3, 0, 2 * Math.PI); g.fill();
      g.textAlign = 'right'; g.textBaseline = 'bottom';
      g.fillText(num(last.c, 1) + ' °C', x(last.t) - 6, y(last.c) - 3);
      if (Number.isFinite(last.s)) {
        g.fillStyle = warn;
        g.beginPath(); g.arc(x(last.t), y(last.s), 3, 0, 2 * Math.PI); g.fill();
        g.textBaseline = 'top';
        g.fillText(num(last.s, 0) + ' °C', x(last.t) - 6, y(last.s) + 3);
      }
    }
    g.textAlign = 'left'; g.textBaseline = 'top';
    g.fillStyle = accent; g.fillText('sensor', left + 6, top + 2);
    g.fillStyle = warn; g.fillText('set-point', left + 56, top + 2);
    if (points.length === 0) { g.fillStyle = muted; g.textAlign = 'center'; g.fillText('waiting for telemetry…', left + w / 2, top + h / 2); }
  }
  window.addEventListener('resize', () => { later('chart', 100, drawChart); later('rois', 100, drawROIs); });
  setInterval(() => later('chart', 0, drawChart), 30000);

  $('cooling-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const setpoint = Number($('cool-setpoint').value);
    if (!Number.isInteger(setpoint)) { say('Set-point: give whole degrees Celsius.', 'error'); return; }
    command('Cooling', 'v1/camera/cooling', { setpoint, cooler: true }, (t) => { showTemperature(t, true); say('Cooling to ' + setpoint + ' °C.', 'ok'); });
  });
  $('cooler-off').addEventListener('click', () => {
    command('Cooler', 'v1/camera/cooling', { cooler: false }, (t) => { showTemperature(t, true); say('Cooler off.', 'ok'); });
  });
